"""The spec file format's one owner: JSON text in and out, and the checks an untrusted spec
(an upload, pasted text) passes before anything builds it.

A spec is a JSON object::

    {"name": "MNIST SimpleCNN", "input_shape": [1, 28, 28],
     "layers": [{"type": "conv2d", "out": 8, "kernel": 3}, {"type": "relu"}, ...]}

or names a torchvision model: ``{"torchvision": "resnet18", "num_classes": 2, ...}``. Which
fields a layer may have, and their ranges, come from :mod:`.schema`. Whether the *shapes* fit
is the inspector's job (:func:`playground.summary.summarize`).
"""
from __future__ import annotations

import copy
import json
from typing import Any

from . import zoo
from .build import DEFAULT_INPUT
from .schema import LAYER_TYPES, Field, LayerType, Spec, SpecError

MAX_SPEC_BYTES = 1_000_000    # a spec of MAX_LAYERS verbose layers is ~100 KB
MAX_LAYERS = 500              # the inspector's table and diagram stay readable and fast
MAX_SIDE = 4096               # pixels per side of the input
MAX_CHANNELS = 1024
MAX_CLASSES = 100_000
RESERVED = ("type", "name")   # keys every layer may have besides its type's fields


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
    if "name" in layer and (not isinstance(layer["name"], str) or not layer["name"].isidentifier()):
        raise SpecError(f"{where}: \"name\" must be a Python identifier such as conv1, "
                        f"got {layer['name']!r}.", p)
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


def _check_torchvision(spec: Spec) -> None:
    if not zoo.exists(spec["torchvision"]):
        raise SpecError(f"torchvision has no classification model named {spec['torchvision']!r}.")
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
    spec = copy.deepcopy(spec)
    _check_input_shape(spec)
    if "torchvision" in spec:
        _check_torchvision(spec)
        return spec
    if not isinstance(spec.get("layers"), list):
        raise SpecError("A spec needs \"layers\": a list of layer objects such as "
                        "{\"type\": \"conv2d\", \"out\": 16, \"kernel\": 3}.")
    _check_layers(spec["layers"])
    return spec


def from_json(text: str | bytes) -> Spec:
    """Parse and check (:func:`parse_spec`) a spec from JSON text (an uploaded file)."""
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
    return parse_spec(obj)


def to_json(spec: Spec) -> str:
    """The spec as pretty JSON text (what the page offers to download)."""
    return json.dumps(spec, indent=2)
