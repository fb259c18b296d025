"""What a trained network does with one photo: filters, feature maps, attributions.

Shapes come from PyTorch itself: :func:`spatial_layers` runs a copy of the model on the
``meta`` device with forward hooks (no memory, no arithmetic) and records what every module
outputs, in the order they run. Attributions are captum's: :func:`grad_cam` is
``LayerGradCam`` + ``LayerAttribution.interpolate``; :func:`attribute` adds Guided Grad-CAM,
saliency, Integrated Gradients and occlusion, every one returned as an ``(H, W)`` map in
[0, 1] at the input's size so they can be laid over the photo and compared side by side.

    >>> cam = grad_cam(model, x)             # x: normalized (1, C, H, W)
    >>> cam.shape == x.shape[-2:]
"""
from __future__ import annotations

import copy
import math
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.ELU, nn.Tanh,
               nn.Sigmoid, nn.Mish)
NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
CAM_KINDS = ("conv", "pool", "block", "act", "norm")
METHODS = {
    "Grad-CAM": "Gradient-weighted class activation map of a conv layer: which regions of that "
                "layer's feature maps raise the class score. Coarse (the layer's resolution), "
                "class-specific.",
    "Guided Grad-CAM": "Grad-CAM multiplied by guided backpropagation: the Grad-CAM regions, "
                       "with the fine pixel detail that drives the class score inside them.",
    "Saliency": "The absolute gradient of the class score with respect to each input pixel: "
                "which pixels change the score most if nudged. Sharp but noisy.",
    "Integrated Gradients": "Gradients averaged along a straight path from a blank (mean-colour) "
                            "image to the photo, times the difference: each pixel's share of "
                            "the score. Slower (many forward and backward passes).",
    "Occlusion": "Slides a grey patch over the photo and records how much the class score drops "
                 "at each place. Model-agnostic and easy to trust; slow (one forward per patch).",
}


@dataclass(frozen=True)
class LayerInfo:
    """One module's output, seen on the meta device."""

    name: str                 # dotted module path ('' is never listed)
    kind: str                 # 'conv', 'pool', 'block', 'act', 'norm' or the class name
    type: str                 # class name
    shape: tuple[int, ...]    # output shape without the batch dimension
    order: int                # position in the order modules finished running

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3 and self.shape[1] * self.shape[2] > 1

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type}, {' x '.join(str(s) for s in self.shape)})"


def _kind(mod: nn.Module) -> str:
    if isinstance(mod, nn.Conv2d):
        return "conv"
    if isinstance(mod, POOLS):
        return "pool"
    if isinstance(mod, ACTIVATIONS):
        return "act"
    if isinstance(mod, NORMS):
        return "norm"
    if any(isinstance(m, nn.Conv2d) for m in mod.modules()):
        return "block"
    return type(mod).__name__


def _input_shape(model: nn.Module, x: torch.Tensor | None) -> tuple[int, ...]:
    if x is not None:
        return tuple(x.shape[1:])
    spec = getattr(model, "spec", None) or {}
    return tuple(int(s) for s in spec.get("input_shape", (3, 224, 224)))


_TRACES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """Every submodule's output shape, in the order modules finish, from one pass of a copy of
    ``model`` on the meta device (a module run twice keeps its last output). Remembered per
    model and input shape (and forgotten with the model)."""
    names = tuple(n for n, _ in model.named_modules())
    key = (tuple(int(s) for s in input_shape), hash(names))
    per_model = _TRACES.setdefault(model, {})
    if key not in per_model:
        per_model[key] = _trace(model, tuple(input_shape))
    return list(per_model[key])


