"""Small view helpers every page uses."""
from __future__ import annotations

import traceback

import streamlit as st

from playground import code as pasted_code
from ui.pages import page


def code_allowed() -> tuple[bool, str]:
    """Whether pasted PyTorch code may run in this server, and why (the library decides from
    Streamlit's ``server.address`` and PLAYGROUND_ALLOW_CODE: see playground/code/safety.py)."""
    return pasted_code.code_allowed(st.get_option("server.address"))


def show_error(message: str, exc: BaseException | None = None, *, detail: str | None = None) -> None:
    """A student-readable error, with the technical detail folded away in an expander."""
    st.error(message, icon=":material/error:")
    if exc is not None or detail:
        with st.expander("Details"):
            if detail:
                st.code(detail, language=None)
            if exc is not None:
                st.code("".join(traceback.format_exception_only(type(exc), exc)).strip(), language=None)


def fmt_int(n: int | float) -> str:
    """1234567 -> '1,234,567'."""
    return f"{int(n):,}"


def page_intro(key: str) -> None:
    """The page's title and the one sentence that says what it is for (from ui.pages)."""
    p = page(key)
    st.title(p.title)
    st.markdown(f"<div style='font-size:1.15rem;margin-top:-0.5rem'>{p.purpose}</div>",
                unsafe_allow_html=True)
