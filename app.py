"""CNN Playground: entry point. `streamlit run app.py` (or `make run`)."""
from __future__ import annotations

import gc
import importlib

import streamlit as st

from playground import warmup
from ui.pages import HOME, PAGES, view_path

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

# No torch here: the first render needs only Streamlit (with torch imported first, launch to
# first render took 3.2-4.0 s on a 2-core machine, bench/bench_feel.py; now as fast as a bare app). Everything heavy is warmed once per process in a background thread
# started after the first page is drawn (playground/warmup.py: imports, the FLOP counter, the
# meta-device tracer, captum, the shipped models); a visitor's rerun never waits for it.
UI_MODULES = ("ui.pickers", "ui.network_editor", "ui.code_editor", "ui.run_form", "ui.data_inspection")


def _import_page_helpers() -> None:
    for name in UI_MODULES:
        importlib.import_module(name)


def _freeze_gc() -> None:
    # Every page imports torch; freeze what the imports created so the cyclic GC never walks it
    # again (with runner.postScriptGC also off in .streamlit/config.toml: see tests/unit/test_config.py).
    gc.freeze()


def _load_shipped_models() -> None:
    from ui import pickers

    pickers.warm_shipped_models()


WARM_UP = ([s for p in PAGES for s in warmup.steps_for(p.key)]
           + [("page helpers", _import_page_helpers), ("shipped models", _load_shipped_models),
              ("freeze the GC", _freeze_gc)])

nav = st.navigation(
    [st.Page(view_path(HOME), title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(view_path(p), title=p.title, icon=p.icon, url_path=p.key) for p in PAGES])
with st.sidebar:
    st.caption("CNN Playground: see convolutional networks work.")
try:
    nav.run()
finally:
    warmup.start(WARM_UP)     # once per process; returns at once
