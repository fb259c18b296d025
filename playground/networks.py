"""Networks as data.

A *spec* is a JSON-able dict::

    {"name": "MNIST SimpleCNN", "input_shape": [1, 28, 28],
     "layers": [{"type": "conv2d", "out": 8, "kernel": 3}, {"type": "relu"}, ...]}

Each layer is a dict with a ``type`` and its fields. Input channels of conv / batch-norm layers
and ``in`` of linear layers may be left out: they are inferred from the shape that reaches the
layer. When they are given (as the course's code writes them, e.g. ``"in": 400``) they are used
as written, so a spec can be *wrong* the way a student's code is wrong, and the inspector
(:mod:`playground.summary`) explains the mismatch.

Blocks hold their own list: ``{"type": "sequential", "layers": [...]}`` groups layers (a VGG
block), ``{"type": "residual", "layers": [...], "shortcut": "auto"}`` adds a skip connection
around its body (identity when shapes match, else a 1x1 conv + BatchNorm projection).

torchvision models enter by name: ``{"torchvision": "resnet18", "weights": "DEFAULT",
"num_classes": 2, "freeze": true, "input_shape": [3, 224, 224]}``.

``build(spec)`` returns the ``nn.Module``. Presets of the course are in ``PRESETS``.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

Spec = dict[str, Any]
Layer = dict[str, Any]


class SpecError(ValueError):
    """A spec that cannot be built. ``path`` is the index path of the layer (e.g. ``(3,)`` or
    ``(5, 1)`` inside a block), ``name`` its module name when known."""

    def __init__(self, message: str, path: tuple[int, ...] = (), name: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.name = name


class WeightsUnavailable(RuntimeError):
    """Pretrained weights could not be downloaded (usually: no internet)."""


# --------------------------------------------------------------------------------------------
# Layer catalogue: type -> (short name for module naming, fields with defaults, description)
# --------------------------------------------------------------------------------------------
LAYER_TYPES: dict[str, dict[str, Any]] = {
    "conv2d": {"prefix": "conv", "fields": {"in": None, "out": 16, "kernel": 3, "stride": 1,
                                            "padding": 0, "dilation": 1, "groups": 1, "bias": True},
               "doc": "2-D convolution"},
    "maxpool2d": {"prefix": "pool", "fields": {"kernel": 2, "stride": None, "padding": 0,
                                               "ceil_mode": False}, "doc": "max pooling"},
    "avgpool2d": {"prefix": "pool", "fields": {"kernel": 2, "stride": None, "padding": 0,
                                               "ceil_mode": False}, "doc": "average pooling"},
    "globalavgpool": {"prefix": "gap", "fields": {}, "doc": "global average pooling to 1x1"},
    "batchnorm2d": {"prefix": "bn", "fields": {"features": None}, "doc": "batch normalization"},
    "batchnorm1d": {"prefix": "bn", "fields": {"features": None}, "doc": "batch normalization (vectors)"},
    "relu": {"prefix": "relu", "fields": {}, "doc": "ReLU"},
    "leakyrelu": {"prefix": "lrelu", "fields": {"slope": 0.01}, "doc": "leaky ReLU"},
    "gelu": {"prefix": "gelu", "fields": {}, "doc": "GELU"},
    "sigmoid": {"prefix": "sigmoid", "fields": {}, "doc": "sigmoid"},
    "tanh": {"prefix": "tanh", "fields": {}, "doc": "tanh"},
    "dropout": {"prefix": "drop", "fields": {"p": 0.5}, "doc": "dropout"},
    "dropout2d": {"prefix": "drop", "fields": {"p": 0.25}, "doc": "channel dropout"},
    "flatten": {"prefix": "flatten", "fields": {}, "doc": "flatten to a vector"},
    "linear": {"prefix": "fc", "fields": {"in": None, "out": 10, "bias": True},
               "doc": "fully-connected layer"},
    "sequential": {"prefix": "block", "fields": {"layers": []}, "doc": "a group of layers"},
    "residual": {"prefix": "res", "fields": {"layers": [], "shortcut": "auto", "activation": "relu"},
                 "doc": "residual block: body + skip connection"},
}
BLOCK_TYPES = {"sequential", "residual"}


class ResidualBlock(nn.Module):
    """``act(body(x) + shortcut(x))``: the ResNet basic block shape."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, activation: nn.Module):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.act = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _pair(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    return v


