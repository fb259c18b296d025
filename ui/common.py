"""Small view helpers every page uses."""
from __future__ import annotations

import os
import re
import sys
import sysconfig
import tempfile
import traceback
from pathlib import Path

import streamlit as st

from playground import code as pasted_code
from playground import paths
from ui.pages import page


def code_allowed() -> tuple[bool, str]:
    """Whether pasted PyTorch code may run in this server, and why (the library decides from
    Streamlit's ``server.address`` and PLAYGROUND_ALLOW_CODE: see playground/code/safety.py)."""
    return pasted_code.code_allowed(st.get_option("server.address"))


def _server_folders() -> list[tuple[str, str]]:
    """(folder, what to write instead), longest first: the places on this server whose names
    a visitor has no business seeing."""
    named = [(paths.runs_dir(), "<runs>"), (paths.data_dir(), "<data>"), (paths.workspace(), "<app>"),
             (paths.PACKAGE, "<app>/playground"), (Path(tempfile.gettempdir()), "<tmp>"),
             (Path(sys.prefix), "<python>"), (Path(sys.base_prefix), "<python>"),
             (Path.home(), "~")]
    for key in ("purelib", "platlib", "stdlib"):
        if sysconfig.get_paths().get(key):
            named.append((Path(sysconfig.get_paths()[key]), "<python>"))
    out = {}
    for folder, label in named:
        for form in {str(folder), os.path.realpath(folder)}:
            if len(form) > 1:          # never "/"
                out.setdefault(form, label)
    return sorted(out.items(), key=lambda kv: len(kv[0]), reverse=True)


# Whatever the folders above miss: anything under site-packages, and anyone's home folder.
_SITE_PACKAGES = re.compile(r"[^\s'\"()\[\]]*[/\\](?:site|dist)-packages(?=[/\\])")
_HOME = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\Users\\)[^/\\\s'\"]+|/root(?=[/\\\s'\"]|$)")


def scrub_paths(text: str) -> str:
    """``text`` with this server's folders (the app, its runs and data, Python's own, temporary
    files, home folders) replaced by short labels such as ``<app>`` and ``~``."""
    for folder, label in _server_folders():     # a whole folder name only: /root, not /rootless
        text = re.sub(re.escape(folder) + r"(?![\w.-])", lambda _m, label=label: label, text)
    text = _SITE_PACKAGES.sub("<python>", text)
    return _HOME.sub("~", text)


def show_error(message: str, exc: BaseException | None = None, *, detail: str | None = None) -> None:
    """A student-readable error, with the technical detail folded away in an expander. The
    detail never shows where things are on the server (see ``scrub_paths``)."""
    st.error(scrub_paths(message), icon=":material/error:")
    if exc is not None or detail:
        with st.expander("Details"):
            if detail:
                st.code(scrub_paths(detail), language=None)
            if exc is not None:
                text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                st.code(scrub_paths(text), language=None)


def fmt_int(n: int | float) -> str:
    """1234567 -> '1,234,567'."""
    return f"{int(n):,}"


# Every ASCII character Markdown, Streamlit's directives (:red[..], :material/..:, $..$) or HTML
# give a meaning to: a backslash makes each one itself (CommonMark escapes any ASCII punctuation).
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=^])")


def plain(text: object) -> str:
    """A visitor's string (a run, class, file or network name) as plain text for st.markdown,
    captions, headings and labels: Markdown and HTML escaped, line breaks folded into spaces,
    so a name like ``![x](http://host/pixel.png)`` shows as typed and fetches nothing."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def page_intro(key: str) -> None:
    """The page's title and the one sentence that says what it is for (from ui.pages)."""
    p = page(key)
    st.title(p.title)
    st.markdown(f"<div style='font-size:1.15rem;margin-top:-0.5rem'>{p.purpose}</div>",
                unsafe_allow_html=True)
