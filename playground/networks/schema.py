"""The layer types a spec may use: one registry entry each.

A :class:`LayerType` holds everything the package knows about one type: the prefix its modules
are named with, a one-line doc, its fields (defaults, and the ranges or choices that the spec
parser enforces and the editor's widgets offer), the builder of its ``nn.Module``, whether it
is a block of other layers, and whether it keeps the shape it receives (the inspector's fixes
look through such layers). Adding an entry to :data:`LAYER_TYPES` makes a type buildable,
editable, exportable and summarizable: no other code names layer types.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

Spec = dict[str, Any]
LayerSpec = dict[str, Any]
Shape = tuple[int, ...]


class SpecError(ValueError):
    """A spec that cannot be built. ``path`` is the index path of the layer (e.g. ``(3,)`` or
    ``(5, 1)`` inside a block), ``name`` its module name when known."""

    def __init__(self, message: str, path: tuple[int, ...] = (), name: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.name = name


class NeedsInput(Exception):
    """A builder could not infer an input size from the shape that reaches it. ``kind`` is
    ``"image"`` (the input is not (C, H, W)) or ``"unknown"`` (an earlier layer failed)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def channels(shape: Shape | None) -> int:
    """Input channels of an image-shaped ``(C, H, W)`` input."""
    if shape is None:
        raise NeedsInput("unknown")
    if len(shape) != 3:
        raise NeedsInput("image")
    return int(shape[0])


def features(shape: Shape | None) -> int:
    """Input features of a vector (or of anything, flattened)."""
    if shape is None:
        raise NeedsInput("unknown")
    return int(shape[0]) if len(shape) == 1 else int(math.prod(shape))


def pair(v: Any) -> Any:
    """JSON lists (``[3, 5]``) as the tuples PyTorch takes; anything else unchanged."""
    return tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else v


# The activations a residual block may end in, and the editor's options for it.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "none": nn.Identity,
}
SHORTCUTS = ("auto", "identity", "projection")
MAX_INT = 10**10   # sanity bound on any whole-number field (a spec may come from an upload)


@dataclass(frozen=True)
class Field:
    """One field of a layer type. ``kind`` is int, float, bool, choice or layers."""

    name: str
    default: Any                    # what a missing or null value means; new layers start with it
    kind: str = "int"
    low: float | None = None        # numbers: the range a spec may hold (and the widget offers)
    high: float | None = None
    choices: tuple[str, ...] = ()   # choice: the options; int: words allowed instead ("same")
    required: bool = False          # build refuses a layer without it
    inferred: bool = False          # None = inferred from the incoming shape (adapt clears it)
    in_new_layer: bool = True       # False: an advanced field a new layer leaves at its default
    label: str = ""
    help: str = ""

    @property
    def zero_means_default(self) -> bool:
        """A whole number whose default is None (inferred, or the kernel size): the editor
        shows None as 0 and turns 0 back into None."""
        return self.kind == "int" and self.default is None


def _int(name: str, default: int | None, low: int = 1, **kw: Any) -> Field:
    return Field(name, default, "int", low=low, high=MAX_INT, **kw)


@dataclass(frozen=True)
class LayerType:
    """One layer type. ``build(layer, in_shape)`` gets the layer with its defaults filled in and
    the shape reaching it (without batch; None when unknown); a block's builder also gets its
    built body and the body's output shape. ``body`` marks a block: the dotted prefix of its
    layers inside its module ("" = the block itself, "body." = ResidualBlock.body)."""

    name: str
    prefix: str
    doc: str
    fields: tuple[Field, ...]
    build: Callable[..., nn.Module]
    keeps_shape: bool = False
    body: str | None = None

    @property
    def is_block(self) -> bool:
        return self.body is not None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def filled(self, layer: LayerSpec) -> LayerSpec:
        """``layer`` with every missing or null field at its default; a missing required
        field raises ValueError."""
        missing = [f.name for f in self.fields if f.required and layer.get(f.name) is None]
        if missing:
            raise ValueError(f"{', '.join(map(repr, missing))} is missing.")
        given = {k: v for k, v in layer.items() if v is not None}
        return {**{f.name: f.default for f in self.fields}, **given}


