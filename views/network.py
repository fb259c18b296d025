"""Network inspector: a whole network layer by layer, and why it does not fit together."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from playground import export, networks
from playground.figures import network as fig_net
from playground.figures import network_charts as charts
from playground.networks import SpecError
from playground.summary import Summary, fc_comparison, summarize
from ui import links
from ui.code_editor import CODE, applied_fix, code_fix, code_panel, train_button
from ui.common import page_intro, plain, show_error
from ui.keys import NETWORK_SPEC
from ui.links import Param
from ui.network_editor import (SOURCES, layer_editor, on_fix, on_input_shape, on_source, save_load,
                               set_spec, source_label, source_spec, tv_editor)
from ui.vit_panel import macs_note, vit_panel

PAGE = "network"
DEFAULT_SOURCE = "mnist_simple_cnn"
IN_KEYS = ("net_in_c", "net_in_h", "net_in_w")
METRIC_W = 280                   # px: the totals line up in columns, three a row


def source_shape(i: int) -> int:
    return source_spec(st.session_state.get("net_source", DEFAULT_SOURCE))["input_shape"][i]


def spec_text(spec: dict) -> str | None:
    """The edited network in the link: left out while it is still its source's (a preset needs
    only its name) and for pasted code (never shared: it would run on the server)."""
    src = st.session_state.get("net_source", DEFAULT_SOURCE)
    if src == CODE or "code" in spec:
        return None
    drop = lambda d: {k: v for k, v in d.items() if k != "input_shape"}   # noqa: E731
    return None if drop(spec) == drop(source_spec(src)) else links.encode_spec(spec)


LINK = [Param("net", "net_source", choices=SOURCES, default=DEFAULT_SOURCE),
        Param("spec", NETWORK_SPEC, load=links.decode_spec, dump=spec_text),
        *[Param(k[4:], k, "int", lambda i=i: source_shape(i), lo=1,
                hi=networks.MAX_CHANNELS if i == 0 else networks.MAX_SIDE) for i, k in enumerate(IN_KEYS)]]

@st.cache_data(max_entries=64, show_spinner=False)
def cached_summary(spec_json: str) -> Summary:
    spec = json.loads(spec_json)
    return summarize(spec, tuple(spec["input_shape"]))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_figures(spec_json: str, _summary: Summary) -> dict:
    """The page's block diagram and two charts, inline SVG, built once per spec (its summary):
    building them was ~30 ms of each rerun (measured with AppTest), and as plotly charts chromium
    drew them again after every knob."""
    return {"diagram": fig_net.diagram_svg(_summary), "fc": charts.fc_comparison_svg(_summary),
            "rf": charts.receptive_field_svg(_summary)}


@st.cache_data(max_entries=64, show_spinner=False)
def cached_code(spec_json: str) -> str:
    return export.to_code(json.loads(spec_json))


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------
def fmt_count(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:,.2f} billion"
    if n >= 1e6:
        return f"{n / 1e6:,.2f} million"
    return f"{int(n):,}"


# The table's columns: width, help where the header needs it; text columns are left-aligned.
WIDTHS = {"#": 40, "Layer": 180, "Type": 140, "Settings": 125, "Output (HxWxC)": 105, "Params": 90,
          "Frozen": 85, "MACs": 110, "RF (px)": 65, "Jump (px)": 75, "Memory (KB)": 95}
TEXT_COLUMNS = ("Layer", "Type", "Settings", "Output (HxWxC)")
HEADER_HELP = {"RF (px)": "Receptive field: input pixels (height) one output value sees",
               "Jump (px)": "Input pixels between two neighbouring outputs",
               "Memory (KB)": "This layer's output for one image, float32"}


def column_config() -> dict:
    cc = st.column_config
    return {k: cc.TextColumn(width=w) if k in TEXT_COLUMNS else cc.NumberColumn(
        format=None if k in ("#", "Jump (px)") else "localized", width=w, help=HEADER_HELP.get(k))
        for k, w in WIDTHS.items()}


def table(summary: Summary) -> pd.DataFrame:
    recs = []
    for i, r in enumerate(summary.rows, 1):
        recs.append({
            "#": i,
            "Layer": ("    " * r.depth) + r.name,
            "Type": r.type,
            "Settings": r.detail,
            "Output (HxWxC)": fig_net.shape_text(r.output_shape) if r.output_shape is not None else "does not fit",
            "Params": r.params,
            "Frozen": r.frozen,   # dropped below when nothing is frozen
            "MACs": r.macs,
            "RF (px)": r.rf,
            "Jump (px)": r.jump,
            "Memory (KB)": round(r.memory / 1e3, 1),
        })
    df = pd.DataFrame.from_records(recs)
    if not summary.frozen_params and len(df):
        df = df.drop(columns=["Frozen"])
    return df


# ----------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------
page_intro("network")
links.bind(PAGE, LINK)

if "net_ver" not in st.session_state:     # the session's first visit: a link's network, or the default
    st.session_state.setdefault("net_source", DEFAULT_SOURCE)
    linked_shape = [st.session_state.get(k) for k in IN_KEYS]
    set_spec(st.session_state.get(NETWORK_SPEC) or source_spec(st.session_state.net_source))
    for k, v in zip(IN_KEYS, linked_shape):
        if v is not None:
            st.session_state[k] = v
    on_input_shape()
    st.session_state.net_msg = None
    st.session_state.net_load_error = None

spec: dict = st.session_state[NETWORK_SPEC]
is_tv = "torchvision" in spec
is_code = isinstance(spec.get("code"), str)     # PyTorch source pasted by the learner

top = st.columns([2.2, 0.8, 0.8, 0.8])
top[0].selectbox("Network", SOURCES, key="net_source", format_func=source_label, on_change=on_source,
                 help="A course preset, a torchvision model (no weights needed to inspect it), "
                      "or your own.")
top[1].number_input("Input channels", 1, networks.MAX_CHANNELS, key="net_in_c", on_change=on_input_shape)
top[2].number_input("Input height (px)", 1, networks.MAX_SIDE, key="net_in_h", on_change=on_input_shape)
top[3].number_input("Input width (px)", 1, networks.MAX_SIDE, key="net_in_w", on_change=on_input_shape)
if spec.get("description"):
    st.caption(plain(spec["description"]))
links.share(PAGE)

summary: Summary | None = None
if is_tv:
    tv_editor()
elif is_code:
    traced = code_panel(spec)
    summary = traced.summary if traced is not None else None
    spec = st.session_state[NETWORK_SPEC]
else:
    layer_editor(spec)
spec_json = json.dumps(spec, sort_keys=True)     # (pasted code: the traced spec, with its source)
if not is_code:
    save_load(spec)
    try:
        with st.spinner("Tracing the network on the meta device ..."):
            summary = cached_summary(spec_json)
    except SpecError as e:
        show_error("This spec cannot be inspected.", e)

if st.session_state.get("net_msg"):
    st.success(st.session_state.net_msg, icon=":material/check_circle:")
    st.session_state.net_msg = None
if is_code:
    applied_fix()

# ---------------------------------------------------------------- error, totals, diagram (full width)
if summary is not None:
    figs = cached_figures(spec_json, summary)
    err = summary.error
    if err is not None:
        with st.container(border=True):
            st.error(f"**The shapes stop fitting at `{err.layer}`.** {err.message}",
                     icon=":material/error:")
            if err.fix is not None and is_code:
                code_fix(spec, err)
            elif err.fix is not None:
                st.button(f"Apply the fix: {err.fix.label}", key="net_apply_fix", type="primary",
                          on_click=on_fix, args=(err.fix.to_dict(),), icon=":material/build:")
            if err.torch_error:
                with st.expander("What PyTorch says (the error a student would see)"):
                    st.code(err.torch_error, language=None)
    elif not is_tv:
        train_button()
    # Two rows of three, each row one horizontal container (a block and 3 columns were 4 messages;
    # chromium handles each message a rerun sends after every knob: bench_feel counts them).
    row = st.container(horizontal=True, gap="medium")
    row.metric("Parameters", f"{summary.total_params:,}", width=METRIC_W,
               help="Learned numbers: weights and biases of every layer.")
    row.metric("MACs per image", fmt_count(summary.total_macs), width=METRIC_W,
               help="Multiply-accumulates of convolutions and linear layers for one image "
                    "(torch.utils.flop_counter FLOPs / 2).")
    row.metric("Model size", f"{summary.size_mb:,.2f} MB", width=METRIC_W,
               help="Parameters and buffers (BatchNorm statistics) as float32, 1 MB = 10^6 bytes.")
    row = st.container(horizontal=True, gap="medium")
    row.metric("Trainable / frozen", f"{summary.trainable_params:,} / {summary.frozen_params:,}",
               width=METRIC_W, help="Frozen parameters are not updated by training (transfer learning).")
    row.metric("Layers", f"{sum(1 for r in summary.rows if not r.op):,}", width=METRIC_W,
               help="Modules that ran (blocks counted by their layers).")
    row.metric("Activations per image", f"{summary.activation_mb:,.2f} MB", width=METRIC_W,
               help="All layer outputs for one image (float32): what a training step keeps "
                    "in memory per image.")
    macs_note(spec, summary)
    if summary.error is None:
        vit_panel(spec)
    st.markdown(f"### The network, as the course draws it\n\n<div data-testid='net-diagram'>{figs['diagram']}</div>",
                unsafe_allow_html=True)

# ---------------------------------------------------------------- the table
if summary is not None:
    st.subheader("Layer by layer")
    df = table(summary)
    bad = df["Output (HxWxC)"] == "does not fit"
    styled = df.style.apply(     # (only where a row is red: the Styler was ~10 ms of each rerun)
        lambda row: ["background-color: #fde2e1; color: #9b1c1c; font-weight: 600"
                     if bad.iloc[row.name] else "" for _ in row], axis=1) if bad.any() else df
    st.dataframe(styled, key="net_table", hide_index=True, width="stretch",
                 height=min(38 + 35 * len(df), 560), column_config=column_config())
    st.caption(f"{len(summary.rows)} rows · totals: {summary.total_params:,} parameters "
               f"({summary.trainable_params:,} trainable, {summary.frozen_params:,} frozen) · "
               f"{summary.total_macs:,} MACs · {summary.size_mb:,.2f} MB of weights · "
               f"{summary.activation_mb:,.2f} MB of activations per image")
    with st.expander("How to read the table", icon=":material/help:"):
        st.markdown(
            "- **Output** is height x width x channels, as the course writes it; shapes come "
            "from PyTorch itself (the network runs on the `meta` device: shapes only, no "
            "arithmetic).\n"
            "- **Params**: weights and biases; a conv has `k*k*in*out + out`. **Frozen** ones "
            "are not trained (transfer learning).\n"
            "- **MACs**: multiply-accumulates for one image, from `torch.utils.flop_counter` "
            "(its FLOPs / 2); conv and linear layers only.\n"
            "- **RF**: the receptive field, how many input pixels (along the height) one "
            "output value depends on. **Jump**: input pixels between two neighbouring "
            "outputs. A conv adds `(k-1) x jump`, a stride multiplies the jump. Where paths "
            "join (a residual add), the larger field wins.\n"
            "- **Rows** follow the execution order; blocks show their layers, and the "
            "skip connection's add is its own row.")


# ---------------------------------------------------------------- weight sharing, receptive field, code
if summary is not None:      # both charts, their headings and words: one element (was 9 messages)
    c, h, w = summary.input_shape
    dense = fc_comparison(summary.input_shape)
    units = dense // (c * h * w)
    st.markdown(charts.CSS + "<div class='net-pair'><div>"
                "<h3>Why convolutions? Weight sharing</h3>"
                f"<p>One fully-connected layer from the {h}x{w}x{c} image to {units:,} units "
                f"needs <b>{dense:,}</b> weights ({h}·{w}·{c}·{units:,}). This whole "
                f"network has <b>{summary.total_params:,}</b>.</p>{figs['fc']}</div><div>"
                "<h3>Receptive field, layer by layer</h3>"
                "<p>How many input pixels one value sees: it grows with every conv, faster after each "
                f"stride or pooling.</p>{figs['rf']}</div></div>", unsafe_allow_html=True)

if summary is not None and not is_code:
    with st.expander("Export as PyTorch code", icon=":material/code:"):
        try:
            code = cached_code(spec_json)
        except SpecError as e:
            show_error("This network cannot be exported yet.", e)
        else:
            st.download_button("Download the code (.py)", code,
                               file_name=f"{export.class_name(spec.get('name', 'network')).lower()}.py",
                               mime="text/x-python", key="net_download_code")
            st.code(code, language="python")
