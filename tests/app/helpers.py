"""AppTest helpers shared by every page test.

`run_page("conv_arithmetic")` runs views/conv_arithmetic.py in Streamlit's AppTest with a
timeout long enough for torch imports, and fails on any exception element.
"""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds: the first run imports torch


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "views" / f"{name}.py"), default_timeout=TIMEOUT)


def run_page(name: str) -> AppTest:
    at = page(name).run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    """No exception element and no uncaught error on the page."""
    assert not at.exception, [e.value for e in at.exception]


def by_key(elements, key: str):
    """The widget with `key` among `elements` (e.g. ``at.number_input``)."""
    for el in elements:
        if el.key == key:
            return el
    raise KeyError(f"no element with key {key!r}; keys: {[e.key for e in elements]}")


def texts(at: AppTest) -> str:
    """All markdown/caption/metric/code text on the page, joined, for `in` assertions."""
    parts = []
    for coll in (at.markdown, at.caption, at.code, at.latex, at.title, at.header, at.subheader,
                 at.info, at.success, at.warning, at.error):
        parts += [str(e.value) for e in coll]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)
