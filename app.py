"""CNN Playground: entry point. `streamlit run app.py` (or `make run`)."""
from __future__ import annotations

import gc

import streamlit as st

from ui.pages import HOME, PAGES, view_path

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

# Every page imports torch; freeze what import created so the cyclic GC never walks it again
# (with runner.postScriptGC also off in .streamlit/config.toml: see tests/unit/test_config.py).
import torch  # noqa: E402,F401

gc.freeze()

nav = st.navigation(
    [st.Page(view_path(HOME), title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(view_path(p), title=p.title, icon=p.icon, url_path=p.key) for p in PAGES])
with st.sidebar:
    st.caption("CNN Playground: see convolutional networks work.")
nav.run()