def _activation(name: str | None) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "none": nn.Identity, None: nn.Identity,
            "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()


def _num(layer: Layer, key: str, default: Any = None) -> Any:
    v = layer.get(key, default)
    return default if v is None else v


def _make_layer(layer: Layer, in_shape: tuple[int, ...] | None, path: tuple[int, ...],
                name: str) -> nn.Module:
    """One module from one layer dict. ``in_shape`` (without batch) serves inference of the
    fields the spec leaves out; None when unknown (a layer before failed)."""
    t = layer.get("type")
    if t not in LAYER_TYPES:
        raise SpecError(f"Unknown layer type {t!r}. Known: {', '.join(LAYER_TYPES)}.", path, name)

    def need_in(kind: str) -> int:
        if in_shape is None:
            raise SpecError(f"Cannot infer the input size of {name}: an earlier layer failed.", path, name)
        if kind == "channels":
            if len(in_shape) != 3:
                raise SpecError(f"{name} ({t}) needs an image-shaped input (C, H, W), but receives "
                                f"shape {tuple(in_shape)}. Is a flatten too early?", path, name)
            return int(in_shape[0])
        return int(in_shape[0]) if len(in_shape) == 1 else int(math.prod(in_shape))

    try:
        if t == "conv2d":
            cin = layer.get("in") or need_in("channels")
            pad = layer.get("padding", 0)
            pad = pad if isinstance(pad, str) else _pair(pad)
            return nn.Conv2d(int(cin), int(layer["out"]), _pair(layer.get("kernel", 3)),
                             stride=_pair(_num(layer, "stride", 1)), padding=pad,
                             dilation=_pair(_num(layer, "dilation", 1)), groups=int(_num(layer, "groups", 1)),
                             bias=bool(layer.get("bias", True)))
        if t in ("maxpool2d", "avgpool2d"):
            k = _pair(layer.get("kernel", 2))
            s = _pair(layer.get("stride")) or k
            kw = dict(stride=s, padding=_pair(_num(layer, "padding", 0)),
                      ceil_mode=bool(layer.get("ceil_mode", False)))
            return nn.MaxPool2d(k, **kw) if t == "maxpool2d" else nn.AvgPool2d(k, **kw)
        if t == "globalavgpool":
            return nn.AdaptiveAvgPool2d(1)
        if t == "batchnorm2d":
            return nn.BatchNorm2d(int(layer.get("features") or need_in("channels")))
        if t == "batchnorm1d":
            return nn.BatchNorm1d(int(layer.get("features") or need_in("flat")))
        if t == "relu":
            return nn.ReLU(inplace=False)
        if t == "leakyrelu":
            return nn.LeakyReLU(float(_num(layer, "slope", 0.01)))
        if t == "gelu":
            return nn.GELU()
        if t == "sigmoid":
            return nn.Sigmoid()
        if t == "tanh":
            return nn.Tanh()
        if t == "dropout":
            return nn.Dropout(float(_num(layer, "p", 0.5)))
        if t == "dropout2d":
            return nn.Dropout2d(float(_num(layer, "p", 0.25)))
        if t == "flatten":
            return nn.Flatten()
        if t == "linear":
            fin = layer.get("in") or need_in("flat")
            return nn.Linear(int(fin), int(layer["out"]), bias=bool(layer.get("bias", True)))
    except SpecError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise SpecError(f"{name} ({t}): {e}", path, name) from e
    raise AssertionError(t)  # pragma: no cover - every catalogue type is handled above


