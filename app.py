"""CNN Playground: entry point. `streamlit run app.py`."""
from __future__ import annotations

import gc

import streamlit as st

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

# Every page imports torch; freeze what import created so the cyclic GC never walks it again
# (with runner.postScriptGC also off in .streamlit/config.toml: see tests/unit/test_config.py).
import torch  # noqa: E402,F401

gc.freeze()

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/conv_arithmetic.py", title="Conv arithmetic", icon=":material/calculate:", url_path="conv_arithmetic"),
    st.Page("views/network.py", title="Network inspector", icon=":material/account_tree:", url_path="network"),
    st.Page("views/train.py", title="Training runs", icon=":material/model_training:", url_path="train"),
    st.Page("views/inside.py", title="Look inside", icon=":material/visibility:", url_path="inside"),
    st.Page("views/classify.py", title="Classify a photo", icon=":material/photo_camera:", url_path="classify"),
]

nav = st.navigation(PAGES)
with st.sidebar:
    st.caption("CNN Playground: see convolutional networks work.")
nav.run()
