"""Who may stop, resume or delete a run: the ownership rule of a server a class shares.

A browser carries a random owner token (the page keeps it in a cookie); a run records the
:func:`owner_id` of the token of the browser that started it (never the token itself), a run
started from the command line records none. Two modes:

- ``single``: one person uses the app; anyone may stop, resume or delete any run. The default
  when the server listens on a loopback address (only this computer can reach it).
- ``class``: the app is served to others; everyone can watch and compare every run, but only
  the browser that started a run may stop, resume or delete it. The default otherwise (an
  unset ``server.address`` listens on every interface).

``PLAYGROUND_MODE=single`` or ``=class`` overrides the address. The registry checks the rule
(:func:`check`) on every stop, resume and delete, so a page that forgot to hide a button, or
a crafted request, is still refused.
"""
from __future__ import annotations

import hashlib
import os
import secrets

from ..code.safety import is_loopback

ENV = "PLAYGROUND_MODE"
MODES = ("single", "class")
TOKEN_BYTES = 16          # a browser's token: 128 random bits, as URL-safe text


class NotYourRun(PermissionError):
    """This browser may not stop, resume or delete the run; the message says whose it is."""


def server_mode(address: str | None, env: dict[str, str] | None = None) -> str:
    """"single" or "class" for a server listening on ``address`` (Streamlit's
    ``server.address``; None or "" when unset): ``PLAYGROUND_MODE`` when it names a mode, else
    single on loopback and class otherwise."""
    flag = (os.environ if env is None else env).get(ENV, "").strip().lower()
    if flag in MODES:
        return flag
    return "single" if is_loopback(address) else "class"


def new_token() -> str:
    """A fresh random owner token for a browser."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def owner_id(token: str | None) -> str | None:
    """What a run records of its browser's token: a SHA-256 prefix, so that reading a run
    folder never reveals a token another browser could present. None for no token."""
    if not token:
        return None
    return hashlib.sha256(f"playground-owner:{token}".encode()).hexdigest()[:32]


def whose(run_owner: str | None, me: str | None) -> str:
    """Whose run it is, in words, from this browser's point of view."""
    if run_owner is None:
        return "started from the command line"
    return "started in this browser" if run_owner == me else "started in another browser"


def caption(run_owner: str | None, me: str | None) -> str:
    """What a page says instead of the Stop, Resume and Delete buttons it hides."""
    where = "stop it there" if run_owner is None else "only that browser can stop, resume or delete it"
    return f"You can watch this run: it was {whose(run_owner, me)}, {where}."


def may_control(mode: str, run_owner: str | None, me: str | None) -> bool:
    """Whether the browser ``me`` (an :func:`owner_id`, None for none) may stop, resume or
    delete a run recorded as ``run_owner`` (None: started from the command line)."""
    if mode == "single":
        return True
    return me is not None and run_owner == me


def check(mode: str, run_owner: str | None, me: str | None, action: str) -> None:
    """Raise :class:`NotYourRun` when ``me`` may not ``action`` ("stop", "resume", "delete")
    the run."""
    if not may_control(mode, run_owner, me):
        raise NotYourRun(f"This app is shared by a class, so only the browser that started a run "
                         f"can {action} it; this run was {whose(run_owner, me)}.")