def _probe(module: nn.Module, in_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """Output shape (without batch) of ``module`` on a meta tensor, or None if it fails."""
    if in_shape is None:
        return None
    try:
        probe = copy.deepcopy(module).to("meta")
        with torch.no_grad():
            out = probe(torch.empty((2, *in_shape), device="meta"))
        return tuple(out.shape[1:])
    except Exception:  # noqa: BLE001 - a failing layer only stops inference, summary explains it
        return None


def _layer_name(layer: Layer, counters: dict[str, int]) -> str:
    """The module name of a layer: its own ``name``, else the type's prefix numbered in spec order
    (``conv1``, ``relu2``, ...; a single flatten is just ``flatten``). The one naming rule, shared
    by ``build`` and ``layer_names``, so the inspector's names are the module's."""
    if layer.get("name"):
        return str(layer["name"])
    prefix = LAYER_TYPES.get(layer.get("type"), {}).get("prefix", "layer")
    counters[prefix] = counters.get(prefix, 0) + 1
    return f"{prefix}{counters[prefix]}" if prefix != "flatten" or counters[prefix] > 1 else "flatten"


def _build_list(layers: list[Layer], in_shape: tuple[int, ...] | None, path: tuple[int, ...],
                counters: dict[str, int], paths: dict[str, tuple[int, ...]] | None = None,
                prefix_name: str = "") -> tuple[nn.Sequential, tuple[int, ...] | None]:
    """Build one list of layers. ``paths`` (optional) collects ``dotted module name -> spec
    path`` for every layer, blocks included (``prefix_name`` is the dotted name of the list)."""
    paths = {} if paths is None else paths
    mods: "OrderedDict[str, nn.Module]" = OrderedDict()
    shape = in_shape
    for i, layer in enumerate(layers):
        p = (*path, i)
        if not isinstance(layer, dict):
            raise SpecError(f"Layer {i} must be a dict with a 'type', got {layer!r}.", p)
        t = layer.get("type")
        name = _layer_name(layer, counters)
        if name in mods:
            raise SpecError(f"Two layers are named {name!r}.", p, name)
        full = f"{prefix_name}{name}"
        paths[full] = p
        if t in BLOCK_TYPES and not isinstance(layer.get("layers", []), list):
            raise SpecError(f"{name}: 'layers' of a {t} block must be a list of layers.", p, name)
        if t == "sequential":
            sub, out = _build_list(layer.get("layers", []), shape, p, counters, paths, full + ".")
            mod: nn.Module = sub
        elif t == "residual":
            body, body_out = _build_list(layer.get("layers", []), shape, p, counters, paths,
                                         full + ".body.")
            mode = layer.get("shortcut", "auto")
            if mode not in ("auto", "identity", "projection"):
                raise SpecError(f"{name}: shortcut must be auto, identity or projection.", p, name)
            if mode == "auto":
                mode = "identity" if body_out == shape else "projection"
            if mode == "identity":
                short: nn.Module = nn.Identity()
            else:
                if shape is None or body_out is None or len(shape) != 3 or len(body_out) != 3:
                    raise SpecError(f"{name}: a projection shortcut needs known image shapes.", p, name)
                stride = max(1, shape[1] // max(1, body_out[1]))
                short = nn.Sequential(OrderedDict(
                    conv=nn.Conv2d(shape[0], body_out[0], 1, stride=stride, bias=False),
                    bn=nn.BatchNorm2d(body_out[0])))
            mod = ResidualBlock(body, short, _activation(layer.get("activation", "relu")))
            out = _probe(mod, shape)
        else:
            mod = _make_layer(layer, shape, p, name)
            out = _probe(mod, shape)
        mods[name] = mod
        shape = out
    return nn.Sequential(mods), shape


class SpecNet(nn.Sequential):
    """The module built from a spec; keeps the spec it came from in ``.spec`` and, in
    ``.paths``, the spec path (index path into the layer lists) of every named module."""

    spec: Spec
    paths: dict[str, tuple[int, ...]]


def build(spec: Spec | list[Layer]) -> nn.Module:
    """Build the ``nn.Module`` a spec describes (layer spec or torchvision spec)."""
    if isinstance(spec, list):
        spec = {"name": "network", "input_shape": [3, 32, 32], "layers": spec}
    if "torchvision" in spec:
        return build_torchvision(spec["torchvision"], weights=spec.get("weights"),
                                 num_classes=spec.get("num_classes"), freeze=bool(spec.get("freeze")))
    shape = tuple(int(x) for x in spec.get("input_shape", (3, 32, 32)))
    if not isinstance(spec.get("layers", []), list):
        raise SpecError("'layers' must be a list of layer dicts.")
    paths: dict[str, tuple[int, ...]] = {}
    seq, _ = _build_list(spec.get("layers", []), shape, (), {}, paths)
    net = SpecNet(OrderedDict(seq.named_children()))
    net.spec = copy.deepcopy(spec)
    net.paths = paths
    return net


def output_shape(spec: Spec) -> tuple[int, ...] | None:
    """Output shape (without batch) of a layer spec, on the meta device; None if it fails."""
    return _probe(build(spec), tuple(spec.get("input_shape", (3, 32, 32))))


def num_classes(spec: Spec) -> int | None:
    if "torchvision" in spec:
        return spec.get("num_classes") or 1000
    out = output_shape(spec)
    return int(out[0]) if out and len(out) == 1 else None


def adapt(spec: Spec, input_shape: tuple[int, int, int] | list[int], classes: int) -> Spec:
    """A copy of ``spec`` fitted to a dataset: its input shape, and its last linear layer
    giving ``classes`` outputs. Explicit input sizes (conv ``in``, linear ``in``, batch-norm
    ``features``) are cleared so they are inferred for the new input; the structure is kept."""
    new = copy.deepcopy(spec)
    new["input_shape"] = [int(x) for x in input_shape]
    if "torchvision" in new:
        new["num_classes"] = int(classes)
        return new

    def clear(layers: list[Layer]) -> None:
        for layer in layers:
            for key in ("in", "features"):
                layer.pop(key, None)
            if layer.get("type") in BLOCK_TYPES:
                clear(layer.get("layers", []))

    clear(new["layers"])

    def last_linear(layers: list[Layer]) -> Layer | None:
        for layer in reversed(layers):
            if layer.get("type") == "linear":
                return layer
            if layer.get("type") in BLOCK_TYPES:
                found = last_linear(layer.get("layers", []))
                if found is not None:
                    return found
        return None

    head = last_linear(new["layers"])
    if head is None:
        raise SpecError("This network has no linear layer to give one score per class.")
    head["out"] = int(classes)
    return new


# --------------------------------------------------------------------------------------------
# torchvision models by name
# --------------------------------------------------------------------------------------------
TORCHVISION_MODELS = ["resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2",
                      "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "alexnet",
                      "densenet121", "squeezenet1_0", "regnet_y_400mf"]


def _head_path(model: nn.Module) -> str:
    """Dotted path of the final classification layer of a torchvision classifier."""
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            last = name
    if last is None:  # pragma: no cover
        raise SpecError("No classification layer found.")
    return last


def replace_head(model: nn.Module, classes: int) -> str:
    """Replace the last Linear (or the 1x1 conv of SqueezeNet) with a fresh one for ``classes``.
    Returns the dotted path of the new head."""
    path = _head_path(model)
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, attr)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, classes)
    else:
        new = nn.Conv2d(old.in_channels, classes, old.kernel_size, old.stride)
    setattr(parent, attr, new)
    return path