def _trace(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    meta = copy.deepcopy(model).to("meta").eval()
    seen: "OrderedDict[str, LayerInfo]" = OrderedDict()
    hooks = []
    counter = [0]

    def make(name: str, mod: nn.Module):
        def hook(_m, _inp, out):
            if isinstance(out, torch.Tensor):
                counter[0] += 1
                seen.pop(name, None)
                seen[name] = LayerInfo(name, _kind(mod), type(mod).__name__, tuple(out.shape[1:]),
                                       counter[0])
        return hook

    for name, mod in meta.named_modules():
        if name:
            hooks.append(mod.register_forward_hook(make(name, mod)))
    try:
        with torch.no_grad():
            meta(torch.empty((1, *input_shape), device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return sorted(seen.values(), key=lambda i: i.order)


def spatial_layers(model: nn.Module, input_shape: tuple[int, ...] | None = None,
                   kinds: tuple[str, ...] = ("conv", "pool", "block")) -> list[LayerInfo]:
    """Conv-ish modules (convs, pools, blocks holding convs) whose output is still an image
    (C, H, W with H*W > 1), in running order."""
    shape = input_shape or _input_shape(model, None)
    return [i for i in trace(model, tuple(shape)) if i.kind in kinds and i.spatial]


def default_cam_layer(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> str:
    """Name of the default Grad-CAM layer: the last conv-ish module (a conv, pool, block, or
    the normalization / activation that follows a conv) whose output is still spatial. For
    resnet18 that is ``layer4``; for a conv-BN-ReLU spec CNN the ReLU after its last conv: the
    rectified feature maps that global average pooling hands to the classifier, which is what
    Grad-CAM's paper weights."""
    layers = spatial_layers(model, input_shape, kinds=CAM_KINDS)
    if not layers:
        raise ValueError("This model has no convolutional layer with a spatial output, so it "
                         "has no place for Grad-CAM to look.")
    return layers[-1].name


def _module(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    return model.get_submodule(layer) if isinstance(layer, str) else layer


def _normalize(a: torch.Tensor) -> torch.Tensor:
    """Scale a non-negative map into [0, 1] (all zeros stays zeros)."""
    a = torch.nan_to_num(a.detach().float()).clamp(min=0)
    top = a.max()
    return a / top if top > 0 else a


def top_class(model: nn.Module, image: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(image).argmax(dim=1)[0])


def _check(image: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"Expected a normalized (1, C, H, W) tensor, got shape {tuple(image.shape)}.")


def grad_cam(model: nn.Module, image: torch.Tensor, target: int | None = None,
             layer: nn.Module | str | None = None) -> torch.Tensor:
    """Grad-CAM of class ``target`` (default: the top class) at conv-ish ``layer`` (a module of
    ``model`` or its dotted name; default :func:`default_cam_layer`). ``image`` is a normalized
    (1, C, H, W) tensor. Returns the ReLU'd map, upsampled bilinearly to (H, W) and scaled to
    [0, 1]. captum's ``LayerGradCam`` + ``LayerAttribution.interpolate``."""
    from captum.attr import LayerAttribution, LayerGradCam

    _check(image)
    model.eval()
    if layer is None:
        layer = default_cam_layer(model, tuple(image.shape[1:]))
    mod = _module(model, layer)
    if target is None:
        target = top_class(model, image)
    with torch.enable_grad():
        attr = LayerGradCam(model, mod).attribute(image, target=int(target), relu_attributions=True)
    up = LayerAttribution.interpolate(attr.detach(), tuple(image.shape[-2:]), interpolate_mode="bilinear")
    return _normalize(up[0].sum(0))


def _pixel_map(attr: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) pixel attributions -> (H, W) in [0, 1]: absolute value, max over channels."""
    return _normalize(attr.detach()[0].abs().amax(0))


def occlusion_window(size: tuple[int, int]) -> tuple[int, int]:
    """(patch, stride) for occlusion at an input of ``size``: a patch about 1/7 of the shorter
    side, moved by half a patch (a 224 photo: 32 px patches, 16 px steps, 169 positions)."""
    side = min(size)
    patch = max(3, int(round(side / 7)))
    return patch, max(1, patch // 2)


def attribute(method: str, model: nn.Module, image: torch.Tensor, target: int | None = None,
              layer: nn.Module | str | None = None, *, steps: int = 32,
              progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """An (H, W) attribution map in [0, 1] for ``method`` (a key of :data:`METHODS`); the same
    arguments as :func:`grad_cam`. Integrated Gradients uses ``steps`` steps from a blank
    (all-zero normalized, i.e. mean-colour) baseline; occlusion a grey (zero) patch."""
    from captum.attr import GuidedGradCam, IntegratedGradients, Occlusion, Saliency

    _check(image)
    model.eval()
    if target is None:
        target = top_class(model, image)
    target = int(target)
    if method == "Grad-CAM":
        return grad_cam(model, image, target, layer)
    x = image.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        if method == "Guided Grad-CAM":
            if layer is None:
                layer = default_cam_layer(model, tuple(image.shape[1:]))
            with _no_inplace(model), warnings.catch_warnings():
                # captum announces that it hooks the ReLUs (and removes the hooks after)
                warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
                attr = GuidedGradCam(model, _module(model, layer)).attribute(x, target=target)
            return _pixel_map(attr)
        if method == "Saliency":
            return _pixel_map(Saliency(model).attribute(x, target=target, abs=True))
        if method == "Integrated Gradients":
            ig = IntegratedGradients(model)
            attr = ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps,
                                internal_batch_size=min(steps, 16))
            return _pixel_map(attr)
        if method == "Occlusion":
            patch, stride = occlusion_window(tuple(image.shape[-2:]))
            c = image.shape[1]
            with torch.no_grad():
                attr = Occlusion(model).attribute(
                    image, sliding_window_shapes=(c, patch, patch), strides=(c, stride, stride),
                    target=target, baselines=0.0, perturbations_per_eval=16,
                    show_progress=False)
            return _normalize(attr[0].sum(0))
    raise ValueError(f"Unknown attribution method {method!r}; one of {', '.join(METHODS)}.")


class _no_inplace:
    """Turn in-place ReLUs off while guided backprop hooks them (their backward hooks cannot
    see a tensor that was overwritten in place), and back on after."""

    def __init__(self, model: nn.Module):
        self.mods = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]

    def __enter__(self):
        for m in self.mods:
            m.inplace = False

    def __exit__(self, *exc):
        for m in self.mods:
            m.inplace = True


def peak(heat: torch.Tensor) -> tuple[int, int]:
    """(row, col) of a map's maximum."""
    idx = int(torch.argmax(heat))
    return idx // heat.shape[-1], idx % heat.shape[-1]


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------
def predict(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Class probabilities (softmax of the logits) for a (1, C, H, W) input, shape (classes,)."""
    _check(image)
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(image).float(), dim=1)[0]


def topk(probs: torch.Tensor, class_names: list[str], k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes as (index, name, probability), best first."""
    k = max(1, min(int(k), probs.numel()))
    values, idx = probs.topk(k)
    return [(int(i), class_name(class_names, int(i)), float(v)) for v, i in zip(values, idx)]


def class_name(class_names: list[str], i: int) -> str:
    return str(class_names[i]) if 0 <= i < len(class_names) else f"class {i}"


# --------------------------------------------------------------------------------------------
# Feature maps and filters
# --------------------------------------------------------------------------------------------
def feature_maps(model: nn.Module, image: torch.Tensor,
                 layers: list[str] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """The output (C, H, W) of every conv and pooling layer (or of the named ``layers``) for one
    normalized (1, C, H, W) image, in running order, from forward hooks on one pass."""
    _check(image)
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


def channel_order(maps: torch.Tensor, by: str = "strength") -> list[int]:
    """Channel indices of a (C, H, W) map: ``strength`` (mean activation, strongest first),
    ``peak`` (largest single value first) or ``index``."""
    if by == "index":
        return list(range(maps.shape[0]))
    score = maps.flatten(1).mean(1) if by == "strength" else maps.flatten(1).amax(1)
    return [int(i) for i in torch.argsort(score, descending=True)]


def scale_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each channel of a (C, H, W) stack min-max scaled to [0, 1] independently (flat -> 0)."""
    flat = maps.detach().float().flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = (hi - lo).clamp(min=1e-12)
    return ((flat - lo) / span * (hi > lo)).view_as(maps)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    convs = conv_layers(model)
    if not convs:
        raise ValueError("This model has no convolutional layer.")
    return convs[0]


def filter_tiles(weight: torch.Tensor) -> torch.Tensor:
    """First-layer filters (out, C, k, k) as displayable tiles in [0, 1], (out, k, k, 3) for
    colour filters (each filter scaled symmetrically around 0 -> grey 0.5) or (out, k, k)."""
    w = weight.detach().float()
    top = w.flatten(1).abs().amax(1).clamp(min=1e-12).view(-1, 1, 1, 1)
    t = (w / top) * 0.5 + 0.5
    if w.shape[1] == 3:
        return t.permute(0, 2, 3, 1)
    return t.mean(1)


# --------------------------------------------------------------------------------------------
# Kernel sandbox
# --------------------------------------------------------------------------------------------
KERNELS: dict[str, list[list[float]]] = {
    "Horizontal edges (course)": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "Vertical edges (course)": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Blur (box)": [[1 / 9] * 3, [1 / 9] * 3, [1 / 9] * 3],
    "Gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "Sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


def apply_kernel(gray: torch.Tensor, kernel) -> torch.Tensor:
    """Cross-correlate a (H, W) gray image with a (k, k) kernel, as ``nn.Conv2d`` does, with
    zero padding that keeps the size."""
    k = torch.as_tensor(kernel, dtype=torch.float32)
    if k.dim() != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"The kernel must be square with an odd size, got {tuple(k.shape)}.")
    if not torch.isfinite(k).all():
        raise ValueError("The kernel holds a value that is not a number.")
    g = torch.as_tensor(gray, dtype=torch.float32)
    return F.conv2d(g[None, None], k[None, None], padding=k.shape[0] // 2)[0, 0]


def most_similar_filter(weight: torch.Tensor, kernel) -> tuple[int, float, torch.Tensor]:
    """The first-layer filter most like ``kernel`` (k, k) by cosine similarity.

    Each filter (out, C, kh, kw) is summed over its input channels (what it does to a gray
    image) and, if its size differs, resized to the kernel's with adaptive average pooling.
    Returns (filter index, cosine similarity in [-1, 1], the compared (k, k) filter).
    """
    k = torch.as_tensor(kernel, dtype=torch.float32)
    w = weight.detach().float().sum(1)                        # (out, kh, kw)
    if w.shape[-2:] != k.shape:
        w = F.adaptive_avg_pool2d(w[:, None], tuple(k.shape))[:, 0]
    sims = F.cosine_similarity(w.flatten(1), k.flatten()[None], dim=1, eps=1e-12)
    i = int(torch.argmax(sims))
    return i, float(sims[i]), w[i]


def kernel_is_valid(kernel) -> bool:
    try:
        k = torch.as_tensor(kernel, dtype=torch.float32)
    except (TypeError, ValueError):
        return False
    return k.dim() == 2 and bool(torch.isfinite(k).all()) and not math.isnan(float(k.sum()))
