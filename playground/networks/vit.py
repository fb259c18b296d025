"""A tiny vision transformer to train on a CPU: torchvision's own ``VisionTransformer`` class with
small knobs, so Look inside's rollout, per-head attention and ViT Grad-CAM (which hook
torchvision's encoder blocks) work on it unchanged.

A ViT is described by a spec like any network here, every knob recorded so a checkpoint rebuilds
it (:func:`playground.networks.build` and the checkpoint checks read it)::

    {"name": "Tiny ViT", "vit": {"patch_size": 4, "depth": 4, "heads": 4, "hidden_dim": 64,
     "mlp_dim": 128}, "num_classes": 8, "input_shape": [3, 32, 32]}

A run's model settings name it ``{"vit": {...}}`` (knobs left out take :data:`VIT_DEFAULTS`);
the CLI's ``--model vit-tiny --vit depth=6``.
"""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from .schema import SpecError

VIT_MODEL = "vit-tiny"        # the CLI's --model name
VIT_LABEL = "Tiny ViT"
# 4 x 4 patches of 8 px at 32 px (16 tokens + the class token), 2 blocks of 4 heads on 64-number
# tokens: ~0.08 M parameters (the shapes CNN: 0.11 M). Measured on the 8,000 default shapes, one
# CPU thread, AdamW at 1e-3 with warm-up and cosine decay, batches of 32, pad-4 crops and flips:
#   patch 8, depth 2:  8 ms a step, 10,000 steps (81 s): val 34.5 % (train 41 %)
#   patch 8, depth 4: 13 ms a step,  3,000 steps (40 s): val 22.9 %
#   patch 4, depth 2: 24 ms a step,  3,000 steps (72 s): val 23.1 %
#   patch 4, depth 4 (last round's defaults): 53-76 ms a step, 2,000 steps: val 20.7-20.9 %
# so the smallest, fastest ViT learns the most per second on a CPU. Without augmentation it
# memorises instead (patch 8, depth 2, 10,000 steps: train 85 %, val 26 %; depth 3, width 96:
# train 99.7 %, val 27 %): the course's point that a ViT, with no convolution's sense of place,
# needs more data (or augmentation) than a CNN.
VIT_DEFAULTS: dict[str, int] = {"patch_size": 8, "depth": 2, "heads": 4, "hidden_dim": 64, "mlp_dim": 128}
# A ViT's learning rate: RunConfig's 3e-3 (the CNN's) keeps it at chance (12-16 % after 500-2,000
# steps, loss stuck at ln 8), 1e-3 and 3e-4 learn (2,000 steps, patch 8: train 58 % and 73 %), 1e-3
# the faster on 8,000 images. AdamW's usual ViT rates are 1e-3 and below, with warm-up.
VIT_LR = 1e-3
VIT_HELP: dict[str, str] = {
    "patch_size": "patch side in pixels (the image side must be a multiple of it)",
    "depth": "encoder blocks",
    "heads": "attention heads per block (hidden_dim must be a multiple of it)",
    "hidden_dim": "numbers per token",
    "mlp_dim": "hidden width of each block's MLP",
}
VIT_RANGES: dict[str, tuple[int, int]] = {"patch_size": (1, 64), "depth": (1, 24), "heads": (1, 32),
                                          "hidden_dim": (4, 1024), "mlp_dim": (4, 4096)}