class ResidualBlock(nn.Module):
    """``act(body(x) + shortcut(x))``: the ResNet basic block shape."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, activation: nn.Module):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.act = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


# --------------------------------------------------------------------------------------------
# Builders: (layer with defaults, incoming shape) -> nn.Module
# --------------------------------------------------------------------------------------------
def _conv2d(l: LayerSpec, shape: Shape | None) -> nn.Module:
    pad = l["padding"] if isinstance(l["padding"], str) else pair(l["padding"])
    return nn.Conv2d(int(l["in"] or channels(shape)), int(l["out"]), pair(l["kernel"]),
                     stride=pair(l["stride"]), padding=pad, dilation=pair(l["dilation"]),
                     groups=int(l["groups"]), bias=bool(l["bias"]))


def _pool(cls: type[nn.Module]) -> Callable[[LayerSpec, Shape | None], nn.Module]:
    def build(l: LayerSpec, shape: Shape | None) -> nn.Module:
        k = pair(l["kernel"])
        return cls(k, stride=pair(l["stride"]) or k, padding=pair(l["padding"]),
                   ceil_mode=bool(l["ceil_mode"]))
    return build


def _plain(cls: type[nn.Module]) -> Callable[[LayerSpec, Shape | None], nn.Module]:
    return lambda l, shape: cls()


def _linear(l: LayerSpec, shape: Shape | None) -> nn.Module:
    return nn.Linear(int(l["in"] or features(shape)), int(l["out"]), bias=bool(l["bias"]))


def _sequential(l: LayerSpec, shape: Shape | None, body: nn.Sequential, out: Shape | None) -> nn.Module:
    return body


def _residual(l: LayerSpec, shape: Shape | None, body: nn.Sequential, out: Shape | None) -> nn.Module:
    mode = l["shortcut"]
    if mode not in SHORTCUTS:
        raise ValueError("shortcut must be auto, identity or projection.")
    if mode == "auto":
        mode = "identity" if out == shape else "projection"
    if mode == "identity":
        short: nn.Module = nn.Identity()
    else:
        if shape is None or out is None or len(shape) != 3 or len(out) != 3:
            raise ValueError("a projection shortcut needs known image shapes.")
        stride = max(1, shape[1] // max(1, out[1]))     # the body's downsampling, as ResNet does
        short = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(shape[0], out[0], 1, stride=stride, bias=False),
            bn=nn.BatchNorm2d(out[0])))
    return ResidualBlock(body, short, ACTIVATIONS[l["activation"]]())


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------
_INFER = "0 = inferred from the layer before."
_KERNEL = _int("kernel", 3, help="Kernel (window) size k: a k x k window.")
_PADDING = _int("padding", 0, low=0, choices=("same", "valid"), help="Zeros added on every side.")
_BIAS = Field("bias", True, "bool", in_new_layer=False)
_POOL_FIELDS = (
    _int("kernel", 2, help=_KERNEL.help),
    _int("stride", None, help="Step of the window. 0 = the kernel size (PyTorch's default)."),
    _PADDING,
    Field("ceil_mode", False, "bool", in_new_layer=False, label="ceil mode"),
)


def _p(default: float) -> Field:
    return Field("p", default, "float", low=0, high=1, label="p (drop probability)",
                 help="Probability of dropping a value while training.")


def _features(help: str) -> Field:
    return _int("features", None, inferred=True, help=f"{help} {_INFER}")


LAYER_TYPES: dict[str, LayerType] = {t.name: t for t in [
    LayerType("conv2d", "conv", "2-D convolution", (
        _int("in", None, inferred=True, help=f"Input channels. {_INFER}"),
        _int("out", 16, required=True, help="Output channels."),
        _KERNEL,
        _int("stride", 1, help="Step of the window."),
        _PADDING,
        _int("dilation", 1, in_new_layer=False),
        _int("groups", 1, in_new_layer=False),
        _BIAS), _conv2d),
    LayerType("maxpool2d", "pool", "max pooling", _POOL_FIELDS, _pool(nn.MaxPool2d)),
    LayerType("avgpool2d", "pool", "average pooling", _POOL_FIELDS, _pool(nn.AvgPool2d)),
    LayerType("globalavgpool", "gap", "global average pooling to 1x1", (),
              lambda l, shape: nn.AdaptiveAvgPool2d(1)),
    LayerType("batchnorm2d", "bn", "batch normalization",
              (_features("Channels to normalize."),),
              lambda l, shape: nn.BatchNorm2d(int(l["features"] or channels(shape)))),
    LayerType("batchnorm1d", "bn", "batch normalization (vectors)",
              (_features("Features to normalize."),),
              lambda l, shape: nn.BatchNorm1d(int(l["features"] or features(shape))), keeps_shape=True),
    LayerType("relu", "relu", "ReLU", (), _plain(nn.ReLU), keeps_shape=True),
    LayerType("leakyrelu", "lrelu", "leaky ReLU",
              (Field("slope", 0.01, "float", low=-10, high=10, label="negative slope"),),
              lambda l, shape: nn.LeakyReLU(float(l["slope"])), keeps_shape=True),
    LayerType("gelu", "gelu", "GELU", (), _plain(nn.GELU), keeps_shape=True),
    LayerType("sigmoid", "sigmoid", "sigmoid", (), _plain(nn.Sigmoid), keeps_shape=True),
    LayerType("tanh", "tanh", "tanh", (), _plain(nn.Tanh), keeps_shape=True),
    LayerType("dropout", "drop", "dropout", (_p(0.5),),
              lambda l, shape: nn.Dropout(float(l["p"])), keeps_shape=True),
    LayerType("dropout2d", "drop", "channel dropout", (_p(0.25),),
              lambda l, shape: nn.Dropout2d(float(l["p"]))),
    LayerType("flatten", "flatten", "flatten to a vector", (), _plain(nn.Flatten)),
    LayerType("linear", "fc", "fully-connected layer", (
        _int("in", None, inferred=True, help=f"Input features. {_INFER}"),
        _int("out", 10, required=True, help="Output features."),
        _BIAS), _linear),
    LayerType("sequential", "block", "a group of layers",
              (Field("layers", [], "layers"),), _sequential, body=""),
    LayerType("residual", "res", "residual block: body + skip connection", (
        Field("layers", [], "layers"),
        Field("shortcut", "auto", "choice", choices=SHORTCUTS),
        Field("activation", "relu", "choice", choices=tuple(ACTIVATIONS))), _residual, body="body."),
]}


def layer_type(layer: LayerSpec) -> LayerType | None:
    """The registry entry of a layer dict (None for an unknown type)."""
    return LAYER_TYPES.get(layer.get("type"))


def is_block(layer: LayerSpec) -> bool:
    entry = layer_type(layer)
    return entry is not None and entry.is_block


def module_name(layer: LayerSpec, counters: dict[str, int]) -> str:
    """The module name of a layer: its own ``name``, else the type's prefix numbered in spec
    order (``conv1``, ``relu2``, ...; a single flatten is just ``flatten``). The one naming
    rule, shared by ``build`` and ``layer_names``, so the inspector's names are the module's."""
    if layer.get("name"):
        return str(layer["name"])
    entry = layer_type(layer)
    prefix = entry.prefix if entry else "layer"
    counters[prefix] = counters.get(prefix, 0) + 1
    return f"{prefix}{counters[prefix]}" if prefix != "flatten" or counters[prefix] > 1 else "flatten"