def freeze_backbone(model: nn.Module, head_path: str | None = None, frozen: bool = True) -> None:
    """Freeze (or unfreeze) every parameter except the head's."""
    head_path = head_path or _head_path(model)
    for name, p in model.named_parameters():
        p.requires_grad = (not frozen) or name.startswith(head_path + ".")


def torchvision_weights(name: str, weights: str | None = "DEFAULT"):
    """The torchvision ``WeightsEnum`` member for ``name`` (None when ``weights`` is falsy)."""
    import torchvision

    if not weights:
        return None
    return torchvision.models.get_model_weights(name)[weights] if weights != "DEFAULT" else \
        torchvision.models.get_model_weights(name).DEFAULT


def build_torchvision(name: str, weights: str | None = None, num_classes: int | None = None,
                      freeze: bool = False) -> nn.Module:
    """A torchvision classifier by name. ``weights="DEFAULT"`` loads ImageNet weights (downloaded
    once into torch's hub cache); offline this raises :class:`WeightsUnavailable` with what to do.
    ``num_classes`` replaces the head; ``freeze`` freezes everything but the head."""
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise SpecError(f"torchvision has no classification model named {name!r}.")
    w = torchvision_weights(name, weights)
    model = torchvision.models.get_model(name, weights=None)
    if w is not None:
        try:
            state = w.get_state_dict(progress=False, check_hash=True)
        except Exception as e:  # noqa: BLE001 - URLError, socket errors, hash mismatch ...
            fname = w.url.rsplit("/", 1)[-1]
            hub = torch.hub.get_dir()
            raise WeightsUnavailable(
                f"Could not download the pretrained weights for {name} ({fname}). You seem to be "
                f"offline. Connect once to download them, or copy {fname} into {hub}/checkpoints/ "
                f"(from {w.url}). Detail: {type(e).__name__}: {e}") from e
        model.load_state_dict(state)
    if num_classes is not None and num_classes != _out_features(model):
        head = replace_head(model, int(num_classes))
    else:
        head = _head_path(model)
    if freeze:
        freeze_backbone(model, head)
    model.spec = {"name": name, "torchvision": name, "weights": weights,  # type: ignore[assignment]
                  "num_classes": num_classes or _out_features(model), "freeze": bool(freeze),
                  "input_shape": [3, 224, 224]}
    return model


