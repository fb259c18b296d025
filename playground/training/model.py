"""The network a run trains: built from the config's model settings and fitted to the data's
input shape and classes. :func:`model_size` answers the page's "how many parameters, and does it
fit?" on the meta device, with no weights allocated or downloaded."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from .. import code, networks
from ..data import IMAGENET_MEAN, IMAGENET_STD, Dataset
from ..tasks import task as task_of     # the task's network: classify's is build_network below
from .config import RunConfig, TrainingError


@dataclass
class ModelBundle:
    model: nn.Module
    spec: dict[str, Any]
    input_shape: tuple[int, int, int]   # (C, H, W) the network takes
    mean: tuple[float, ...]             # the normalization it was trained with
    std: tuple[float, ...]


class ModelSize(NamedTuple):
    total: int
    trainable: int
    problem: str        # "" when the network fits the data, else why not, in words


def build_network(m: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int, *,
                  pretrained: bool = True) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, the input shape it takes) for the model settings ``m``. ``pretrained``
    False never loads ImageNet weights (counting parameters needs none)."""
    if m.get("torchvision"):
        size = int(m.get("image_size") or max(input_shape[1], 32))
        weights = "DEFAULT" if m.get("pretrained") and pretrained else None
        model = networks.build_torchvision(m["torchvision"], weights=weights, num_classes=num_classes,
                                           freeze=bool(m.get("freeze")))
        spec = {**model.spec, "input_shape": [3, size, size]}  # type: ignore[dict-item]
        model.spec = spec  # type: ignore[assignment]
        return model, spec, (3, size, size)
    if m.get("code"):
        return code.build_for_data(m, input_shape, num_classes)   # pasted PyTorch source
    if "vit" in m:                                                # the tiny ViT and its knobs
        return networks.vit.build_for_data(m["vit"], input_shape, num_classes)
    if m.get("spec"):
        base = m["spec"]
    elif m.get("preset"):
        base = networks.preset(m["preset"])
    else:
        raise TrainingError("The model settings name no preset, spec or torchvision model.")
    spec = networks.adapt(base, input_shape, num_classes)
    model = networks.build(spec)
    out = networks.output_shape(spec)
    if out != (num_classes,):
        raise TrainingError(f"This network gives outputs of shape {out} for a "
                            f"{'x'.join(map(str, input_shape))} image, but the data has "
                            f"{num_classes} classes: it must end in one score per class.")
    return model, spec, tuple(input_shape)  # type: ignore[return-value]


def _match_channels(v: tuple[float, ...], c: int) -> tuple[float, ...]:
    """Per-channel statistics for ``c`` channels (grey statistics repeated for RGB)."""
    v = tuple(v)
    return v if len(v) == c else (v * c)[:c] if len(v) == 1 else v[:c]


def build_model(cfg: RunConfig, ds: Dataset) -> ModelBundle:
    """The network a config asks for, fitted to the dataset's input shape and classes, with the
    normalization it trains with (ImageNet's for pretrained weights, else the data's own)."""
    model, spec, shape = task_of(cfg.task).build_network(cfg.model, ds.input_shape, ds.num_classes)
    if cfg.model.get("torchvision") and cfg.model.get("pretrained"):
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = _match_channels(ds.mean, shape[0]), _match_channels(ds.std, shape[0])
    return ModelBundle(model, spec, shape, tuple(mean), tuple(std))


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; the difference is frozen."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def model_size(m: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> ModelSize:
    """Parameters of the network the model settings ``m`` would build for this data, counted
    on the meta device (no memory, no download), or the reason it does not fit the data."""
    try:
        with torch.device("meta"):
            model, _, _ = build_network(m, tuple(input_shape), num_classes, pretrained=False)
    except (TrainingError, networks.SpecError, KeyError, ValueError, RuntimeError) as e:
        return ModelSize(0, 0, str(e))
    return ModelSize(*param_counts(model), "")
