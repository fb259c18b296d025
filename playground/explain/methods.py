"""Attribution methods: which pixels decided the class score. Every one is captum's, returned
as an ``(H, W)`` map in [0, 1] at the input's size, so they can be laid over the photo and
compared side by side.

:data:`METHODS` is the one catalogue (name -> :class:`Method`): the page lists it, the tests
run every entry, :func:`attribute` dispatches on it. A new method is one function and one entry.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .arrays import check_image, unit_range
from .classes import top_class
from .layers import default_cam_layer

Layer = nn.Module | str | None      # a module of the model, its dotted name, or the default


def _module(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    return model.get_submodule(layer) if isinstance(layer, str) else layer


def grad_cam(model: nn.Module, image: torch.Tensor, target: int | None = None,
             layer: Layer = None) -> torch.Tensor:
    """Grad-CAM of class ``target`` (default: the top class) at conv-ish ``layer`` (a module of
    ``model`` or its dotted name; default :func:`default_cam_layer`). ``image`` is a normalized
    (1, C, H, W) tensor. Returns the ReLU'd map, upsampled bilinearly to (H, W) and scaled to
    [0, 1]. captum's ``LayerGradCam`` + ``LayerAttribution.interpolate``."""
    from captum.attr import LayerAttribution, LayerGradCam

    check_image(image)
    model.eval()
    if layer is None:
        layer = default_cam_layer(model, tuple(image.shape[1:]))
    if target is None:
        target = top_class(model, image)
    with torch.enable_grad():
        attr = LayerGradCam(model, _module(model, layer)).attribute(
            image, target=int(target), relu_attributions=True)
    up = LayerAttribution.interpolate(attr.detach(), tuple(image.shape[-2:]), interpolate_mode="bilinear")
    return unit_range(up[0].sum(0))


def _pixel_map(attr: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) pixel attributions -> (H, W) in [0, 1]: absolute value, max over channels."""
    return unit_range(attr.detach()[0].abs().amax(0))


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


def _guided_grad_cam(model: nn.Module, x: torch.Tensor, target: int, layer: Layer, steps: int) -> torch.Tensor:
    from captum.attr import GuidedGradCam

    if layer is None:
        layer = default_cam_layer(model, tuple(x.shape[1:]))
    with _no_inplace(model), warnings.catch_warnings():
        # captum announces that it hooks the ReLUs (and removes the hooks after)
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        return _pixel_map(GuidedGradCam(model, _module(model, layer)).attribute(x, target=target))


def _saliency(model: nn.Module, x: torch.Tensor, target: int, layer: Layer, steps: int) -> torch.Tensor:
    from captum.attr import Saliency

    return _pixel_map(Saliency(model).attribute(x, target=target, abs=True))


def _integrated_gradients(model: nn.Module, x: torch.Tensor, target: int, layer: Layer,
                          steps: int) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    # baseline: all-zero normalized, i.e. the mean colour
    attr = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                n_steps=steps, internal_batch_size=min(steps, 16))
    return _pixel_map(attr)


def occlusion_window(size: tuple[int, int]) -> tuple[int, int]:
    """(patch, stride) for occlusion at an input of ``size``: a patch about 1/7 of the shorter
    side, moved by half a patch (a 224 photo: 32 px patches, 16 px steps, 169 positions)."""
    patch = max(3, int(round(min(size) / 7)))
    return patch, max(1, patch // 2)


def _occlusion(model: nn.Module, x: torch.Tensor, target: int, layer: Layer, steps: int) -> torch.Tensor:
    from captum.attr import Occlusion

    patch, stride = occlusion_window(tuple(x.shape[-2:]))
    c = x.shape[1]
    with torch.no_grad():
        attr = Occlusion(model).attribute(
            x.detach(), sliding_window_shapes=(c, patch, patch), strides=(c, stride, stride),
            target=target, baselines=0.0, perturbations_per_eval=16, show_progress=False)
    return unit_range(attr[0].sum(0))


@dataclass(frozen=True)
class Method:
    name: str               # what the page shows, and the key of METHODS
    captum: str             # the captum.attr class that computes it
    description: str
    needs_layer: bool       # looks at a conv-ish layer (the page's layer picker applies)
    slow: bool              # many forward passes: the page says it takes a few seconds
    default: bool           # shown when the page opens
    compute: Callable[[nn.Module, torch.Tensor, int, Layer, int], torch.Tensor]


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("Grad-CAM", "LayerGradCam",
           "Gradient-weighted class activation map of a conv layer: which regions of that "
           "layer's feature maps raise the class score. Coarse (the layer's resolution), "
           "class-specific.", needs_layer=True, slow=False, default=True,
           compute=lambda model, x, target, layer, steps: grad_cam(model, x.detach(), target, layer)),
    Method("Guided Grad-CAM", "GuidedGradCam",
           "Grad-CAM multiplied by guided backpropagation: the Grad-CAM regions, with the fine "
           "pixel detail that drives the class score inside them.",
           needs_layer=True, slow=False, default=True, compute=_guided_grad_cam),
    Method("Saliency", "Saliency",
           "The absolute gradient of the class score with respect to each input pixel: which "
           "pixels change the score most if nudged. Sharp but noisy.",
           needs_layer=False, slow=False, default=True, compute=_saliency),
    Method("Integrated Gradients", "IntegratedGradients",
           "Gradients averaged along a straight path from a blank (mean-colour) image to the "
           "photo, times the difference: each pixel's share of the score. Slower (many forward "
           "and backward passes).", needs_layer=False, slow=True, default=False,
           compute=_integrated_gradients),
    Method("Occlusion", "Occlusion",
           "Slides a grey patch over the photo and records how much the class score drops at "
           "each place. Model-agnostic and easy to trust; slow (one forward per patch).",
           needs_layer=False, slow=True, default=False, compute=_occlusion),
)}


def attribute(method: str, model: nn.Module, image: torch.Tensor, target: int | None = None,
              layer: Layer = None, *, steps: int = 32) -> torch.Tensor:
    """An (H, W) attribution map in [0, 1] for ``method`` (a key of :data:`METHODS`); the same
    arguments as :func:`grad_cam`. Integrated Gradients uses ``steps`` steps from a blank
    (all-zero normalized, i.e. mean-colour) baseline; occlusion a grey (zero) patch."""
    if method not in METHODS:
        raise ValueError(f"Unknown attribution method {method!r}; one of {', '.join(METHODS)}.")
    check_image(image)
    model.eval()
    target = int(top_class(model, image) if target is None else target)
    x = image.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        return METHODS[method].compute(model, x, target, layer, steps)


def peak(heat) -> tuple[int, int]:
    """(row, col) of a map's maximum (a tensor or a numpy array)."""
    idx = int(heat.argmax())
    return idx // heat.shape[-1], idx % heat.shape[-1]
