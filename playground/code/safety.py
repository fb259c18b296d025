"""The safety switch: whether pasted PyTorch code may run in this server.

Running pasted code is running a program with the server's rights (files, network, processes):
fine for the person at the keyboard, not for anyone on the network who can open the page. The
decision, in order:

1. ``PLAYGROUND_ALLOW_CODE=1`` (or ``true``/``yes``/``on``): allowed; ``=0`` (``false``/``no``/
   ``off``): refused, whatever the address.
2. Streamlit's ``server.address`` is a loopback address (``127.0.0.1``, any ``127.x.x.x``,
   ``::1``, ``localhost``): allowed, only this computer can reach the app.
3. Anything else is refused, and that includes an *unset* ``server.address``: Streamlit then
   listens on every interface (0.0.0.0), so anyone who can reach this computer could run code
   on it. ``make run`` starts the app with ``--server.address 127.0.0.1``.
"""
from __future__ import annotations

import ipaddress
import os

ENV = "PLAYGROUND_ALLOW_CODE"
_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}
HOW = (f"To allow it, start the app on this computer only (`streamlit run app.py --server.address "
       f"127.0.0.1`, as `make run` does), or set {ENV}=1 if you trust everyone who can open it.")


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (a host name or IP) reaches this computer only. No DNS look-up:
    of the names, only ``localhost`` counts."""
    a = (address or "").strip().strip("[]").lower()
    if a == "localhost":
        return True
    try:
        return ipaddress.ip_address(a).is_loopback
    except ValueError:
        return False


def code_allowed(address: str | None, env: dict[str, str] | None = None) -> tuple[bool, str]:
    """(allowed, the reason in words) for a server listening on ``address`` (Streamlit's
    ``server.address``; None or "" when unset, which means every interface)."""
    flag = (os.environ if env is None else env).get(ENV, "").strip().lower()
    if flag in _YES:
        return True, f"Running pasted code is allowed: {ENV}={flag} is set."
    if flag in _NO:
        return False, f"Running pasted code is turned off: {ENV}={flag} is set."
    if is_loopback(address):
        return True, (f"Running pasted code is allowed: the app listens on {address} only, so "
                      f"only this computer can reach it.")
    where = f"on {address}" if address else "on every network interface (server.address is unset)"
    return False, (f"Running pasted code is off: the app listens {where}, so anyone who can reach "
                   f"this computer could run code on it. {HOW}")