def _out_features(model: nn.Module) -> int:
    mod = model.get_submodule(_head_path(model))
    return mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# The course's networks
# --------------------------------------------------------------------------------------------
def _conv(out: int, k: int = 3, s: int = 1, p: int | str = 0, cin: int | None = None) -> Layer:
    d: Layer = {"type": "conv2d", "out": out, "kernel": k, "stride": s, "padding": p}
    if cin is not None:
        d = {"type": "conv2d", "in": cin, **{k_: v for k_, v in d.items() if k_ != "type"}}
    return d


R: Layer = {"type": "relu"}
POOL2: Layer = {"type": "maxpool2d", "kernel": 2, "stride": 2}


def _cbr(out: int, s: int = 1) -> list[Layer]:
    return [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R]


def _res(out: int, s: int = 1) -> Layer:
    body = [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R,
            _conv(out, 3, 1, 1) | {"bias": False}, {"type": "batchnorm2d"}]
    return {"type": "residual", "layers": body, "shortcut": "auto", "activation": "relu"}


def _plain(out: int, s: int = 1) -> Layer:
    body = [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R,
            _conv(out, 3, 1, 1) | {"bias": False}, {"type": "batchnorm2d"}, R]
    return {"type": "sequential", "layers": body}


PRESETS: dict[str, Spec] = {
    "simple_cnn_cifar10": {
        "name": "SimpleCNN (CIFAR-10)",
        "description": "The course's 3-conv CNN: conv 32/64/128 with a 2x2 max-pool after each, "
                       "fc 128*4*4 -> 512 -> 10, dropout 0.5.",
        "input_shape": [3, 32, 32],
        "layers": [
            _conv(32, 3, 1, 1, cin=3), R, POOL2,
            _conv(64, 3, 1, 1, cin=32), R, POOL2,
            _conv(128, 3, 1, 1, cin=64), R, POOL2,
            {"type": "flatten"},
            {"type": "linear", "in": 128 * 4 * 4, "out": 512}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "in": 512, "out": 10},
        ],
    },
    "deeper_cnn_cifar10": {
        "name": "Deeper SimpleCNN (BatchNorm, Dropout2d, GAP)",
        "description": "conv 32,32 | 64,64 | 128 with BatchNorm, Dropout2d after each pooled stage, "
                       "global average pooling, fc 128 -> 256 -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [
            _conv(32, 3, 1, 1, cin=3), {"type": "batchnorm2d"}, R,
            _conv(32, 3, 1, 1, cin=32), {"type": "batchnorm2d"}, R,
            POOL2, {"type": "dropout2d", "p": 0.25},
            _conv(64, 3, 1, 1, cin=32), {"type": "batchnorm2d"}, R,
            _conv(64, 3, 1, 1, cin=64), {"type": "batchnorm2d"}, R,
            POOL2, {"type": "dropout2d", "p": 0.25},
            _conv(128, 3, 1, 1, cin=64), {"type": "batchnorm2d"}, R,
            {"type": "globalavgpool"}, {"type": "flatten"},
            {"type": "linear", "in": 128, "out": 256}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "in": 256, "out": 10},
        ],
    },
    "mnist_simple_cnn": {
        "name": "MNIST SimpleCNN",
        "description": "conv 1->8 k3, conv 8->16 k3, 2x2 max-pool after each, fc 16*5*5 -> 10.",
        "input_shape": [1, 28, 28],
        "layers": [
            _conv(8, 3, cin=1), R, POOL2,
            _conv(16, 3, cin=8), R, POOL2,
            {"type": "flatten"},
            {"type": "linear", "in": 16 * 5 * 5, "out": 10},
        ],
    },
    "mnist_no_pool_broken": {
        "name": "MNIST SimpleCNN without pooling (broken)",
        "description": "The same network with the pooling layers removed: fc still expects "
                       "16*5*5 inputs, so the shapes no longer fit. The inspector explains the fix.",
        "input_shape": [1, 28, 28],
        "layers": [
            _conv(8, 3, cin=1), R,
            _conv(16, 3, cin=8), R,
            {"type": "flatten"},
            {"type": "linear", "in": 16 * 5 * 5, "out": 10},
        ],
    },
    "vgg_style": {
        "name": "VGG-style (3 blocks)",
        "description": "Three VGG blocks of two 3x3 convs and a 2x2 max-pool (64, 128, 256), "
                       "then fc 256*4*4 -> 256 -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [
            {"type": "sequential", "name": "block1", "layers": [_conv(64, 3, 1, 1), R, _conv(64, 3, 1, 1), R, POOL2]},
            {"type": "sequential", "name": "block2", "layers": [_conv(128, 3, 1, 1), R, _conv(128, 3, 1, 1), R, POOL2]},
            {"type": "sequential", "name": "block3", "layers": [_conv(256, 3, 1, 1), R, _conv(256, 3, 1, 1), R, POOL2]},
            {"type": "flatten"},
            {"type": "linear", "out": 256}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "out": 10},
        ],
    },
    "small_resnet": {
        "name": "Small ResNet (CIFAR)",
        "description": "A stem conv, six residual basic blocks (16, 32, 64 channels; projection "
                       "shortcuts where the shape changes), global average pooling, fc -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(16), _res(16), _res(16), _res(32, 2), _res(32), _res(64, 2), _res(64),
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 10}],
    },
    "small_plain": {
        "name": "Small plain net (no skips)",
        "description": "The small ResNet's exact depth and widths without skip connections, "
                       "for comparison.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(16), _plain(16), _plain(16), _plain(32, 2), _plain(32), _plain(64, 2),
                   _plain(64), {"type": "globalavgpool"}, {"type": "flatten"},
                   {"type": "linear", "out": 10}],
    },
    "tiny_vgg": {
        "name": "TinyVGG (CNN Explainer)",
        "description": "Two blocks of conv 10 k3 + ReLU twice and a 2x2 max-pool on a 64x64 "
                       "image, fc 10*13*13 -> 10.",
        "input_shape": [3, 64, 64],
        "layers": [
            _conv(10, 3, cin=3), R, _conv(10, 3, cin=10), R, POOL2,
            _conv(10, 3, cin=10), R, _conv(10, 3, cin=10), R, POOL2,
            {"type": "flatten"}, {"type": "linear", "in": 10 * 13 * 13, "out": 10},
        ],
    },
    "shapes_cnn": {
        "name": "Shapes CNN (the default model)",
        "description": "The shipped default model's network: five conv-BN-ReLU layers (24, 48, 64, "
                       "64, 64 channels, 3x3) with two 2x2 max-pools, global average pooling and "
                       "one linear layer. Small and all-conv; its last layer's receptive field "
                       "(34 px) covers a whole shape from every position, so Grad-CAM on it "
                       "peaks on the shape itself.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(24), POOL2, *_cbr(48), POOL2, *_cbr(64), *_cbr(64), *_cbr(64),
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 8}],
    },
}


