"""The spec file format's one owner: JSON text in and out, and the checks an untrusted spec
(an upload, pasted text) passes before anything builds it.

A spec is a JSON object::

    {"name": "MNIST SimpleCNN", "input_shape": [1, 28, 28],
     "layers": [{"type": "conv2d", "out": 8, "kernel": 3}, {"type": "relu"}, ...]}

or names a torchvision model: ``{"torchvision": "resnet18", "num_classes": 2, ...}``. Which
fields a layer may have, and their ranges, come from :mod:`.schema`. Whether the *shapes* fit
is the inspector's job (:func:`playground.summary.summarize`).

Untrusted text enters through :func:`from_json` only (a checkpoint's spec through
:func:`validate`, the same checks): nesting, digits, names, layer count and input shape are
checked on the data, then parameters and activation memory are measured on the meta device
against the budgets below, before anything real is built. Every refusal is a SpecError.
"""
from __future__ import annotations

import copy
import json
import keyword
import math
from typing import Any

import torch
from torch import nn

from . import vit, zoo
from .build import DEFAULT_INPUT, SpecNet, build
from .schema import LAYER_TYPES, Field, LayerType, Spec, SpecError, is_block

MAX_SPEC_BYTES = 1_000_000    # a spec of MAX_LAYERS verbose layers is ~100 KB
MAX_LAYERS = 500              # the inspector's table and diagram stay readable and fast
MAX_SIDE = 4096               # pixels per side of the input
MAX_CHANNELS = 1024
MAX_CLASSES = 100_000
MAX_NESTING = 16              # blocks inside blocks; a ResNet needs 2, Python recursion ~300
MAX_JSON_DEPTH = 4 * MAX_NESTING + 8   # each block level is 2 JSON levels (object, list)
MAX_INT_DIGITS = 12           # digits of any whole number in spec text (fields stop at 10**10)
MAX_NAME_CHARS = 200          # a spec's "name" (free text; exported as sanitised text)
MAX_IDENT_CHARS = 64          # a layer's name (a Python identifier) or a torchvision weights name
MAX_PARAMS = 200_000_000      # vgg16 has 138 M; two 2 GB linear layers have 1,000 M
MAX_ACTIVATION_BYTES = 2 * 2**30   # float32 outputs of every layer for ONE image, input included
MAX_BUDGET_TRIES = 8          # a spec that fails to build is sized on what builds (one try each)
RESERVED = ("type", "name")   # keys every layer may have besides its type's fields
# names a layer may not take: the attributes of the module it becomes an attribute of
_TAKEN = frozenset(dir(SpecNet)) | frozenset(dir(nn.Sequential())) | {"spec", "paths"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _value_error(f: Field, v: Any) -> str | None:
    """Why ``v`` is not a valid value of field ``f`` (None when it is)."""
    if v is None or f.kind == "layers":
        return None                      # None = the default; block lists are checked by _check
    if f.kind == "bool":
        return None if isinstance(v, bool) else "must be true or false"
    if f.kind == "choice":
        return None if v in f.choices else f"must be one of {', '.join(f.choices)}"
    if f.kind == "float":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and f.low <= v <= f.high
        return None if ok else f"must be a number from {f.low:g} to {f.high:g}"
    if v in f.choices:                   # words an int field accepts, e.g. padding "same"
        return None
    vals = v if isinstance(v, (list, tuple)) and len(v) == 2 else [v]
    if all(_is_int(x) and f.low <= x <= f.high for x in vals):
        return None
    return f"must be a whole number >= {f.low}"


def _check_layer(layer: Any, where: str, p: tuple[int, ...]) -> LayerType:
    if not isinstance(layer, dict):
        raise SpecError(f"{where} must be an object with a \"type\", got {layer!r}.", p)
    t = layer.get("type")
    if t not in LAYER_TYPES:
        raise SpecError(f"{where}: unknown layer type {t!r}. Known types: "
                        f"{', '.join(LAYER_TYPES)}.", p)
    entry = LAYER_TYPES[t]
    fields = {f.name: f for f in entry.fields}
    unknown = [k for k in layer if k not in fields and k not in RESERVED]
    if unknown:
        raise SpecError(f"{where} ({t}): unknown field(s) {', '.join(map(repr, unknown))}. "
                        f"A {t} layer has: {', '.join(fields) or 'no fields'}.", p)
    name = layer.get("name")
    if "name" in layer and (not isinstance(name, str) or not name.isidentifier() or len(name) > MAX_IDENT_CHARS
                            or keyword.iskeyword(name)):
        raise SpecError(f"{where}: \"name\" must be a Python identifier such as conv1, "
                        f"got {str(name)[:80]!r}.", p)
    if name in _TAKEN or (isinstance(name, str) and name.startswith("_")):
        raise SpecError(f"{where}: the name {name!r} is taken by PyTorch's nn.Module (it has a "
                        f"method or attribute of that name); choose another, such as conv1.", p)
    for k, f in fields.items():
        why = _value_error(f, layer.get(k))
        if why:
            raise SpecError(f"{where} ({t}): {k} {why}, got {layer[k]!r}.", p)
    if entry.is_block and not isinstance(layer.get("layers", []), list):
        raise SpecError(f"{where}: a {t} block's \"layers\" must be a list.", p)
    return entry


def _check_layers(items: list[Any], path: tuple[int, ...] = (), count: int = 0) -> int:
    """Check every layer, blocks' contents included; returns how many there are so far (at
    most MAX_LAYERS)."""
    if len(path) > MAX_NESTING:
        raise SpecError(f"Blocks are nested more than {MAX_NESTING} deep.", path)
    for i, layer in enumerate(items):
        p = (*path, i)
        count += 1
        if count > MAX_LAYERS:
            raise SpecError(f"More than {MAX_LAYERS} layers: too big for the inspector.", p)
        entry = _check_layer(layer, "layer " + ".".join(str(x + 1) for x in p), p)
        if entry.is_block:
            count = _check_layers(layer.get("layers", []), p, count)
    return count


def _check_input_shape(spec: Spec) -> None:
    default = zoo.IMAGENET_INPUT if "torchvision" in spec else DEFAULT_INPUT
    shape = spec.get("input_shape", list(default))
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(map(_is_int, shape)):
        raise SpecError(f"\"input_shape\" must be three whole numbers [channels, height, width], "
                        f"got {shape!r}.")
    if not (1 <= shape[0] <= MAX_CHANNELS and 1 <= shape[1] <= MAX_SIDE and 1 <= shape[2] <= MAX_SIDE):
        raise SpecError(f"\"input_shape\" {list(shape)} is out of range: 1-{MAX_CHANNELS} channels "
                        f"and 1-{MAX_SIDE} pixels per side.")
    spec["input_shape"] = [int(v) for v in shape]


def _check_depth(obj: Any) -> None:
    """Refuse objects nested deeper than MAX_JSON_DEPTH, without recursing (so a structure
    100,000 deep cannot overflow the stack here or in copy/json later)."""
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > MAX_JSON_DEPTH:
            raise SpecError(f"The spec is nested more than {MAX_JSON_DEPTH} levels deep; a "
                            f"network may nest blocks at most {MAX_NESTING} deep.")
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend((v, d + 1) for v in o)


def _check_torchvision(spec: Spec) -> None:
    if not isinstance(spec["torchvision"], str) or not zoo.exists(spec["torchvision"]):
        raise SpecError(f"torchvision has no classification model named "
                        f"{str(spec['torchvision'])[:80]!r}.")
    w = spec.get("weights")
    if w is not None and not (isinstance(w, str) and len(w) <= MAX_IDENT_CHARS
                              and w.replace("_", "").replace(".", "").isalnum()):
        raise SpecError(f"\"weights\" must be null, \"DEFAULT\" or a torchvision weights "
                        f"name such as IMAGENET1K_V1, got {str(w)[:80]!r}.")
    nc = spec.get("num_classes")
    if nc is not None and (not _is_int(nc) or not 1 <= nc <= MAX_CLASSES):
        raise SpecError(f"\"num_classes\" must be a whole number from 1 to {MAX_CLASSES:,}, "
                        f"got {nc!r}.")


def parse_spec(spec: Any) -> Spec:
    """Check that ``spec`` (untrusted: an upload, pasted JSON) is a well-formed spec (structure,
    types, sizes) and return a normalised deep copy. Raises :class:`SpecError` with a message a
    student understands. A bare list of layers is a spec for a CIFAR-sized input."""
    if isinstance(spec, list):
        spec = {"name": "network", "input_shape": list(DEFAULT_INPUT), "layers": spec}
    if not isinstance(spec, dict):
        raise SpecError("A network spec is a JSON object with \"input_shape\" and \"layers\" "
                        f"(or \"torchvision\"), not a {type(spec).__name__}.")
    _check_depth(spec)
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_CHARS):
        raise SpecError(f"\"name\" must be text of at most {MAX_NAME_CHARS} characters.")
    spec = copy.deepcopy(spec)
    _check_input_shape(spec)
    if "vit" in spec:            # a tiny ViT: its knobs, classes and input checked
        vit.check_spec(spec)
        return spec
    if "torchvision" in spec:
        _check_torchvision(spec)
        return spec
    if not isinstance(spec.get("layers"), list):
        raise SpecError("A spec needs \"layers\": a list of layer objects such as "
                        "{\"type\": \"conv2d\", \"out\": 16, \"kernel\": 3}.")
    _check_layers(spec["layers"])
    return spec


