"""The inspector's "Paste your code" source: a code area and Trace; the fix as a diff of the
learner's own source, applied in one click; the hand-off to the training page.

The network is a *code spec* in ``st.session_state[NETWORK_SPEC]`` (``{"code", "class_name",
"input_shape", "name"}``, see :mod:`playground.code.network`); the text area (``net_code``) may
hold edits not traced yet. Pasted code runs only where :func:`ui.common.code_allowed` says so.
"""
from __future__ import annotations

import streamlit as st

from playground import code
from playground.summary import ShapeError
from ui.common import code_allowed, show_error
from ui.keys import NETWORK_SPEC
from ui.pages import page, view_path
from ui.run_form import INSPECTOR

CODE = "code"                   # the inspector's source key
MNIST_INPUT = (1, 28, 28)       # the example's input: MNIST digits


def starter_spec() -> dict:
    return code.code_spec(code.EXAMPLE, None, MNIST_INPUT)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_trace(source: str, class_name: str | None, shape: tuple[int, int, int]) -> code.Traced:
    return code.trace_source(source, shape, class_name)


def _update(**changes) -> None:
    st.session_state[NETWORK_SPEC] = {**st.session_state[NETWORK_SPEC], **changes}


def on_trace() -> None:
    _update(code=st.session_state.get("net_code", ""), class_name=None)
    st.session_state.net_code_diff = None


def on_class() -> None:
    _update(class_name=st.session_state.net_class)


def on_code_fix(fixed: str, label: str, diff: str) -> None:
    st.session_state.net_code = fixed
    _update(code=fixed)
    st.session_state.net_msg = f"Applied: {label}. Traced again."
    st.session_state.net_code_diff = (diff, fixed)


def code_panel(spec: dict) -> code.Traced | None:
    """The code area and its trace; None (with the reason shown) when the code may not run here
    or gives no network."""
    allowed, reason = code_allowed()
    if not allowed:
        st.warning(reason, icon=":material/lock:")
        return None
    traced, problem = None, None
    try:
        with st.spinner("Loading your code and tracing it on the meta device ..."):
            traced = cached_trace(spec["code"], spec.get("class_name"), tuple(spec["input_shape"]))
    except code.CodeError as e:
        problem = e
    with st.container(border=True):
        st.html("<style>.st-key-net_code textarea {font-family: 'Source Code Pro', monospace; "
                "font-size: 0.9rem}</style>")
        st.text_area("Your PyTorch code: an nn.Module class (with `__init__` and `forward`), or an "
                     "`nn.Sequential(...)` expression, as in your notebook", key="net_code",
                     height=360, help="Imports, classes, functions and constants run; other lines "
                                      "(model = ..., a training loop, print) are skipped.")
        c = st.columns([1, 2, 3], vertical_alignment="bottom")
        c[0].button("Trace", key="net_trace", on_click=on_trace, type="primary",
                    icon=":material/play_arrow:", width="stretch",
                    help="Load the code above and trace it at the input size above.")
        if traced is not None and len(traced.choices) > 1:
            st.session_state.net_class = traced.name
            c[1].selectbox("Which network", traced.choices, key="net_class", on_change=on_class)
        c[2].caption(f"{reason} Building the network has a {code.BUILD_SECONDS:g} s time limit.")
    if problem is not None:
        show_error(f"This code does not give a network. {problem}", detail=str(problem.__cause__ or "") or None)
        return None
    for note in traced.notes:
        st.caption(note)
    if spec.get("class_name") != traced.name:
        _update(class_name=traced.name, name=traced.name)
    return traced


def code_fix(spec: dict, err: ShapeError) -> None:
    """The fix of a pasted network's shape error: a diff of the learner's code, the fixed code to
    copy, and the one-click apply."""
    fix = err.fix
    try:
        fixed = code.apply_fix(spec["code"], fix, spec.get("class_name"))
    except code.CodeError as e:
        st.info(f"{e} `{fix.attr}` should be `{fix.code}`.", icon=":material/build:")
        return
    diff = code.diff(spec["code"], fixed)
    st.markdown(f"**The fix, in your own code:** `{fix.attr}` becomes `{fix.code}`.")
    st.code(diff, language="diff")
    st.button("Apply fix and re-trace", key="net_apply_fix", type="primary", on_click=on_code_fix,
              args=(fixed, fix.label, diff), icon=":material/build:")
    with st.expander("The fixed code, to copy into your notebook", icon=":material/content_copy:"):
        st.code(fixed, language="python")


def applied_fix() -> None:
    """After "Apply fix": what changed, and the code to copy back."""
    done = st.session_state.get("net_code_diff")
    if done:
        diff, fixed = done
        with st.expander("What the fix changed in your code", expanded=True, icon=":material/difference:"):
            st.code(diff, language="diff")
            st.caption("The whole fixed code, to copy into your notebook:")
            st.code(fixed, language="python")


def train_button() -> None:
    """Hand the inspected network to the training page, chosen there."""
    if st.button("Train this network", key="net_train", icon=":material/model_training:",
                 help="Open the training page with this network chosen (your code as it is "
                      "traced here)."):
        st.session_state["train_model"] = INSPECTOR
        st.switch_page(view_path(page("train")))