def preset(name: str) -> Spec:
    """A deep copy of a course preset (so callers may edit it)."""
    if name not in PRESETS:
        raise KeyError(f"No preset {name!r}. Presets: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def walk(layers: list[Layer], fn: Callable[[Layer], None]) -> None:
    """Call ``fn`` on every layer dict, blocks and their contents included."""
    for layer in layers:
        fn(layer)
        if layer.get("type") in BLOCK_TYPES:
            walk(layer.get("layers", []), fn)


# --------------------------------------------------------------------------------------------
# Specs as JSON files, and editing a spec by layer path
# --------------------------------------------------------------------------------------------
MAX_SPEC_BYTES = 1_000_000
MAX_LAYERS = 500
MAX_SIDE = 4096


def validate(spec: Any) -> Spec:
    """Check that ``spec`` is a well-formed spec (structure, types, sizes) and return a
    normalised deep copy. Raises :class:`SpecError` with a message a student understands.
    Whether the *shapes* fit is the inspector's job (:func:`playground.summary.summarize`)."""
    if isinstance(spec, list):
        spec = {"name": "network", "input_shape": [3, 32, 32], "layers": spec}
    if not isinstance(spec, dict):
        raise SpecError("A network spec is a JSON object with \"input_shape\" and \"layers\" "
                        f"(or \"torchvision\"), not a {type(spec).__name__}.")
    spec = copy.deepcopy(spec)
    shape = spec.get("input_shape", [3, 224, 224] if "torchvision" in spec else [3, 32, 32])
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
        raise SpecError(f"\"input_shape\" must be three whole numbers [channels, height, width], "
                        f"got {shape!r}.")
    if not (1 <= shape[0] <= 1024 and 1 <= shape[1] <= MAX_SIDE and 1 <= shape[2] <= MAX_SIDE):
        raise SpecError(f"\"input_shape\" {list(shape)} is out of range: 1-1024 channels and "
                        f"1-{MAX_SIDE} pixels per side.")
    spec["input_shape"] = [int(v) for v in shape]
    if "torchvision" in spec:
        import torchvision

        name = spec["torchvision"]
        if not isinstance(name, str) or name not in torchvision.models.list_models(module=torchvision.models):
            raise SpecError(f"torchvision has no classification model named {name!r}.")
        nc = spec.get("num_classes")
        if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or not 1 <= nc <= 100_000):
            raise SpecError(f"\"num_classes\" must be a whole number from 1 to 100,000, got {nc!r}.")
        return spec
    layers = spec.get("layers")
    if not isinstance(layers, list):
        raise SpecError("A spec needs \"layers\": a list of layer objects such as "
                        "{\"type\": \"conv2d\", \"out\": 16, \"kernel\": 3}.")
    count = 0

    def check(items: list[Any], path: tuple[int, ...]) -> None:
        nonlocal count
        for i, layer in enumerate(items):
            p = (*path, i)
            where = "layer " + ".".join(str(x + 1) for x in p)
            count += 1
            if count > MAX_LAYERS:
                raise SpecError(f"More than {MAX_LAYERS} layers: too big for the inspector.", p)
            if not isinstance(layer, dict):
                raise SpecError(f"{where} must be an object with a \"type\", got {layer!r}.", p)
            t = layer.get("type")
            if t not in LAYER_TYPES:
                raise SpecError(f"{where}: unknown layer type {t!r}. Known types: "
                                f"{', '.join(LAYER_TYPES)}.", p)
            fields = LAYER_TYPES[t]["fields"]
            unknown = [k for k in layer if k not in fields and k not in ("type", "name")]
            if unknown:
                raise SpecError(f"{where} ({t}): unknown field(s) {', '.join(map(repr, unknown))}. "
                                f"A {t} layer has: {', '.join(fields) or 'no fields'}.", p)
            if "name" in layer and (not isinstance(layer["name"], str)
                                    or not layer["name"].isidentifier()):
                raise SpecError(f"{where}: \"name\" must be a Python identifier such as conv1, "
                                f"got {layer['name']!r}.", p)
            for k, v in layer.items():
                if k in ("type", "name", "layers", "shortcut", "activation") or v is None:
                    continue
                if k in ("bias", "ceil_mode"):
                    if not isinstance(v, bool):
                        raise SpecError(f"{where} ({t}): {k} must be true or false, got {v!r}.", p)
                elif k in ("p", "slope"):
                    if not isinstance(v, (int, float)) or isinstance(v, bool) or not (
                            0 <= v <= 1 if k == "p" else -10 <= v <= 10):
                        raise SpecError(f"{where} ({t}): {k} must be a number"
                                        f"{' from 0 to 1' if k == 'p' else ''}, got {v!r}.", p)
                elif k == "padding" and v in ("same", "valid"):
                    continue
                else:
                    vals = v if isinstance(v, (list, tuple)) and len(v) == 2 else [v]
                    low = 0 if k == "padding" else 1
                    if not all(isinstance(x, int) and not isinstance(x, bool) and low <= x <= 10**10
                               for x in vals):
                        raise SpecError(f"{where} ({t}): {k} must be a whole number"
                                        f" >= {low}, got {v!r}.", p)
            if t in BLOCK_TYPES:
                if not isinstance(layer.get("layers", []), list):
                    raise SpecError(f"{where}: a {t} block's \"layers\" must be a list.", p)
                if t == "residual" and layer.get("shortcut", "auto") not in ("auto", "identity", "projection"):
                    raise SpecError(f"{where}: shortcut must be \"auto\", \"identity\" or "
                                    f"\"projection\".", p)
                if t == "residual" and layer.get("activation", "relu") not in (
                        "relu", "gelu", "none", None, "leakyrelu", "tanh", "sigmoid"):
                    raise SpecError(f"{where}: activation must be relu, gelu, leakyrelu, tanh, "
                                    f"sigmoid or none.", p)
                check(layer.get("layers", []), p)

    check(layers, ())
    return spec