def cost(spec: Spec) -> tuple[int, int, tuple[int, ...] | None]:
    """``(parameters, activation bytes, output shape)`` of a checked spec, measured on the meta
    device (nothing allocated): the activation bytes are float32 outputs of every leaf layer
    for one image, input included; the output shape is None when the network does not run on
    its input (the inspector explains why). Raises SpecError when it does not build."""
    shape = tuple(spec["input_shape"])
    with torch.device("meta"):
        net = build({**spec, "weights": None} if "torchvision" in spec else spec)
    net.eval()   # batch-norm in training mode refuses a batch of one image at 1x1
    params = sum(p.numel() for p in net.parameters())
    total = [math.prod(shape)]

    def count(_m: nn.Module, _i: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out.numel()
    hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            out: tuple[int, ...] | None = tuple(net(torch.empty((1, *shape), device="meta")).shape[1:])
    except Exception:  # noqa: BLE001 - a shape error: the layers before it are counted
        out = None
    finally:
        for h in hooks:
            h.remove()
    return params, total[0] * 4, out


def _built_part(layers: list[Any], path: tuple[int, ...]) -> list[Any]:
    """The layers ``build`` made before it failed at ``path``: those before it, and a failing
    block's body (as a plain sequential block, whose builder cannot fail)."""
    head = list(layers[:path[0]])
    if path[0] < len(layers) and is_block(layers[path[0]]):
        layer = layers[path[0]]
        inner = layer.get("layers", [])
        body = _built_part(inner, path[1:]) if len(path) > 1 else inner
        head.append({"type": "sequential", **({"name": layer["name"]} if "name" in layer else {}),
                     "layers": body})
    return head


def check_budget(spec: Spec) -> None:
    """Refuse a checked spec whose parameters or activation memory (:func:`cost`) are over
    MAX_PARAMS / MAX_ACTIVATION_BYTES. A spec that does not build is measured on the part
    ``build`` makes before it fails (what a real build would allocate)."""
    part = spec
    for _ in range(MAX_BUDGET_TRIES):
        try:
            params, act, _ = cost(part)
            break
        except SpecError as e:
            if "torchvision" in part or "vit" in part or not e.path:
                return                      # failed before building any layer
            part = {**part, "layers": _built_part(part["layers"], e.path)}
    else:
        raise SpecError("This network does not build, and what it would build cannot be sized.")
    if params > MAX_PARAMS:
        raise SpecError(f"This network has {params:,} parameters; the limit here is "
                        f"{MAX_PARAMS:,} (vgg16 has 138 million).")
    if act > MAX_ACTIVATION_BYTES:
        c, h, w = spec["input_shape"]
        raise SpecError(f"At its input of {c}x{h}x{w} this network's layer outputs take "
                        f"{act / 2**30:.1f} GB for a single image; the limit is "
                        f"{MAX_ACTIVATION_BYTES / 2**30:.0f} GB. Use a smaller input size.")


def validate(spec: Any) -> Spec:
    """:func:`parse_spec` and :func:`check_budget`: what every untrusted spec passes (spec
    text through :func:`from_json`, a checkpoint's spec) before anything builds it."""
    spec = parse_spec(spec)
    check_budget(spec)
    return spec


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise SpecError(f"A number with {len(text):,} digits: whole numbers in a spec have at "
                        f"most {MAX_INT_DIGITS} digits.")
    return int(text)


def _parse_constant(text: str) -> float:
    raise SpecError(f"{text} is not a number a spec may hold.")


def from_json(text: str | bytes) -> Spec:
    """Parse and check (:func:`validate`) a spec from JSON text (an uploaded file): the one
    entry point for spec text. Anything wrong raises :class:`SpecError`."""
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
        obj = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except json.JSONDecodeError as e:
        raise SpecError(f"Not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from e
    except RecursionError as e:
        raise SpecError(f"The spec is nested too deep; a network may nest blocks at most "
                        f"{MAX_NESTING} deep.") from e
    except ValueError as e:  # SpecError from the hooks, or numbers Python refuses
        if isinstance(e, SpecError):
            raise
        raise SpecError(f"A number in the spec cannot be read ({str(e)[:100]}).") from e
    return validate(obj)


def to_json(spec: Spec) -> str:
    """The spec as pretty JSON text (what the page offers to download)."""
    return json.dumps(spec, indent=2)
