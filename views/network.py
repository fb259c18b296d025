"""Network inspector: a whole network layer by layer, and why it does not fit together."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from playground import export, networks
from playground.figures import network as fig_net
from playground.networks import LAYER_TYPES, SpecError
from playground.summary import Summary, apply_fix, fc_comparison, summarize
from ui.common import page_intro, show_error

TV_MODELS = ["resnet18", "resnet50", "vgg16", "mobilenet_v2", "efficientnet_b0", "convnext_tiny"]
CUSTOM = "custom"
SOURCES = [*networks.PRESETS, *[f"tv:{m}" for m in TV_MODELS], CUSTOM]
STARTER = {"name": "My network", "input_shape": [3, 32, 32], "layers": [
    {"type": "conv2d", "out": 16, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "kernel": 2},
    {"type": "flatten"}, {"type": "linear", "out": 10}]}
INT_FIELDS = {"in", "out", "kernel", "stride", "padding", "dilation", "groups", "features"}
FIELD_HELP = {
    "in": "Input channels (conv) or input features (linear). 0 = inferred from the layer before.",
    "features": "Channels to normalize. 0 = inferred from the layer before.",
    "out": "Output channels (conv) or output features (linear).",
    "kernel": "Kernel (window) size k: a k x k window.",
    "stride": "Step of the window. For pooling, 0 = the kernel size (PyTorch's default).",
    "padding": "Zeros added on every side.",
    "p": "Probability of dropping a value while training.",
}
FIELD_LABEL = {"in": "in", "out": "out", "p": "p (drop probability)",
               "ceil_mode": "ceil mode", "slope": "negative slope"}


def source_label(key: str) -> str:
    if key == CUSTOM:
        return "Your own network (start small)"
    if key.startswith("tv:"):
        return f"torchvision {key[3:]}"
    return networks.PRESETS[key]["name"]


def source_spec(key: str) -> dict:
    if key == CUSTOM:
        return json.loads(json.dumps(STARTER))
    if key.startswith("tv:"):
        name = key[3:]
        return {"name": f"torchvision {name}", "torchvision": name, "weights": None,
                "num_classes": 1000, "freeze": False, "input_shape": [3, 224, 224]}
    return networks.preset(key)


# ----------------------------------------------------------------------------------------------
# State: the spec being inspected lives in st.session_state["net_spec"]
# ----------------------------------------------------------------------------------------------
def clear_field_widgets() -> None:
    """After a structural change the layer at a path may be another layer: field widgets get
    new keys (``net_ver`` is part of them, so the browser cannot send an old layer's value back
    for the new one), and the old keys are dropped."""
    for k in [k for k in st.session_state if str(k).startswith("net_f_")]:
        del st.session_state[k]


def set_spec(spec: dict, select: tuple[int, ...] | None = None) -> None:
    st.session_state.net_spec = spec
    c, h, w = spec["input_shape"]
    st.session_state.net_in_c, st.session_state.net_in_h, st.session_state.net_in_w = c, h, w
    if "torchvision" in spec:
        st.session_state.net_classes = int(spec.get("num_classes") or 1000)
        st.session_state.net_freeze = bool(spec.get("freeze"))
    clear_field_widgets()
    st.session_state.net_ver = st.session_state.get("net_ver", 0) + 1
    names = networks.layer_names(spec) if "layers" in spec else []
    paths = [p for _, p in names]
    if select is not None and select in paths:
        st.session_state.net_layer = ".".join(map(str, select))
    elif st.session_state.get("net_layer") not in {".".join(map(str, p)) for p in paths}:
        st.session_state.net_layer = ".".join(map(str, paths[0])) if paths else None


def on_source() -> None:
    set_spec(source_spec(st.session_state.net_source))
    st.session_state.net_msg = None


def on_input_shape() -> None:
    spec = dict(st.session_state.net_spec)
    spec["input_shape"] = [int(st.session_state.net_in_c), int(st.session_state.net_in_h),
                           int(st.session_state.net_in_w)]
    st.session_state.net_spec = spec


def on_tv_options() -> None:
    spec = dict(st.session_state.net_spec)
    spec["num_classes"] = int(st.session_state.net_classes)
    spec["freeze"] = bool(st.session_state.net_freeze)
    st.session_state.net_spec = spec


def parse_path(s: str | None) -> tuple[int, ...] | None:
    return tuple(int(v) for v in s.split(".")) if s else None


def on_field(path: tuple[int, ...], field: str, key: str) -> None:
    value = st.session_state[key]
    if field in ("in", "features") and not value:
        value = None                        # 0 = infer
    elif field == "stride" and not value and LAYER_TYPES[networks.get_layer(
            st.session_state.net_spec, path)["type"]]["fields"].get("stride", 1) is None:
        value = None                        # pooling: stride = kernel
    elif field in INT_FIELDS:
        value = int(value)
    st.session_state.net_spec = networks.set_field(st.session_state.net_spec, path, field, value)


def on_move(delta: int) -> None:
    path = parse_path(st.session_state.net_layer)
    if path is None:
        return
    spec, new = networks.move_layer(st.session_state.net_spec, path, delta)
    set_spec(spec, new)


def on_delete() -> None:
    path = parse_path(st.session_state.net_layer)
    if path is None:
        return
    spec = networks.remove_layer(st.session_state.net_spec, path)
    items = networks.layer_list(spec, path)
    sel = (*path[:-1], min(path[-1], len(items) - 1)) if items else (path[:-1] or None)
    set_spec(spec, sel)


def on_add() -> None:
    path = parse_path(st.session_state.net_layer)
    layer = networks.new_layer(st.session_state.net_add_type)
    if path is None:
        new_path: tuple[int, ...] = (len(st.session_state.net_spec["layers"]),)
    elif networks.get_layer(st.session_state.net_spec, path).get("type") in networks.BLOCK_TYPES \
            and st.session_state.get("net_add_inside"):
        new_path = (*path, len(networks.get_layer(st.session_state.net_spec, path).get("layers", [])))
    else:
        new_path = (*path[:-1], path[-1] + 1)
    set_spec(networks.insert_layer(st.session_state.net_spec, new_path, layer), new_path)


def on_fix(fix: dict) -> None:
    spec = apply_fix(st.session_state.net_spec, fix)
    path = tuple(fix.get("path") or ())
    set_spec(spec, path if path else None)
    st.session_state.net_msg = f"Applied: {fix['label']}."


def on_upload() -> None:
    f = st.session_state.get("net_upload")
    if f is None:
        return
    try:
        spec = networks.from_json(f.getvalue())
    except SpecError as e:
        st.session_state.net_load_error = (f"{f.name} is not a usable network spec.", str(e))
        return
    st.session_state.net_load_error = None
    spec.setdefault("name", f.name.rsplit(".", 1)[0])
    set_spec(spec)
    st.session_state.net_msg = f"Loaded {f.name}."


def on_json() -> None:
    text = st.session_state.get(f"net_json_{st.session_state.net_ver}", "")
    try:
        spec = networks.from_json(text)
    except SpecError as e:
        st.session_state.net_load_error = ("The JSON is not a usable network spec.", str(e))
        return
    st.session_state.net_load_error = None
    set_spec(spec)
    st.session_state.net_msg = "Applied the JSON."


@st.cache_data(max_entries=64, show_spinner=False)
def cached_summary(spec_json: str) -> Summary:
    spec = json.loads(spec_json)
    return summarize(spec, tuple(spec["input_shape"]))


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
# The editor
# ----------------------------------------------------------------------------------------------
def field_widget(col, path: tuple[int, ...], layer: dict, field: str, default) -> None:
    key = f"net_f_{st.session_state.net_ver}_{st.session_state.net_layer}_{field}"
    value = layer.get(field, default)
    label = FIELD_LABEL.get(field, field)
    kw = dict(key=key, on_change=on_field, args=(path, field, key), help=FIELD_HELP.get(field))
    if field in ("bias", "ceil_mode"):
        col.markdown("<div style='height:2.1rem'></div>", unsafe_allow_html=True)
        col.checkbox(label, value=bool(value if value is not None else default), **kw)
    elif field == "shortcut":
        opts = ["auto", "identity", "projection"]
        col.selectbox(label, opts, index=opts.index(value or "auto"), **kw)
    elif field == "activation":
        opts = ["relu", "gelu", "leakyrelu", "tanh", "sigmoid", "none"]
        col.selectbox(label, opts, index=opts.index(value or "none"), **kw)
    elif field in ("p", "slope"):
        col.number_input(label, 0.0 if field == "p" else -10.0, 1.0 if field == "p" else 10.0,
                         value=float(value if value is not None else default), step=0.05, **kw)
    elif field == "padding" and isinstance(value, str):
        col.text_input(label, value=value, disabled=True, key=key)
    else:
        v = value[0] if isinstance(value, (list, tuple)) else value
        low = 0 if field in ("padding", "in", "features", "stride") else 1
        col.number_input(label, low, None, value=int(v or 0), step=1, **kw)


def layer_editor(spec: dict) -> None:
    with st.container(border=True):
        names = networks.layer_names(spec)
        by_path = {".".join(map(str, p)): (n, p) for n, p in names}
        if not names:
            st.caption("The network has no layers yet: add one.")
        else:
            def layer_label(k: str) -> str:
                n, p = by_path[k]
                t = networks.get_layer(spec, p).get("type", "?")
                return f"{'· ' * (len(p) - 1)}{n} ({t})"

            path = parse_path(st.session_state.net_layer)
            layer = networks.get_layer(spec, path)
            fields = [(f, d) for f, d in LAYER_TYPES[layer.get("type")]["fields"].items() if f != "layers"]
            cols = st.columns([2.4] + [1] * max(len(fields), 7))
            cols[0].selectbox("Edit a layer", list(by_path), key="net_layer", format_func=layer_label,
                              help="Pick a layer, change its fields: the whole page updates at once.")
            for col, (field, default) in zip(cols[1:], fields):
                field_widget(col, path, layer, field, default)
            if not fields:
                cols[1].caption("No settings: it has no fields to change.")
        b = st.columns([1.15, 1.3, 1, 2.4, 1.2, 1.6], vertical_alignment="bottom")
        has = bool(names)
        b[0].button("Move up", key="net_up", on_click=on_move, args=(-1,), width="stretch",
                    icon=":material/arrow_upward:", disabled=not has)
        b[1].button("Move down", key="net_down", on_click=on_move, args=(1,), width="stretch",
                    icon=":material/arrow_downward:", disabled=not has)
        b[2].button("Delete", key="net_delete", on_click=on_delete, width="stretch",
                    icon=":material/delete:", disabled=not has)
        b[3].selectbox("New layer", list(LAYER_TYPES), key="net_add_type",
                       format_func=lambda k: f"{k}: {LAYER_TYPES[k]['doc']}")
        b[4].button("Add after", key="net_add", on_click=on_add, width="stretch",
                    icon=":material/add:", help="Insert the new layer after the selected one")
        sel = parse_path(st.session_state.get("net_layer"))
        if sel is not None and networks.get_layer(spec, sel).get("type") in networks.BLOCK_TYPES:
            b[5].checkbox("Add inside the selected block", key="net_add_inside")


def tv_editor() -> None:
    with st.container(border=True):
        c = st.columns([1, 1.4, 2.6], vertical_alignment="bottom")
        c[0].number_input("Classes (size of the new head)", 1, 100_000, key="net_classes",
                          on_change=on_tv_options)
        c[1].checkbox("Freeze everything but the head (transfer learning)", key="net_freeze",
                      on_change=on_tv_options)
        c[2].caption("Inspection needs no pretrained weights: shapes do not depend on them. To "
                     "change layers, export the code, or start from a preset.")


def save_load(spec: dict) -> None:
    with st.expander("Save, load, edit as JSON", icon=":material/save:"):
        c = st.columns([1, 2])
        c[0].download_button("Download spec (JSON)", networks.to_json(spec),
                             file_name=f"{export.class_name(spec.get('name', 'network'))}.json",
                             mime="application/json", key="net_download_json", width="stretch",
                             icon=":material/download:")
        c[0].file_uploader("Load a spec (JSON)", type=["json"], key="net_upload", on_change=on_upload)
        c[1].text_area("The spec as JSON (blocks and every field)", networks.to_json(spec), height=300,
                       key=f"net_json_{st.session_state.net_ver}")
        c[1].button("Apply JSON", key="net_apply_json", on_click=on_json, icon=":material/check:")
    if st.session_state.get("net_load_error"):
        msg, detail = st.session_state.net_load_error
        show_error(msg, detail=detail)


# ----------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------
page_intro("Network inspector",
           "A whole network layer by layer, drawn the way the course draws it: every output "
           "shape, parameter, MAC and receptive field, and, when the shapes do not fit, where "
           "and how to fix it.")

if "net_spec" not in st.session_state:
    st.session_state.net_source = "mnist_simple_cnn"
    set_spec(source_spec("mnist_simple_cnn"))
    st.session_state.net_msg = None
    st.session_state.net_load_error = None

spec: dict = st.session_state.net_spec
is_tv = "torchvision" in spec

top = st.columns([2.2, 0.8, 0.8, 0.8])
top[0].selectbox("Network", SOURCES, key="net_source", format_func=source_label, on_change=on_source,
                 help="A course preset, a torchvision model (no weights needed to inspect it), "
                      "or your own.")
top[1].number_input("Input channels", 1, 1024, key="net_in_c", on_change=on_input_shape)
top[2].number_input("Input height (px)", 1, networks.MAX_SIDE, key="net_in_h", on_change=on_input_shape)
top[3].number_input("Input width (px)", 1, networks.MAX_SIDE, key="net_in_w", on_change=on_input_shape)
if spec.get("description"):
    st.caption(str(spec["description"]).replace("*", "\\*"))

if is_tv:
    tv_editor()
else:
    layer_editor(spec)
save_load(spec)


spec_json = json.dumps(spec, sort_keys=True)
try:
    with st.spinner("Tracing the network on the meta device ..."):
        summary = cached_summary(spec_json)
except SpecError as e:
    summary = None
    show_error("This spec cannot be inspected.", e)

if st.session_state.get("net_msg"):
    st.success(st.session_state.net_msg, icon=":material/check_circle:")
    st.session_state.net_msg = None

# ---------------------------------------------------------------- error, totals, diagram (full width)
if summary is not None:
    err = summary.error
    if err is not None:
        with st.container(border=True):
            st.error(f"**The shapes stop fitting at `{err.layer}`.** {err.message}",
                     icon=":material/error:")
            if err.fix is not None:
                st.button(f"Apply the fix: {err.fix.label}", key="net_apply_fix", type="primary",
                          on_click=on_fix, args=(err.fix.to_dict(),), icon=":material/build:")
            if err.torch_error:
                with st.expander("What PyTorch says (the error a student would see)"):
                    st.code(err.torch_error, language=None)
    m = st.columns(3)
    m[0].metric("Parameters", f"{summary.total_params:,}",
                help="Learned numbers: weights and biases of every layer.")
    m[1].metric("MACs per image", fmt_count(summary.total_macs),
                help="Multiply-accumulates of convolutions and linear layers for one image "
                     "(torch.utils.flop_counter FLOPs / 2).")
    m[2].metric("Model size", f"{summary.size_mb:,.2f} MB",
                help="Parameters and buffers (BatchNorm statistics) as float32, 1 MB = 10^6 bytes.")
    m = st.columns(3)
    m[0].metric("Trainable / frozen", f"{summary.trainable_params:,} / {summary.frozen_params:,}",
                help="Frozen parameters are not updated by training (transfer learning).")
    m[1].metric("Layers", f"{sum(1 for r in summary.rows if not r.op):,}",
                help="Modules that ran (blocks counted by their layers).")
    m[2].metric("Activations per image", f"{summary.activation_mb:,.2f} MB",
                help="All layer outputs for one image (float32): what a training step keeps "
                     "in memory per image.")
    st.subheader("The network, as the course draws it")
    st.plotly_chart(fig_net.block_diagram(summary), key="net_diagram", width="stretch",
                    config={"displayModeBar": False})

# ---------------------------------------------------------------- the table
if summary is not None:
    st.subheader("Layer by layer")
    df = table(summary)
    bad = df["Output (HxWxC)"] == "does not fit"
    styled = df.style.apply(
        lambda row: ["background-color: #fde2e1; color: #9b1c1c; font-weight: 600"
                     if bad.iloc[row.name] else "" for _ in row], axis=1)
    st.dataframe(styled, key="net_table", hide_index=True, width="stretch",
                 height=min(38 + 35 * len(df), 560),
                 column_config={
                     "#": st.column_config.NumberColumn(width=40),
                     "Layer": st.column_config.TextColumn(width=180),
                     "Type": st.column_config.TextColumn(width=140),
                     "Settings": st.column_config.TextColumn(width=125),
                     "Output (HxWxC)": st.column_config.TextColumn(width=105),
                     "Params": st.column_config.NumberColumn(format="localized", width=90),
                     "Frozen": st.column_config.NumberColumn(format="localized", width=85),
                     "MACs": st.column_config.NumberColumn(format="localized", width=110),
                     "RF (px)": st.column_config.NumberColumn(
                         format="localized", width=65,
                         help="Receptive field: input pixels (height) one output value sees"),
                     "Jump (px)": st.column_config.NumberColumn(
                         width=75, help="Input pixels between two neighbouring outputs"),
                     "Memory (KB)": st.column_config.NumberColumn(
                         format="localized", width=95, help="This layer's output for one image, float32"),
                 })
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
if summary is not None:
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Why convolutions? Weight sharing")
        c, h, w = summary.input_shape
        dense = fc_comparison(summary.input_shape)
        st.markdown(f"One fully-connected layer from the {h}x{w}x{c} image to 1,024 units "
                    f"needs **{dense:,}** weights ({h}·{w}·{c}·1,024). This whole network "
                    f"has **{summary.total_params:,}**.")
        st.plotly_chart(fig_net.fc_comparison_figure(summary), key="net_fc", width="stretch",
                        config={"displayModeBar": False})
    with c2:
        st.subheader("Receptive field, layer by layer")
        st.markdown("How many input pixels one value sees: it grows with every conv, faster "
                    "after each stride or pooling.")
        st.plotly_chart(fig_net.receptive_field_figure(summary), key="net_rf", width="stretch",
                        config={"displayModeBar": False})

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
