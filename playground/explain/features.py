"""Feature maps and filters: what every layer makes of one photo, and what the first layer
learned to look for. Maps and weights come in as tensors or numpy arrays and go out in kind."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .arrays import as_tensor, check_image, like
from .layers import spatial_layers


def feature_maps(model: nn.Module, image: torch.Tensor,
                 layers: list[str] | None = None) -> OrderedDict[str, torch.Tensor]:
    """The output (C, H, W) of every conv and pooling layer (or of the named ``layers``) for one
    normalized (1, C, H, W) image, in running order, from forward hooks on one pass."""
    check_image(image)
    model.eval()
    if layers is None:
        layers = [i.name for i in spatial_layers(model, tuple(image.shape[1:]), kinds=("conv", "pool"))]
    out: dict[str, torch.Tensor] = {}
    hooks = []
    for name in layers:
        def hook(_m, _i, o, name=name):
            out[name] = o.detach()[0].clone()
        hooks.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(image)
    finally:
        for h in hooks:
            h.remove()
    return OrderedDict((n, out[n]) for n in layers if n in out)


def channel_order(maps, by: str = "strength") -> list[int]:
    """Channel indices of a (C, H, W) map: ``strength`` (mean activation, strongest first),
    ``peak`` (largest single value first) or ``index``."""
    if by == "index":
        return list(range(maps.shape[0]))
    flat = as_tensor(maps).flatten(1)
    score = flat.mean(1) if by == "strength" else flat.amax(1)
    return [int(i) for i in torch.argsort(score, descending=True)]


def scale_maps(maps):
    """Each channel of a (C, H, W) stack min-max scaled to [0, 1] independently (flat -> 0)."""
    flat = as_tensor(maps).flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = (hi - lo).clamp(min=1e-12)
    return like(((flat - lo) / span * (hi > lo)).view(tuple(maps.shape)), maps)


def conv_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Every ``Conv2d``'s weight (out, in, kh, kw), by module name in definition order: read-only
    numpy views of the model's own weights (no copy)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.detach().cpu().numpy()
            w.flags.writeable = False
            out[name] = w
    return out


def filter_tiles(weight):
    """First-layer filters (out, C, k, k) as displayable tiles in [0, 1], (out, k, k, 3) for
    colour filters (each filter scaled symmetrically around 0 -> grey 0.5) or (out, k, k)."""
    w = as_tensor(weight)
    top = w.flatten(1).abs().amax(1).clamp(min=1e-12).view(-1, 1, 1, 1)
    t = (w / top) * 0.5 + 0.5
    return like(t.permute(0, 2, 3, 1) if w.shape[1] == 3 else t.mean(1), weight)
