"""The network inspector's editor: which network, its input, and every layer's fields.

The spec being edited lives in ``st.session_state[NETWORK_SPEC]`` (the training page offers it
too). Field widgets are built from the layer schema (:mod:`playground.networks.schema`): a new
layer type gets its widgets with no change here. The page (views/network.py) draws the editor
with :func:`layer_editor` / :func:`tv_editor` / :func:`save_load` and inspects the spec.
"""
from __future__ import annotations

import json

import streamlit as st

from playground import code, export, networks
from playground.networks import LAYER_TYPES, Field, SpecError, zoo
from playground.summary import apply_fix
from ui.code_editor import CODE, starter_spec
from ui.common import plain, show_error
from ui.keys import NETWORK_SPEC

CUSTOM = "custom"
SOURCES = [*networks.PRESETS, *[f"tv:{m}" for m in zoo.names("inspect")], CUSTOM, CODE]
STARTER = {"name": "My network", "input_shape": [3, 32, 32], "layers": [
    {"type": "conv2d", "out": 16, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "kernel": 2},
    {"type": "flatten"}, {"type": "linear", "out": 10}]}
FLOAT_STEP = 0.05   # drop probabilities and slopes move in twentieths


def source_label(key: str) -> str:
    if key == CUSTOM:
        return "Your own network (start small)"
    if key == CODE:
        return "Paste your PyTorch code (an nn.Module class or nn.Sequential)"
    if key.startswith("tv:"):
        return f"torchvision {key[3:]} ({zoo.ZOO[key[3:]].label})"
    return networks.PRESETS[key]["name"]


def source_spec(key: str) -> dict:
    if key == CUSTOM:
        return json.loads(json.dumps(STARTER))
    if key == CODE:
        return starter_spec()
    if key.startswith("tv:"):
        name = key[3:]
        return {"name": f"torchvision {name}", "torchvision": name, "weights": None,
                "num_classes": zoo.IMAGENET_CLASSES, "freeze": False,
                "input_shape": list(zoo.IMAGENET_INPUT)}
    return networks.preset(key)


# ----------------------------------------------------------------------------------------------
# State: the spec being inspected lives in st.session_state[NETWORK_SPEC]
# ----------------------------------------------------------------------------------------------
def clear_field_widgets() -> None:
    """After a structural change the layer at a path may be another layer: field widgets get
    new keys (``net_ver`` is part of them, so the browser cannot send an old layer's value back
    for the new one), and the old keys are dropped."""
    for k in [k for k in st.session_state if str(k).startswith("net_f_")]:
        del st.session_state[k]


def set_spec(spec: dict, select: tuple[int, ...] | None = None) -> None:
    st.session_state[NETWORK_SPEC] = spec
    c, h, w = spec["input_shape"]
    st.session_state.net_in_c, st.session_state.net_in_h, st.session_state.net_in_w = c, h, w
    if "torchvision" in spec:
        st.session_state.net_classes = int(spec.get("num_classes") or zoo.IMAGENET_CLASSES)
        st.session_state.net_freeze = bool(spec.get("freeze"))
    if code.is_code_spec(spec):
        st.session_state.net_code = spec["code"]
        st.session_state.net_code_diff = None
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


def update(**changes) -> None:
    """Change top-level entries of the spec (input shape, head): the layers stay as they are."""
    st.session_state[NETWORK_SPEC] = {**st.session_state[NETWORK_SPEC], **changes}


def on_input_shape() -> None:
    update(input_shape=[int(st.session_state[k]) for k in ("net_in_c", "net_in_h", "net_in_w")])


def on_tv_options() -> None:
    update(num_classes=int(st.session_state.net_classes), freeze=bool(st.session_state.net_freeze))


def parse_path(s: str | None) -> tuple[int, ...] | None:
    return tuple(int(v) for v in s.split(".")) if s else None


def layer_fields(layer: dict) -> list[Field]:
    """The fields the editor shows for a layer (a block's own layers are edited as layers)."""
    return [f for f in networks.layer_type(layer).fields if f.kind != "layers"]


def on_field(path: tuple[int, ...], field: str, key: str) -> None:
    spec, value = st.session_state[NETWORK_SPEC], st.session_state[key]
    f = networks.layer_type(networks.get_layer(spec, path)).field(field)
    if f.zero_means_default and not value:
        value = None                        # 0 = inferred (sizes), or the kernel (pool stride)
    elif f.kind == "int":
        value = int(value)
    st.session_state[NETWORK_SPEC] = networks.set_field(spec, path, field, value)


def on_move(delta: int) -> None:
    path = parse_path(st.session_state.net_layer)
    if path is None:
        return
    spec, new = networks.move_layer(st.session_state[NETWORK_SPEC], path, delta)
    set_spec(spec, new)


def on_delete() -> None:
    path = parse_path(st.session_state.net_layer)
    if path is None:
        return
    spec = networks.remove_layer(st.session_state[NETWORK_SPEC], path)
    items = networks.layer_list(spec, path)
    sel = (*path[:-1], min(path[-1], len(items) - 1)) if items else (path[:-1] or None)
    set_spec(spec, sel)


