"""The new-run form's "Tiny ViT" network: its knobs (playground.networks.vit), each offered only
at values that fit the data (patch sizes that divide the image side, head counts that divide the
token length), starting from VIT_DEFAULTS."""
from __future__ import annotations

import streamlit as st

from playground.networks.vit import VIT_DEFAULTS, VIT_HELP, VIT_LABEL, VIT_LR

CHOICE = VIT_LABEL                    # the network picker's entry
DIMS = [16, 32, 48, 64, 96, 128, 192, 256]
HEADS = [1, 2, 3, 4, 6, 8]


def _pick(label: str, options: list[int], default: int, key: str, help_: str) -> int:
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=index, key=key, help=help_)


def vit_widgets(shape: tuple[int, int, int]) -> dict:
    """The model settings ``{"vit": {...}}`` for images of ``shape`` (C, H, W)."""
    d = VIT_DEFAULTS
    side = shape[1]
    patches = [p for p in (2, 4, 7, 8, 14, 16, 28, 32) if side % p == 0 and p < side] or [side]
    c1, c2 = st.columns(2)
    with c1:
        patch = _pick("Patch size (px)", patches, d["patch_size"], "train_vit_patch", VIT_HELP["patch_size"])
        dim = _pick("Token length (hidden dim)", DIMS, d["hidden_dim"], "train_vit_dim", VIT_HELP["hidden_dim"])
    with c2:
        depth = st.slider("Blocks (depth)", 1, 12, d["depth"], key="train_vit_depth", help=VIT_HELP["depth"])
        heads = _pick("Heads", [h for h in HEADS if dim % h == 0], d["heads"], "train_vit_heads", VIT_HELP["heads"])
    g = side // patch
    st.caption(f"torchvision's VisionTransformer: {g} x {g} patches of {patch} px = {g * g + 1} tokens "
               f"with the class token; MLP {2 * dim} wide. Look inside shows where it looks "
               "(attention rollout, per-head maps).")
    st.caption(f"Picking it set the learning rate to {VIT_LR:g}, its own (the optimiser column): at "
               "the CNN's 3e-3 this transformer stays at chance. The CLI's `--model vit-tiny` does the same.")
    return {"vit": {"patch_size": patch, "depth": depth, "heads": heads, "hidden_dim": dim,
                    "mlp_dim": 2 * dim}}
