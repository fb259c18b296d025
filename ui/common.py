"""Small view helpers every page uses."""
from __future__ import annotations

import traceback

import streamlit as st


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


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"  # pragma: no cover


def page_intro(title: str, purpose: str) -> None:
    """Title and the one sentence that says what the page is for."""
    st.title(title)
    st.markdown(f"<div style='font-size:1.15rem;margin-top:-0.5rem'>{purpose}</div>",
                unsafe_allow_html=True)
