"""This browser's owner id and the server's mode, for the Training page (the rule itself is
:mod:`playground.runs.owners`).

A browser gets a random token on its first visit, kept in a first-party cookie (set by a
two-line script; never in the URL, which people share), read back from ``st.context.cookies``
on every later session (a reload, another tab of the same browser). Runs record a hash of it.

    me = browser_owner()     # the owner id of this browser
    mode = server_mode()     # "single" or "class"
"""
from __future__ import annotations

import re

import streamlit as st

from playground.runs import owners

COOKIE = "playground_owner"
MAX_AGE_S = 400 * 24 * 3600          # the longest a browser keeps a cookie (Chrome caps at 400 days)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KEY = "owner_token"


def server_mode() -> str:
    """"single" or "class" for this server (``PLAYGROUND_MODE``, else its ``server.address``)."""
    return owners.server_mode(st.get_option("server.address"))


def browser_owner() -> str:
    """The owner id of this browser: from its cookie; on a first visit a new token, kept in
    the session at once and in the browser's cookie for the next session."""
    token = st.context.cookies.get(COOKIE)
    if isinstance(token, str) and _TOKEN.fullmatch(token):   # (AppTest has no real cookies)
        return owners.owner_id(token) or ""
    token = st.session_state.setdefault(_KEY, owners.new_token())   # url-safe: no quoting needed
    st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age={MAX_AGE_S}; "
            "SameSite=Strict';</script>", unsafe_allow_javascript=True, width="content")
    return owners.owner_id(token) or ""