def from_json(text: str | bytes) -> Spec:
    """Parse and :func:`validate` a spec from JSON text (an uploaded file)."""
    import json

    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"The file is {len(text):,} bytes; a spec is at most "
                            f"{MAX_SPEC_BYTES:,} bytes.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError("The file is not text (UTF-8): is it really a JSON spec?") from e
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"The text is {len(text):,} characters; a spec is at most {MAX_SPEC_BYTES:,}.")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"Not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from e
    return validate(obj)


def to_json(spec: Spec) -> str:
    """The spec as pretty JSON text (what the page offers to download)."""
    import json

    return json.dumps(spec, indent=2)


def layer_list(spec: Spec, path: tuple[int, ...]) -> list[Layer]:
    """The list that holds the layer at ``path`` (the top-level list, or a block's)."""
    items = spec["layers"]
    for i in path[:-1]:
        items = items[i]["layers"]
    return items


def get_layer(spec: Spec, path: tuple[int, ...] | list[int]) -> Layer:
    path = tuple(path)
    return layer_list(spec, path)[path[-1]]


def set_field(spec: Spec, path: tuple[int, ...] | list[int], field: str, value: Any) -> Spec:
    """A copy of ``spec`` with one field of one layer changed (``value`` None removes it, so it
    is inferred again)."""
    new = copy.deepcopy(spec)
    layer = get_layer(new, tuple(path))
    if value is None:
        layer.pop(field, None)
    else:
        layer[field] = value
    return new


