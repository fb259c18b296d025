"""Which layers a page can look at: every module's output shape, from the summary's one
meta-device tracer (:func:`playground.summary.summarize`: a private copy of the model on the
``meta`` device, no memory, no arithmetic), with a kind for each (conv, pool, block ...).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from torch import nn

from ..networks.kinds import kind_of
from ..summary import summarize

CAM_KINDS = ("conv", "pool", "block", "act", "norm")      # where Grad-CAM may look


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
    kind = kind_of(mod)
    if kind in ("conv", "pool", "act", "norm"):
        return kind
    if kind is None and any(kind_of(m) == "conv" for m in mod.modules()):
        return "block"
    return type(mod).__name__


def _input_shape(model: nn.Module) -> tuple[int, ...]:
    spec = getattr(model, "spec", None) or {}
    return tuple(int(s) for s in spec.get("input_shape", (3, 224, 224)))


# A page asks for the layers on every rerun and every Grad-CAM without a layer asks for the
# default one: a resnet50 trace costs ~80 ms, a dictionary look-up nothing.
_TRACES: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """Every submodule's output shape, in the order modules finish, from one pass of a copy of
    ``model`` on the meta device (a module run twice keeps its last output). Remembered per
    model and input shape (and forgotten with the model). Raises ``ValueError`` where the
    model cannot run on that input."""
    names = tuple(n for n, _ in model.named_modules())
    key = (tuple(int(s) for s in input_shape), hash(names))
    per_model = _TRACES.setdefault(model, {})
    if key not in per_model:
        summary = summarize(model, key[0])
        if summary.error is not None:
            raise ValueError(f"The model cannot run on a {' x '.join(map(str, key[0]))} input: "
                             f"{summary.error}")
        per_model[key] = [LayerInfo(o.name, _kind(model.get_submodule(o.name)), o.type, o.shape,
                                    o.order) for o in summary.outputs]
    return list(per_model[key])


def spatial_layers(model: nn.Module, input_shape: tuple[int, ...] | None = None,
                   kinds: tuple[str, ...] = ("conv", "pool", "block")) -> list[LayerInfo]:
    """Conv-ish modules (convs, pools, blocks holding convs) whose output is still an image
    (C, H, W with H*W > 1), in running order."""
    shape = input_shape or _input_shape(model)
    return [i for i in trace(model, tuple(shape)) if i.kind in kinds and i.spatial]


def cam_layers(model: nn.Module, input_shape: tuple[int, ...] | None = None
               ) -> tuple[list[LayerInfo], str | None]:
    """The layers Grad-CAM can look at, in running order (convs, pools, blocks and activations
    with a spatial output; a normalization only where it is the default), and the default's
    name (None where there is no such layer)."""
    layers = spatial_layers(model, input_shape, kinds=CAM_KINDS)
    default = layers[-1].name if layers else None
    return [li for li in layers if li.kind != "norm" or li.name == default], default


def default_cam_layer(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> str:
    """Name of the default Grad-CAM layer: the last conv-ish module (a conv, pool, block, or
    the normalization / activation that follows a conv) whose output is still spatial. For
    resnet18 that is ``layer4``; for a conv-BN-ReLU spec CNN the ReLU after its last conv: the
    rectified feature maps that global average pooling hands to the classifier, which is what
    Grad-CAM's paper weights."""
    _, default = cam_layers(model, input_shape)
    if default is None:
        raise ValueError("This model has no convolutional layer with a spatial output, so it "
                         "has no place for Grad-CAM to look.")
    return default
