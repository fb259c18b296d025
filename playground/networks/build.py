"""Specs to modules: ``build(spec)`` returns the ``nn.Module`` a spec describes.

Each layer's module comes from its type's builder in :mod:`.schema`; this file walks the layer
lists, names the modules, and infers the sizes a spec leaves out from the shape that reaches
each layer (measured by PyTorch on the meta device, so no arithmetic is written twice).
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from . import vit, zoo
from .edit import walk
from .schema import LAYER_TYPES, LayerSpec, NeedsInput, Shape, Spec, SpecError, is_block, module_name

DEFAULT_INPUT = (3, 32, 32)   # a spec without "input_shape" (or a bare layer list) is for CIFAR-10


class SpecNet(nn.Sequential):
    """The module built from a spec; keeps the spec it came from in ``.spec`` and, in
    ``.paths``, the spec path (index path into the layer lists) of every named module."""

    spec: Spec
    paths: dict[str, tuple[int, ...]]


def probe(module: nn.Module, in_shape: Shape | None) -> Shape | None:
    """Output shape (without batch) of ``module`` on a meta tensor, or None if it fails."""
    if in_shape is None:
        return None
    try:
        meta = copy.deepcopy(module).to("meta")
        with torch.no_grad():
            out = meta(torch.empty((2, *in_shape), device="meta"))
        return tuple(out.shape[1:])
    except Exception:  # noqa: BLE001 - a failing layer only stops inference, summary explains it
        return None


def _make(layer: LayerSpec, in_shape: Shape | None, path: tuple[int, ...], name: str,
          body: tuple[nn.Sequential, Shape | None] | None = None) -> nn.Module:
    """One module from one layer dict (a block's body already built), errors in words."""
    t = layer.get("type")
    entry = LAYER_TYPES.get(t)
    if entry is None:
        raise SpecError(f"Unknown layer type {t!r}. Known: {', '.join(LAYER_TYPES)}.", path, name)
    try:
        filled = entry.filled(layer)
        return entry.build(filled, in_shape, *body) if body else entry.build(filled, in_shape)
    except NeedsInput as e:
        if e.kind == "unknown":
            raise SpecError(f"Cannot infer the input size of {name}: an earlier layer failed.",
                            path, name) from None
        raise SpecError(f"{name} ({t}) needs an image-shaped input (C, H, W), but receives "
                        f"shape {tuple(in_shape or ())}. Is a flatten too early?", path, name) from None
    except SpecError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise SpecError(f"{name} ({t}): {e}", path, name) from e


def _build_list(layers: list[LayerSpec], in_shape: Shape | None, path: tuple[int, ...],
                counters: dict[str, int], paths: dict[str, tuple[int, ...]],
                prefix: str = "") -> tuple[nn.Sequential, Shape | None]:
    """Build one list of layers; ``paths`` collects ``dotted module name -> spec path`` for
    every layer, blocks included (``prefix`` is the dotted name of the list)."""
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    shape = in_shape
    for i, layer in enumerate(layers):
        p = (*path, i)
        if not isinstance(layer, dict):
            raise SpecError(f"Layer {i} must be a dict with a 'type', got {layer!r}.", p)
        name = module_name(layer, counters)
        if name in mods:
            raise SpecError(f"Two layers are named {name!r}.", p, name)
        full = f"{prefix}{name}"
        paths[full] = p
        body = None
        if is_block(layer):
            inner = layer.get("layers", [])
            if not isinstance(inner, list):
                raise SpecError(f"{name}: 'layers' of a {layer['type']} block must be a list of "
                                "layers.", p, name)
            sub_prefix = f"{full}.{LAYER_TYPES[layer['type']].body}"
            body = _build_list(inner, shape, p, counters, paths, sub_prefix)
        mods[name] = _make(layer, shape, p, name, body)
        # a sequential block is its body: its output shape is known without a second probe
        shape = body[1] if body and mods[name] is body[0] else probe(mods[name], shape)
    return nn.Sequential(mods), shape


def build(spec: Spec | list[LayerSpec]) -> nn.Module:
    """Build the ``nn.Module`` a spec describes (layer spec or torchvision spec)."""
    if isinstance(spec, list):
        spec = {"name": "network", "input_shape": list(DEFAULT_INPUT), "layers": spec}
    if "vit" in spec:       # a tiny ViT (torchvision's VisionTransformer, every knob in the spec)
        return vit.build_vit(spec)
    if "torchvision" in spec:
        return zoo.build_torchvision(spec["torchvision"], weights=spec.get("weights"),
                                     num_classes=spec.get("num_classes"),
                                     freeze=bool(spec.get("freeze")))
    shape = tuple(int(x) for x in spec.get("input_shape", DEFAULT_INPUT))
    if not isinstance(spec.get("layers", []), list):
        raise SpecError("'layers' must be a list of layer dicts.")
    paths: dict[str, tuple[int, ...]] = {}
    seq, _ = _build_list(spec.get("layers", []), shape, (), {}, paths)
    net = SpecNet(OrderedDict(seq.named_children()))
    net.spec = copy.deepcopy(spec)
    net.paths = paths
    return net


def output_shape(spec: Spec) -> Shape | None:
    """Output shape (without batch) of a layer spec, on the meta device; None if it fails."""
    return probe(build(spec), tuple(spec.get("input_shape", DEFAULT_INPUT)))


def num_classes(spec: Spec) -> int | None:
    if "torchvision" in spec:
        return spec.get("num_classes") or zoo.IMAGENET_CLASSES
    out = output_shape(spec)
    return int(out[0]) if out and len(out) == 1 else None


def _clear_inferred(layer: LayerSpec) -> None:
    """Drop the sizes the schema infers from the incoming shape."""
    entry = LAYER_TYPES.get(layer.get("type"))
    for f in entry.fields if entry else ():
        if f.inferred:
            layer.pop(f.name, None)


def adapt(spec: Spec, input_shape: tuple[int, int, int] | list[int], classes: int) -> Spec:
    """A copy of ``spec`` fitted to a dataset: its input shape, and its last linear layer
    giving ``classes`` outputs. Explicit input sizes (conv ``in``, linear ``in``, batch-norm
    ``features``) are cleared so they are inferred for the new input; the structure is kept."""
    new = copy.deepcopy(spec)
    new["input_shape"] = [int(x) for x in input_shape]
    if "vit" in new:
        return vit.adapt_vit(new, input_shape, classes)
    if "torchvision" in new:
        new["num_classes"] = int(classes)
        return new
    walk(new["layers"], _clear_inferred)
    linears: list[LayerSpec] = []
    walk(new["layers"], lambda layer: linears.append(layer) if layer.get("type") == "linear" else None)
    if not linears:
        raise SpecError("This network has no linear layer to give one score per class.")
    linears[-1]["out"] = int(classes)       # the last one, in execution order, is the head
    return new