def vit_knobs(given: dict[str, Any] | None = None) -> dict[str, int]:
    """Every knob, :data:`VIT_DEFAULTS` filled in; unknown keys and values out of range refused in
    words (SpecError)."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(VIT_DEFAULTS))
    if unknown:
        raise SpecError(f"A tiny ViT has no setting {unknown[0]!r}; its settings are "
                        f"{', '.join(VIT_DEFAULTS)}.")
    knobs = {**VIT_DEFAULTS, **given}
    for k, v in knobs.items():
        lo, hi = VIT_RANGES[k]
        if not (isinstance(v, int) and not isinstance(v, bool)) or not lo <= v <= hi:
            raise SpecError(f"The ViT's {k} ({VIT_HELP[k]}) must be a whole number from {lo} to "
                            f"{hi}, got {v!r}.")
    if knobs["hidden_dim"] % knobs["heads"]:
        raise SpecError(f"The ViT's hidden_dim {knobs['hidden_dim']} does not split into "
                        f"{knobs['heads']} heads: it must be a multiple of the number of heads.")
    return knobs


def parse_pairs(pairs: list[str] | None) -> dict[str, int]:
    """``["depth=6", "heads=2"]`` (the CLI's ``--vit``) -> checked knobs."""
    given: dict[str, Any] = {}
    for p in pairs or []:
        key, eq, value = p.partition("=")
        if not eq or not value.strip().lstrip("-").isdigit():
            raise SpecError(f"--vit {p!r}: write KEY=NUMBER, e.g. depth=6 "
                            f"(keys: {', '.join(VIT_DEFAULTS)}).")
        given[key.strip()] = int(value)
    return vit_knobs(given)


def check_input(knobs: dict[str, int], input_shape: tuple[int, ...] | list[int]) -> None:
    """Refuse an input the ViT cannot cut into patches (SpecError, in words)."""
    c, h, w = (int(v) for v in input_shape)
    if h != w:
        raise SpecError(f"A ViT takes square images (torchvision's VisionTransformer), but this "
                        f"data is {h} x {w} px: give the images one size, e.g. {min(h, w)}.")
    p = knobs["patch_size"]
    if h % p:
        ok = [d for d in range(2, min(h, 16) + 1) if h % d == 0]
        raise SpecError(f"A {h} px image does not cut into whole {p} px patches: the patch size "
                        f"must divide the image side ({', '.join(map(str, ok)) or '1'} would).")


def vit_spec(given: dict[str, Any] | None, input_shape: tuple[int, ...] | list[int],
             num_classes: int) -> dict[str, Any]:
    """The spec of a tiny ViT for this data (every knob written out), checked."""
    knobs = vit_knobs(given)
    check_input(knobs, input_shape)
    return {"name": VIT_LABEL, "vit": knobs, "num_classes": int(num_classes),
            "input_shape": [int(v) for v in input_shape]}


def check_spec(spec: dict[str, Any]) -> None:
    """The checks an untrusted ViT spec (a checkpoint's) passes before it is built."""
    if not isinstance(spec.get("vit"), dict):
        raise SpecError("\"vit\" must be an object of the ViT's settings "
                        f"({', '.join(VIT_DEFAULTS)}).")
    nc = spec.get("num_classes")
    if not (isinstance(nc, int) and not isinstance(nc, bool)) or not 1 <= nc <= 100_000:
        raise SpecError(f"\"num_classes\" must be a whole number from 1 to 100,000, got {nc!r}.")
    check_input(vit_knobs(spec["vit"]), spec["input_shape"])


def build_vit(spec: dict[str, Any]) -> nn.Module:
    """The ``VisionTransformer`` a ViT spec describes; ``.spec`` keeps the spec. Other channel
    counts than 3 get a patch embedding of their own (torchvision's is fixed at RGB)."""
    from torchvision.models import VisionTransformer

    check_spec(spec)
    k = vit_knobs(spec["vit"])
    c, side, _ = spec["input_shape"]
    model = VisionTransformer(image_size=side, patch_size=k["patch_size"], num_layers=k["depth"],
                              num_heads=k["heads"], hidden_dim=k["hidden_dim"], mlp_dim=k["mlp_dim"],
                              num_classes=spec["num_classes"])
    if c != 3:
        conv = nn.Conv2d(c, k["hidden_dim"], kernel_size=k["patch_size"], stride=k["patch_size"])
        nn.init.trunc_normal_(conv.weight, std=(1 / (c * k["patch_size"] ** 2)) ** 0.5)  # torchvision's init
        nn.init.zeros_(conv.bias)
        model.conv_proj = conv
    model.spec = copy.deepcopy(spec)  # type: ignore[assignment]
    return model


def build_for_data(given: dict[str, Any] | None, input_shape: tuple[int, int, int],
                   num_classes: int) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, input shape): a run's ``{"vit": {...}}`` model settings fitted to its data."""
    spec = vit_spec(given, input_shape, num_classes)
    return build_vit(spec), spec, tuple(spec["input_shape"])  # type: ignore[return-value]


def adapt_vit(spec: dict[str, Any], input_shape: Any, classes: int) -> dict[str, Any]:
    """A ViT spec for another input and class count (:func:`playground.networks.adapt`)."""
    return vit_spec(spec.get("vit"), input_shape, classes)


__all__ = ["VIT_DEFAULTS", "VIT_HELP", "VIT_LABEL", "VIT_LR", "VIT_MODEL", "VIT_RANGES", "adapt_vit",
           "build_for_data", "build_vit", "check_input", "check_spec", "parse_pairs", "vit_knobs",
           "vit_spec"]
