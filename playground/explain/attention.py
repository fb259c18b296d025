"""Where a vision transformer looks: its attention weights, rolled out through the layers.

torchvision's ``EncoderBlock`` calls ``self.self_attention(x, x, x, need_weights=False)``, so
the weights are never returned. :func:`attention_weights` asks for them without touching
torchvision's files: a forward pre-hook on each ``nn.MultiheadAttention`` instance turns
``need_weights`` on (per head), a forward hook keeps them, and both are removed after the one
forward. The block still drops the weights and uses the output, which is the same output.

    >>> heat = attention_rollout(model, x)       # (H, W) in [0, 1], x: normalized (1, 3, H, W)
    >>> per_head = head_maps(model, x)           # (heads, H, W): the class token's attention
    >>> heat, per_head = attention_maps(model, x)  # both from one forward

Rollout (Abnar & Zuidema 2020, "Quantifying attention flow in transformers"): per layer,
average the heads, add the identity for the residual path, renormalise every row to sum 1,
and multiply the layers' matrices from the first to the last. The class token's row of the
product, without its own entry, says how much each patch fed the class token.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arrays import check_image, unit_range


# nn.MultiheadAttention.forward's arguments after (query, key, value), in order
_MHA_ARGS = ("key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")


def _attention_modules(model: nn.Module) -> list[nn.MultiheadAttention]:
    mods = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    if not mods:
        raise ValueError("This model has no attention layer (nn.MultiheadAttention): attention "
                         "maps are for vision transformers.")
    return mods


@torch.no_grad()
def attention_weights(model: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """Every attention layer's weights for one image, in the order they ran: a list of
    (heads, tokens, tokens) tensors whose rows sum to 1 (softmax over the keys)."""
    check_image(image)
    model.eval()
    kept: list[torch.Tensor] = []

    def ask(mod, args, kwargs):                   # need_weights=True, one map per head
        named = dict(zip(_MHA_ARGS, args[3:]))    # arguments after (query, key, value) by name
        return args[:3], {**kwargs, **named, "need_weights": True, "average_attn_weights": False}

    def keep(mod, args, output):
        kept.append(output[1][0].detach().float())    # (heads, T, T) of batch item 0

    handles = []
    for m in _attention_modules(model):
        handles.append(m.register_forward_pre_hook(ask, with_kwargs=True))
        handles.append(m.register_forward_hook(keep))
    try:
        model(image)
    finally:
        for h in handles:
            h.remove()
    return kept


def rollout_matrix(weights: list[torch.Tensor]) -> torch.Tensor:
    """(tokens, tokens) attention rollout of per-layer (heads, T, T) weights: heads averaged,
    identity added (the residual path), rows renormalised, layers multiplied. Every row of
    the answer sums to 1."""
    if not weights:
        raise ValueError("No attention weights to roll out.")
    t = weights[0].shape[-1]
    eye = torch.eye(t, dtype=torch.float64)
    out = eye
    for w in weights:
        a = w.double().mean(0) + eye                          # (T, T)
        a = a / a.sum(-1, keepdim=True)
        out = a @ out
    return out.float()


def token_grid(cls_row: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., patches) one value per patch token -> (..., H, W): token k at grid row k // g,
    column k % g (conv_proj's output flattened, as unfold orders the patches), upsampled
    bilinearly."""
    n = cls_row.shape[-1]
    g = int(round(n ** 0.5))
    if g * g != n:
        raise ValueError(f"{n} patch tokens do not form a square grid.")
    grid = cls_row.reshape(-1, 1, g, g)
    up = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
    return up.reshape(*cls_row.shape[:-1], *size)


def attention_rollout(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The rollout's class-token row over the patches, as an (H, W) map in [0, 1] at the
    image's size (the class token's own entry left out)."""
    return attention_maps(model, image)[0]


def head_maps(model: nn.Module, image: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """(heads, H, W): how much the class token attends to each patch, per head of attention
    layer ``layer`` (default the last), each map scaled to [0, 1]."""
    return attention_maps(model, image, layer)[1]


def attention_maps(model: nn.Module, image: torch.Tensor, layer: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """(:func:`attention_rollout`, :func:`head_maps`) from one forward (vit_b_16 on 2 CPU
    threads: 1.5 s for both, against 3.7 s one after the other)."""
    weights = attention_weights(model, image)
    size = tuple(image.shape[-2:])
    roll = unit_range(token_grid(rollout_matrix(weights)[0, 1:], size))
    heads = token_grid(weights[layer][:, 0, 1:], size)                 # (heads, H, W)
    return roll, torch.stack([unit_range(m) for m in heads])


def vit_grad_cam(model: nn.Module, image: torch.Tensor, target: int | None = None,
                 layer: nn.Module | str | None = None) -> torch.Tensor:
    """Grad-CAM for a ViT, pytorch-grad-cam's convention: the tokens a layer outputs (1, T, D),
    class token dropped, reshaped to the patch grid (D, g, g) as a CNN's channels; weights =
    the class score's gradient averaged over the grid, map = ReLU(weighted sum), upsampled to
    (H, W) and scaled to [0, 1]. Default layer: the last block's first LayerNorm
    (``encoder.layers[-1].ln_1``), the tokens the last attention reads."""
    check_image(image)
    model.eval()
    if layer is None:
        layer = model.encoder.layers[-1].ln_1
    mod = model.get_submodule(layer) if isinstance(layer, str) else layer
    kept: list[torch.Tensor] = []
    handle = mod.register_forward_hook(lambda m, i, o: kept.append(o))
    try:
        with torch.enable_grad():
            logits = model(image.detach().requires_grad_(True))
            if target is None:
                target = int(logits[0].argmax())
            grads = torch.autograd.grad(logits[0, int(target)], kept[-1])[0]
    finally:
        handle.remove()
    act, grads = kept[-1][0, 1:].detach(), grads[0, 1:]          # (patches, D), class token dropped
    cam = torch.relu((act * grads.mean(0)).sum(-1))               # weights: gradient averaged over the grid
    return unit_range(token_grid(cam, tuple(image.shape[-2:])))