def on_add() -> None:
    spec, path = st.session_state[NETWORK_SPEC], parse_path(st.session_state.net_layer)
    selected = networks.get_layer(spec, path) if path is not None else None
    if selected is None:
        new_path: tuple[int, ...] = (len(spec["layers"]),)
    elif networks.is_block(selected) and st.session_state.get("net_add_inside"):
        new_path = (*path, len(selected.get("layers", [])))
    else:
        new_path = (*path[:-1], path[-1] + 1)
    set_spec(networks.insert_layer(spec, new_path, networks.new_layer(st.session_state.net_add_type)),
             new_path)


def on_fix(fix: dict) -> None:
    spec = apply_fix(st.session_state[NETWORK_SPEC], fix)
    path = tuple(fix.get("path") or ())
    set_spec(spec, path if path else None)
    st.session_state.net_msg = f"Applied: {fix['label']}."


def load_json(text: str | bytes, what: str, done: str, name: str | None = None) -> None:
    """Inspect the spec in ``text`` (an upload or the JSON box), or say why it is not one."""
    try:
        spec = networks.from_json(text)
    except SpecError as e:
        st.session_state.net_load_error = (f"{plain(what)} is not a usable network spec.", str(e))
        return
    st.session_state.net_load_error = None
    if name:
        spec.setdefault("name", name)
    set_spec(spec)
    st.session_state.net_msg = done


def on_upload() -> None:
    f = st.session_state.get("net_upload")
    if f is not None:
        load_json(f.getvalue(), f.name, f"Loaded {plain(f.name)}.", f.name.rsplit(".", 1)[0])


def on_json() -> None:
    load_json(st.session_state.get(f"net_json_{st.session_state.net_ver}", ""), "The JSON",
              "Applied the JSON.")


# ----------------------------------------------------------------------------------------------
# The editor
# ----------------------------------------------------------------------------------------------
EDIT_W, NEW_W, FIELD_W = 190, 280, 72   # px: the layer picker, the new layer's type, each field


def field_widget(col, path: tuple[int, ...], layer: dict, f: Field) -> None:
    """The widget the schema's field asks for: its kind, range, choices, label and help."""
    key = f"net_f_{st.session_state.net_ver}_{st.session_state.net_layer}_{f.name}"
    value = layer.get(f.name)
    value = f.default if value is None else value
    label = f.label or f.name
    kw = dict(key=key, on_change=on_field, args=(path, f.name, key), help=f.help or None, width=FIELD_W)
    if f.kind == "bool":
        col.checkbox(label, value=bool(value), **kw)
    elif f.kind == "choice":
        index = f.choices.index(value if value in f.choices else f.default)
        col.selectbox(label, f.choices, index=index, **kw)
    elif f.kind == "float":
        col.number_input(label, float(f.low), float(f.high), value=float(value), step=FLOAT_STEP, **kw)
    elif isinstance(value, str):            # a word an int field accepts, e.g. padding "same"
        col.text_input(label, value=value, disabled=True, key=key, width=FIELD_W)
    else:
        v = value[0] if isinstance(value, (list, tuple)) else value
        low = 0 if f.zero_means_default else int(f.low)
        col.number_input(label, low, int(f.high), value=int(v or 0), step=1, **kw)


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
            fields = layer_fields(layer)
            # one horizontal container per row, not columns: a block per column was a websocket
            # message each, and chromium handles every message a knob's rerun sends (bench_feel)
            row = st.container(horizontal=True, vertical_alignment="bottom")
            row.selectbox("Edit a layer", list(by_path), key="net_layer", format_func=layer_label,
                          width=EDIT_W, help="Pick a layer, change its fields: the whole page updates at once.")
            for f in fields:
                field_widget(row, path, layer, f)
            if not fields:
                row.caption("No settings: it has no fields to change.")
        b = st.container(horizontal=True, vertical_alignment="bottom")
        has = bool(names)
        b.button("Move up", key="net_up", on_click=on_move, args=(-1,),
                 icon=":material/arrow_upward:", disabled=not has)
        b.button("Move down", key="net_down", on_click=on_move, args=(1,),
                 icon=":material/arrow_downward:", disabled=not has)
        b.button("Delete", key="net_delete", on_click=on_delete, icon=":material/delete:", disabled=not has)
        b.selectbox("New layer", list(LAYER_TYPES), key="net_add_type", width=NEW_W,
                    format_func=lambda k: f"{k}: {LAYER_TYPES[k].doc}")
        b.button("Add after", key="net_add", on_click=on_add,
                 icon=":material/add:", help="Insert the new layer after the selected one")
        sel = parse_path(st.session_state.get("net_layer"))
        if sel is not None and networks.is_block(networks.get_layer(spec, sel)):
            b.checkbox("Add inside the selected block", key="net_add_inside")


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
