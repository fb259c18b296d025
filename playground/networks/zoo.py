"""torchvision's classifiers: the one catalogue of the ones this app offers, and building them.

:data:`ZOO` says, for each model, its short label and where it is offered: as a ready ImageNet
classifier (the model picker), for transfer learning (the training page) and for inspection
(the network inspector). Its builder and weights enum are torchvision's own registry's, looked
up by the same name (``get_model``, ``get_model_weights``: see :func:`torchvision_weights`), so
they are never written twice. Any other classifier torchvision has can still be built by name
(:func:`exists` says which).

torchvision is imported on first use: it costs about a second, and most pages never need it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from .schema import SpecError

Use = Literal["imagenet", "transfer", "inspect"]
IMAGENET_CLASSES = 1000
IMAGENET_INPUT = (3, 224, 224)


class WeightsUnavailable(RuntimeError):
    """Pretrained weights could not be downloaded (usually: no internet)."""


@dataclass(frozen=True)
class ZooModel:
    name: str                   # torchvision's name for it (torchvision.models.get_model)
    label: str                  # short label for pickers
    uses: tuple[Use, ...]       # where the app offers it


ZOO: dict[str, ZooModel] = {m.name: m for m in [
    ZooModel("resnet18", "ResNet-18", ("imagenet", "transfer", "inspect")),
    ZooModel("resnet34", "ResNet-34", ("transfer",)),
    ZooModel("resnet50", "ResNet-50", ("imagenet", "transfer", "inspect")),
    ZooModel("vgg16", "VGG-16", ("transfer", "inspect")),
    ZooModel("mobilenet_v2", "MobileNetV2", ("transfer", "inspect")),
    ZooModel("mobilenet_v3_small", "MobileNetV3 small", ("imagenet", "transfer")),
    ZooModel("efficientnet_b0", "EfficientNet-B0", ("imagenet", "transfer", "inspect")),
    ZooModel("convnext_tiny", "ConvNeXt tiny", ("imagenet", "inspect")),
    ZooModel("vit_b_16", "ViT-B/16", ("imagenet", "inspect")),
    ZooModel("vit_b_32", "ViT-B/32", ("inspect",)),
    ZooModel("swin_t", "Swin-T", ("inspect",)),
    ZooModel("alexnet", "AlexNet", ()),
    ZooModel("densenet121", "DenseNet-121", ()),
    ZooModel("squeezenet1_0", "SqueezeNet 1.0", ()),
    ZooModel("regnet_y_400mf", "RegNetY-400MF", ()),
]}


def names(use: Use | None = None) -> list[str]:
    """The catalogue's model names, in catalogue order; only those offered for ``use`` if given."""
    return [m.name for m in ZOO.values() if use is None or use in m.uses]


def exists(name: str) -> bool:
    """Whether torchvision has a classification model called ``name`` (catalogued or not)."""
    import torchvision

    return isinstance(name, str) and name in torchvision.models.list_models(module=torchvision.models)


def torchvision_weights(name: str, weights: str | None = "DEFAULT") -> Any:
    """The torchvision ``WeightsEnum`` member for ``name`` (None when ``weights`` is falsy)."""
    import torchvision

    if not weights:
        return None
    enum = torchvision.models.get_model_weights(name)
    return enum.DEFAULT if weights == "DEFAULT" else enum[weights]


def head_path(model: nn.Module) -> str:
    """Dotted path of the final classification layer of a torchvision classifier."""
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            last = name
    if last is None:  # pragma: no cover
        raise SpecError("No classification layer found.")
    return last


def head_outputs(model: nn.Module) -> int:
    """How many classes the classifier's head gives."""
    mod = model.get_submodule(head_path(model))
    return mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels  # type: ignore[union-attr]


def replace_head(model: nn.Module, classes: int) -> str:
    """Replace the last Linear (or the 1x1 conv of SqueezeNet) with a fresh one for ``classes``.
    Returns the dotted path of the new head."""
    path = head_path(model)
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, attr)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, classes)
    else:
        new = nn.Conv2d(old.in_channels, classes, old.kernel_size, old.stride)
    setattr(parent, attr, new)
    return path


def freeze_backbone(model: nn.Module, head: str | None = None, frozen: bool = True) -> None:
    """Freeze (or unfreeze) every parameter except the head's. Training puts the model in
    :func:`train_mode`, which keeps the frozen normalisation layers' statistics frozen too."""
    head = head or head_path(model)
    for name, p in model.named_parameters():
        p.requires_grad = (not frozen) or name.startswith(head + ".")


def is_frozen_norm(module: nn.Module) -> bool:
    """A normalisation layer with running statistics (BatchNorm, tracking InstanceNorm) whose
    own parameters are all frozen."""
    own = list(module.parameters(recurse=False))
    return (getattr(module, "running_mean", None) is not None and bool(own)
            and not any(p.requires_grad for p in own))


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that frozen normalisation layers (:func:`is_frozen_norm`) stay
    in eval mode: in train mode a BatchNorm updates its running mean and variance on every batch
    even when its weights are frozen, and normalises with the batch's statistics, so a "frozen"
    pretrained backbone would drift. Once unfrozen, they train again. Call it at every epoch."""
    model.train()
    for module in model.modules():
        if is_frozen_norm(module):
            module.eval()
    return model


def weights_file(w: Any) -> Path:
    """Where torchvision keeps (and looks for) the weights file of ``w``: torch's hub cache,
    ``$TORCH_HOME/hub/checkpoints/`` (default ``~/.cache/torch``), under torchvision's own file
    name. A file placed there is loaded without a download (the hash is checked on download)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / w.url.rsplit("/", 1)[-1]


def _load_weights(model: nn.Module, name: str, w: Any) -> None:
    try:
        state = w.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001 - URLError, socket errors, hash mismatch ...
        raise WeightsUnavailable(
            f"Could not download the pretrained weights for {name} ({weights_file(w).name}). You "
            f"seem to be offline. Connect once to download them, or copy {weights_file(w).name} "
            f"into {weights_file(w).parent} (download it from {w.url} on another computer). "
            f"Detail: {type(e).__name__}: {e}") from e
    model.load_state_dict(state)


def build_torchvision(name: str, weights: str | None = None, num_classes: int | None = None,
                      freeze: bool = False) -> nn.Module:
    """A torchvision classifier by name. ``weights="DEFAULT"`` loads ImageNet weights (downloaded
    once into torch's hub cache); offline this raises :class:`WeightsUnavailable` with what to do.
    ``num_classes`` replaces the head; ``freeze`` freezes everything but the head."""
    import torchvision

    if not exists(name):
        raise SpecError(f"torchvision has no classification model named {name!r}.")
    w = torchvision_weights(name, weights)
    model = torchvision.models.get_model(name, weights=None)
    if w is not None:
        _load_weights(model, name, w)
    if num_classes is not None and num_classes != head_outputs(model):
        head = replace_head(model, int(num_classes))
    else:
        head = head_path(model)
    if freeze:
        freeze_backbone(model, head)
    model.spec = {"name": name, "torchvision": name, "weights": weights,  # type: ignore[assignment]
                  "num_classes": num_classes or head_outputs(model), "freeze": bool(freeze),
                  "input_shape": list(IMAGENET_INPUT)}
    return model
