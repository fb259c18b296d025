"""Editing a spec by layer path.

A *path* is the index path of a layer in the nested layer lists: ``(3,)`` is the fourth
top-level layer, ``(3, 1)`` the second layer inside that block. Every edit returns a new spec
and leaves the old one as it was (the page keeps the old one to compare).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from .schema import LAYER_TYPES, LayerSpec, Spec, SpecError, is_block, module_name

Path = tuple[int, ...] | list[int]


def walk(layers: list[LayerSpec], fn: Callable[[LayerSpec], None]) -> None:
    """Call ``fn`` on every layer dict, blocks and their contents included."""
    for layer in layers:
        fn(layer)
        if is_block(layer):
            walk(layer.get("layers", []), fn)


def layer_list(spec: Spec, path: Path) -> list[LayerSpec]:
    """The list that holds the layer at ``path`` (the top-level list, or a block's)."""
    items = spec["layers"]
    for i in tuple(path)[:-1]:
        items = items[i]["layers"]
    return items


def get_layer(spec: Spec, path: Path) -> LayerSpec:
    path = tuple(path)
    return layer_list(spec, path)[path[-1]]


def set_field(spec: Spec, path: Path, field: str, value: Any) -> Spec:
    """A copy of ``spec`` with one field of one layer changed (``value`` None removes it, so it
    takes its default, or is inferred, again)."""
    new = copy.deepcopy(spec)
    layer = get_layer(new, path)
    if value is None:
        layer.pop(field, None)
    else:
        layer[field] = value
    return new


def insert_layer(spec: Spec, path: Path, layer: LayerSpec) -> Spec:
    """A copy with ``layer`` inserted at ``path`` (``path[-1]`` may equal the list length)."""
    new = copy.deepcopy(spec)
    path = tuple(path)
    layer_list(new, path).insert(path[-1], copy.deepcopy(layer))
    return new


def remove_layer(spec: Spec, path: Path) -> Spec:
    new = copy.deepcopy(spec)
    path = tuple(path)
    del layer_list(new, path)[path[-1]]
    return new


def move_layer(spec: Spec, path: Path, delta: int) -> tuple[Spec, tuple[int, ...]]:
    """A copy with the layer at ``path`` moved ``delta`` places within its list (clamped), and
    the layer's new path."""
    new = copy.deepcopy(spec)
    path = tuple(path)
    items = layer_list(new, path)
    j = max(0, min(len(items) - 1, path[-1] + delta))
    items.insert(j, items.pop(path[-1]))
    return new, (*path[:-1], j)


def new_layer(layer_type: str) -> LayerSpec:
    """A fresh layer of ``layer_type`` with the schema's defaults; sizes that are inferred and
    advanced fields (bias, dilation, ...) are left out, so they take their defaults."""
    if layer_type not in LAYER_TYPES:
        raise SpecError(f"Unknown layer type {layer_type!r}.")
    layer: LayerSpec = {"type": layer_type}
    for f in LAYER_TYPES[layer_type].fields:
        if f.default is not None and f.in_new_layer:
            layer[f.name] = copy.deepcopy(f.default)
    return layer


def layer_names(spec: Spec) -> list[tuple[str, tuple[int, ...]]]:
    """``(dotted module name, path)`` of every layer in execution order, as ``build`` names
    them (works for specs that do not build: names only depend on the structure)."""
    out: list[tuple[str, tuple[int, ...]]] = []
    counters: dict[str, int] = {}

    def go(items: list[LayerSpec], path: tuple[int, ...], prefix: str) -> None:
        for i, layer in enumerate(items):
            full = prefix + module_name(layer, counters)
            out.append((full, (*path, i)))
            if is_block(layer):
                go(layer.get("layers", []), (*path, i), f"{full}.{LAYER_TYPES[layer['type']].body}")

    go(spec.get("layers", []), (), "")
    return out
