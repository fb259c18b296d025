"""Look inside's attention tab: where a vision transformer looks (attention rollout over the
photo, and the class token's attention per head). Other models get a sentence saying where
to find a ViT."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground import explain, images, models
from playground.networks.patches import vit_facts
from ui.pickers import model_lock

HEAD_COLUMNS = 6


@st.cache_data(max_entries=32, show_spinner=False)
def cached_maps(mid: str, digest: str, _lm: models.LoadedModel, _x) -> tuple[np.ndarray, ...]:
    """(rollout (H, W), Grad-CAM of the top class (H, W), per-head maps of the last layer
    (heads, H, W)), all in [0, 1]."""
    with model_lock(_lm):
        roll, heads = explain.attention_maps(_lm.model, _x)
        return roll.numpy(), explain.vit_grad_cam(_lm.model, _x).numpy(), heads.numpy()


def on_shape(heat: np.ndarray, mask: np.ndarray | None) -> None:
    if mask is not None and mask.shape == heat.shape:
        st.caption(explain.mask_share(heat, mask).text().capitalize())


def attention_section(lm: models.LoadedModel, x, mid: str, digest: str, shown: np.ndarray,
                      mask: np.ndarray | None = None) -> None:
    """The tab: rollout, Grad-CAM and per-head maps over the photo; with an exact object mask
    (a generated shape), each big map's share on the shape."""
    facts = vit_facts(lm.model)
    if facts is None:
        st.info("Attention maps are for vision transformers. Pick **ViT-B/16** in the model list "
                "(its ImageNet weights, 330 MB, download once into torch's cache) to see where "
                "a transformer looks.", icon=":material/visibility:")
        return
    with st.spinner("Reading every attention layer's weights ..."):
        roll, cam, heads = cached_maps(mid, digest, lm, x)
    photo = images.upscale(shown)
    alpha = st.slider("Heat-map opacity", 0.0, 1.0, 0.5, 0.05, key="att_alpha")
    g = facts.grid(x.shape[-1])
    st.markdown(f"The photo is cut into **{g} x {g} patches of {facts.patch} px**: "
                f"{facts.tokens(x.shape[-1]):,} tokens with the class token, whose final value "
                f"decides the class. {facts.layers} layers of {facts.heads} heads each.")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**The photo**")
        st.image(photo, width="stretch")
    with c2:
        st.markdown("**Attention rollout** (all layers)")
        st.image(images.overlay(photo, roll, alpha), width="stretch",
                 caption="How much each patch fed the class token, through every layer")
        on_shape(roll, mask)
    with c3:
        st.markdown("**Grad-CAM**, tokens as a grid")
        st.image(images.overlay(photo, cam, alpha), width="stretch",
                 caption="The top class's gradient at the last block's input, per patch")
        on_shape(cam, mask)
    st.markdown(f"**The last layer's {facts.heads} heads**: where the class token looks, per head.")
    for start in range(0, len(heads), HEAD_COLUMNS):
        cols = st.columns(HEAD_COLUMNS)
        for col, h in zip(cols, range(start, min(start + HEAD_COLUMNS, len(heads)))):
            col.image(images.overlay(photo, heads[h], alpha), width="stretch", caption=f"head {h}")
    with st.expander("How rollout is computed"):
        st.markdown(
            "Each layer's attention says, for every token, how much it takes from every other "
            "token. Rollout (Abnar & Zuidema, 2020) averages a layer's heads, adds the identity "
            "for the residual path (each token also keeps itself), makes every row sum to 1 "
            "again, and multiplies the layers' matrices from first to last. The class token's "
            "row of the product, over the patches, is the map above. torchvision never returns "
            "its attention weights; the page asks each attention layer for them with a hook, "
            "without changing torchvision.\n\n"
            "**Grad-CAM** on a ViT (pytorch-grad-cam's convention): the tokens entering the "
            "last block, class token dropped, are laid back on the patch grid as if they were a "
            "CNN's channels; each channel is weighted by the class score's gradient averaged "
            "over the grid, and the positive part of the sum is the map.")
