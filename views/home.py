"""Landing page: what each page does."""
import streamlit as st

from ui.pages import HOME, PAGES, view_path
from ui.plot import LEAN_TEMPLATE

st.title("CNN Playground")
st.markdown(HOME.purpose)

PER_ROW = 3
for start in range(0, len(PAGES), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, p in zip(cols, PAGES[start:start + PER_ROW]):
        with col.container(border=True, height="stretch"):
            st.page_link(view_path(p), label=f"**{p.title}**", icon=p.icon)
            st.write(p.card)

with st.expander("Works offline"):
    st.markdown(
        "Everything runs on this computer without internet: the default dataset is generated "
        "(coloured shapes with their masks), and the default model for *Look inside* and "
        "*Classify a photo* was trained on it by this project's own training code "
        "(`make default-model`). Online, torchvision's real datasets (MNIST, FashionMNIST, "
        "CIFAR-10) and ImageNet-pretrained models download once and are cached.")

# Streamlit loads its chart, code and widget JavaScript (plotly 4.7 MB, the syntax highlighter
# 1.5 MB, ~45 small widget files) on first use: Conv arithmetic's first visit waited 1.2-3.7 s
# for the browser to fetch and compile them (bench/bench_feel.py). Drawn here, off screen, they
# load while the visitor reads this page (first visit 0.6 s). Not in the first render (importing
# plotly on the server and compiling 6 MB in the browser tripled launch to first render): a
# one-shot fragment asks for them PRELOAD_AFTER_S later.
PRELOAD_AFTER_S = 1.0


def _preload() -> None:
    with st.container(key="pg_preload"):
        st.html("<style>.st-key-pg_preload{position:fixed;left:-10000px;top:0;width:320px;height:60px;"
                "overflow:hidden;opacity:0;pointer-events:none}</style>")   # drawn (not display:none), off screen
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}],
                         "layout": {"height": 40, "template": LEAN_TEMPLATE}},
                        key="pg_preload_chart", config={"staticPlot": True})
        st.code("import torch", language="python")
        # and the widgets' own code, ~45 small files the first page with knobs waited for
        st.number_input("n", key="pg_preload_n", disabled=True, label_visibility="collapsed")
        st.selectbox("s", ["a"], key="pg_preload_s", disabled=True, label_visibility="collapsed")
        st.radio("r", ["a"], key="pg_preload_r", disabled=True, label_visibility="collapsed")
        st.checkbox("c", key="pg_preload_c", disabled=True)
        st.metric("m", 1)
        st.button("b", key="pg_preload_b", disabled=True)
        st.markdown("<b>html</b>", unsafe_allow_html=True)


def _ask_for_preload() -> None:
    if st.session_state.get("pg_preload_due"):
        st.session_state["pg_preload"] = True
        st.rerun(scope="app")            # the next run draws it and ends this fragment's ticks
    st.session_state["pg_preload_due"] = True


if st.session_state.get("pg_preload"):
    _preload()
else:
    st.fragment(run_every=PRELOAD_AFTER_S)(_ask_for_preload)()