def insert_layer(spec: Spec, path: tuple[int, ...] | list[int], layer: Layer) -> Spec:
    """A copy with ``layer`` inserted at ``path`` (``path[-1]`` may equal the list length)."""
    new = copy.deepcopy(spec)
    path = tuple(path)
    layer_list(new, path).insert(path[-1], copy.deepcopy(layer))
    return new


def remove_layer(spec: Spec, path: tuple[int, ...] | list[int]) -> Spec:
    new = copy.deepcopy(spec)
    path = tuple(path)
    del layer_list(new, path)[path[-1]]
    return new


def move_layer(spec: Spec, path: tuple[int, ...] | list[int], delta: int) -> tuple[Spec, tuple[int, ...]]:
    """A copy with the layer at ``path`` moved ``delta`` places within its list (clamped), and
    the layer's new path."""
    new = copy.deepcopy(spec)
    path = tuple(path)
    items = layer_list(new, path)
    j = max(0, min(len(items) - 1, path[-1] + delta))
    items.insert(j, items.pop(path[-1]))
    return new, (*path[:-1], j)


def new_layer(layer_type: str) -> Layer:
    """A fresh layer of ``layer_type`` with the catalogue's defaults (inferred sizes left out)."""
    if layer_type not in LAYER_TYPES:
        raise SpecError(f"Unknown layer type {layer_type!r}.")
    layer: Layer = {"type": layer_type}
    for k, v in LAYER_TYPES[layer_type]["fields"].items():
        if v is not None and k not in ("bias", "ceil_mode", "dilation", "groups"):
            layer[k] = copy.deepcopy(v)
    return layer


def layer_names(spec: Spec) -> list[tuple[str, tuple[int, ...]]]:
    """``(dotted module name, path)`` of every layer in execution order, as :func:`build` names
    them (works for specs that do not build: names only depend on the structure)."""
    out: list[tuple[str, tuple[int, ...]]] = []
    counters: dict[str, int] = {}

    def go(items: list[Layer], path: tuple[int, ...], prefix: str) -> None:
        for i, layer in enumerate(items):
            t = layer.get("type")
            name = _layer_name(layer, counters)
            full = prefix + name
            out.append((full, (*path, i)))
            if t == "sequential":
                go(layer.get("layers", []), (*path, i), full + ".")
            elif t == "residual":
                go(layer.get("layers", []), (*path, i), full + ".body.")

    go(spec.get("layers", []), (), "")
    return out
