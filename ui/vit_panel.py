"""The inspector's vision-transformer panel (patches, tokens, attention's cost) and what its MAC
count counts, with torchinfo's count beside it. Pages call :func:`vit_panel` and
:func:`macs_note` with the spec being inspected."""
from __future__ import annotations

import json

import streamlit as st

from playground.figures import attention as fig_att
from playground.networks import SpecError
from playground.networks.patches import ViTFacts, vit_facts
from playground.summary import Summary, conventions, torchinfo_macs
from ui.common import fmt_int, show_error


@st.cache_data(max_entries=32, show_spinner=False)
def cached_facts(spec_json: str) -> ViTFacts | None:
    return vit_facts(json.loads(spec_json))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_torchinfo(spec_json: str, shape: tuple[int, int, int]) -> int:
    return torchinfo_macs(json.loads(spec_json), shape)


def vit_panel(spec: dict) -> None:
    """For a vision transformer: its patch embedding as what it is, its tokens, and a plot of
    one block's cost as the image grows. Nothing for other networks."""
    if "torchvision" not in spec:
        return
    f = cached_facts(json.dumps(spec, sort_keys=True))
    if f is None:
        return
    g = f.grid()
    st.subheader("A vision transformer: the image as patches")
    c1, c2 = st.columns([1, 1.2])
    with c1:
        st.markdown(
            f"- **Patch size {f.patch} x {f.patch}**: `conv_proj` is a convolution with kernel = "
            f"stride = {f.patch}, so it sees each patch once and no two overlap.\n"
            f"- **{g} x {g} = {g * g:,} patches** of {f.image} x {f.image} px, each "
            f"{f.channels} x {f.patch} x {f.patch} = {f.patch_values:,} numbers, become "
            f"**{f.tokens():,} tokens** (one per patch + the class token) of {f.dim:,} numbers.\n"
            f"- The conv is the same as: cut the image into patches (`unfold`), flatten each, "
            f"multiply by one {f.dim:,} x {f.patch_values:,} matrix (a test checks both give the "
            "same tokens):")
        st.latex(f.equation())
        st.markdown(
            f"- Then **{f.layers} encoder blocks**, each with {f.heads} attention heads: every "
            f"token looks at all {f.tokens():,} tokens, {fmt_int(f.tokens() ** 2)} pairs per head.")
    with c2:
        st.plotly_chart(fig_att.attention_cost(f.cost_curve(f.sides()), f.dim, f.image),
                        key="net_vit_cost", width="stretch", config={"displayModeBar": False})
        st.caption(f"Tokens grow with the square of the side, attention with the square of the "
                   f"tokens: at {2 * f.image} px a block's attention costs "
                   f"{f.attention_macs(2 * f.image) / f.attention_macs():.1f}x what it costs at "
                   f"{f.image} px, the rest {f.linear_macs(2 * f.image) / f.linear_macs():.1f}x.")


def macs_note(spec: dict, summary: Summary) -> None:
    """What the MACs count, and torchinfo's number for the same network on request."""
    with st.expander("What the MACs count (and why torchinfo says otherwise)", icon=":material/calculate:"):
        st.markdown(f"**This page counts** {conventions.INSPECTOR}: "
                    f"**{fmt_int(summary.total_macs)}** per image.\n\n"
                    f"**torchinfo counts** {conventions.TORCHINFO}.")
        if "code" in spec or summary.error is not None:
            st.caption("torchinfo's count is shown for networks that run (not for pasted code).")
            return
        if not st.toggle("Show torchinfo's count for this network", key="net_torchinfo"):
            return
        try:
            ti = cached_torchinfo(json.dumps(spec, sort_keys=True), tuple(summary.input_shape))
        except SpecError as e:
            show_error("torchinfo could not count this network.", e)
            return
        ratio = ti / summary.total_macs if summary.total_macs else float("nan")
        st.markdown(f"torchinfo's `Total mult-adds`: **{fmt_int(ti)}** ({ratio:.3g}x this page's).")
