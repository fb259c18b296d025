"""Semantic segmentation: a class for every pixel. Its data (the shapes with their exact masks,
or a learner's zip of ``images/`` and ``masks/``), its network (a small U-Net), its losses
(cross-entropy, Dice, or both), its metrics (torchmetrics' mIoU and Dice, never hand-written)
and its prediction format (a mask and the pixels of each class)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataError, Dataset, data_config, shapes_val_count
from ..data.shapes import load_shape_masks
from ..networks.unet import DEFAULTS as UNET_DEFAULTS
from ..networks.unet import UNet, UNetError

Progress = Callable[[str, float], None] | None
DICE_SMOOTH = 1.0       # added to both sides of the soft Dice ratio: a class absent from a batch
# and from its prediction scores 1, not 0/0


# --------------------------------------------------------------------------------------------
# Losses: logits (N, classes, H, W) and int64 targets (N, H, W) -> a scalar
# --------------------------------------------------------------------------------------------
def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """1 - the soft Dice score, averaged over the classes (background included): per class,
    2 * sum(p * t) / (sum(p) + sum(t)) over the batch's pixels, with p the softmax probability
    and t the one-hot target. Differentiable in every logit; insensitive to how rare a class is,
    the reason it is paired with cross-entropy when objects are small."""
    p = torch.softmax(logits.float(), dim=1)                                   # (N, C, H, W)
    t = F.one_hot(target, p.shape[1]).permute(0, 3, 1, 2).to(p.dtype)          # (N, C, H, W)
    inter = (p * t).sum(dim=(0, 2, 3))                                         # (C,)
    total = p.sum(dim=(0, 2, 3)) + t.sum(dim=(0, 2, 3))                        # (C,)
    return 1 - ((2 * inter + smooth) / (total + smooth)).mean()


def ce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + Dice, equally weighted: per-pixel gradients early on, overlap at the end."""
    return F.cross_entropy(logits, target) + dice_loss(logits, target)


# name -> (label, loss function); the page's picker and the CLI's --loss read this
LOSSES: dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
    "ce": ("Cross-entropy", F.cross_entropy),
    "dice": ("Dice", dice_loss),
    "ce+dice": ("Cross-entropy + Dice", ce_dice_loss),
}
DEFAULT_LOSS = "ce+dice"   # the textbook loop; Dice alone learns the small shapes late


def make_loss(name: str = DEFAULT_LOSS, **_options: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function called ``name``; DataError naming the known ones otherwise."""
    if name not in LOSSES:
        raise DataError(f"Unknown segmentation loss {name!r}; choose {', '.join(LOSSES)}.")
    return LOSSES[name][1]


# --------------------------------------------------------------------------------------------
# Metrics, from torchmetrics
# --------------------------------------------------------------------------------------------
def classes_of(logits: torch.Tensor) -> torch.Tensor:
    """The predicted class of every pixel, int64 (N, H, W), of logits (N, classes, H, W):
    ``max(1).indices``, the same classes as ``argmax(1)`` (the first of equal scores) in a
    fraction of the time: on the CPU, argmax over the class dimension of a (32, 9, 32, 32) batch
    took 10.9 ms against 0.6 ms (torch 2.14, 1 thread), ~10% of a training step's time."""
    return logits.max(1).indices


def right(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """int64 [pixels right, pixels]: each pixel's predicted class against the mask's (the
    loop's train_acc, ``Task.right``)."""
    return torch.stack([(classes_of(out) == target).sum(), torch.tensor(target.numel(), device=target.device)])


def _iou_metric():
    """torchmetrics' per-class MeanIoU that also gives the mean from the same state (its
    ``score``, the IoUs summed per class over the images, and ``num_batches``, the (image, class)
    pairs counted per class): sum / count is exactly ``MeanIoU(per_class=False)``'s figure, for
    one metric's update instead of two. ``compute()`` runs on the state summed over torchrun's
    ranks (torchmetrics syncs it around ``compute``)."""
    from torchmetrics.segmentation import MeanIoU   # ~0.5 s: only when used

    class PerClassAndMeanIoU(MeanIoU):
        def compute(self) -> torch.Tensor:                                       # (classes + 1,)
            mean = (self.score.sum() / self.num_batches.sum()).reshape(1)
            return torch.cat([super().compute(), mean.to(self.score.dtype)])

    return PerClassAndMeanIoU


class SegmentMetrics:
    """Validation metrics of a segmentation network, accumulated over batches with torchmetrics:
    ``miou`` (:class:`torchmetrics.segmentation.MeanIoU`: per image, the IoU of every class that
    is in the target or the prediction, averaged over those (image, class) pairs), ``dice``
    (:class:`~torchmetrics.segmentation.DiceScore`, macro over the classes present, per image,
    then the mean) and ``iou_per_class`` (per class, over the images it appears in; None for a
    class never seen). Background is a class, as in Pascal VOC's mIoU. ``miou`` and
    ``iou_per_class`` come from one MeanIoU's state (:func:`_iou_metric`)."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        from torchmetrics.segmentation import DiceScore

        kw = {"num_classes": int(num_classes), "input_format": "index"}
        self.num_classes = int(num_classes)
        self.iou = _iou_metric()(per_class=True, **kw).to(device)
        self.dice = DiceScore(average="macro", **kw).to(device)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """One batch: logits (N, classes, H, W) (or predicted classes (N, H, W)), target (N, H, W)."""
        pred = classes_of(logits) if logits.dim() == 4 else logits
        self.iou.update(pred, target)
        self.dice.update(pred, target)

    def compute(self) -> dict[str, Any]:
        *per, miou = self.iou.compute().tolist()
        return {"miou": miou, "dice": float(self.dice.compute()),
                "iou_per_class": [None if v < 0 else float(v) for v in per]}


def metrics(num_classes: int, device: torch.device | str = "cpu") -> SegmentMetrics:
    return SegmentMetrics(num_classes, device)


# --------------------------------------------------------------------------------------------
# Data, network, predictions
# --------------------------------------------------------------------------------------------
def load_data(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """A segmentation :class:`Dataset` (``train_y`` / ``val_y``: int64 (N, H, W) masks): the
    shapes (``{"name": "shapes", ...}``, the catalogue's defaults) or a learner's zip or folder
    of ``images/`` and ``masks/`` (``{"name": "zip", "path": ...}``)."""
    name = str(cfg.get("name", "shapes")).lower()
    if name == "shapes":
        return load_shape_masks({**data_config("shapes"), **cfg})
    if name in ("zip", "folder"):
        from .masks import load_masks

        return load_masks(cfg, progress)
    raise DataError(f"Segmentation trains on the shapes or on your zip of images/ and masks/, "
                    f"not on {name!r}.")


# A segment run's own starting numbers (Task.run_defaults -> RunConfig.for_task: the CLI's
# `train --task segment` and the page's form), over RunConfig's, and its U-Net: the textbook
# loop's depth 2 and width 12, with the image's context on (networks/unet.py). Measured on the
# shapes at 32 px, 1 thread, val mIoU by seed (the CLI's --seed: data and training) 0 / 1 / 2:
# without the context, 9 epochs, 0.931 / 0.734 / 0.774; with it, 9 epochs 0.971 / 0.970 on seeds
# 1 / 2, and 6 epochs (these defaults) 0.936 / 0.949 / 0.943 (seeds 3 / 4: 0.937 / 0.946).
# What held the U-Net back was not the shapes' edges but whole patches of a second shape class
# inside a shape (41% of seed 1's validation images, ~28 pixels each, 97% of
# them inside the true mask), which each image's mIoU counts at IoU 0 for the absent class; the
# class gate lets the whole image veto such a class. No knob of the plain U-Net closed that gap
# (seed 1, 9 epochs, unless named): batch 16 to 5e-3 0.820, batch 8 to 3e-3 0.839, warm-up +
# cosine 0.747, a per-image Dice 0.694, width 8 for 16 epochs 0.835, depth 3 0.681, no skips
# 0.878, 12 epochs 0.873; the textbook loop with torch seed 1 ends at 0.82 after 15 epochs.
DEFAULT_MODEL: dict[str, Any] = {"unet": {"width": 12, "depth": 2, "context": True}}   # skips: the U-Net's own
RUN_DEFAULTS: dict[str, Any] = {"epochs": 6, "lr": 1e-2,
                                "data": {"n_train": 3000, "n_val": shapes_val_count(3000)}}


def build_network(m: dict[str, Any], input_shape: tuple[int, int, int],
                  num_classes: int) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, input shape it takes) of a model config ``{"unet": {"width": 16, "depth":
    3, "skips": true, "context": true}}`` (knobs left out take the U-Net's defaults, so a
    checkpoint from before the context knob rebuilds without it) for this data. The spec names
    every knob, so a checkpoint rebuilds the same network; the U-Net takes any image size."""
    if "unet" not in m:
        raise DataError("A segmentation run needs a segmentation network (the U-Net); "
                        f"this model config has {', '.join(m) or 'nothing'}.")
    knobs = dict(m.get("unet") or {})
    unknown = set(knobs) - set(UNET_DEFAULTS)
    if unknown:
        raise DataError(f"The U-Net has no knob {', '.join(sorted(unknown))}; its knobs are "
                        "width, depth, skips and context.")
    knobs = {**UNET_DEFAULTS, **knobs}
    try:
        model = UNet(int(input_shape[0]), int(num_classes), **knobs)
    except UNetError as e:
        raise DataError(str(e)) from e
    spec = {"unet": knobs, "input_shape": list(input_shape), "num_classes": int(num_classes)}
    return model, spec, tuple(input_shape)  # type: ignore[return-value]


def predict(logits: torch.Tensor, class_names: list[str]) -> list[dict[str, Any]]:
    """Per image of logits (N, classes, H, W): ``{"mask": int64 (H, W) class per pixel,
    "pixels": {class name: pixel count}}`` (classes with no pixel left out)."""
    masks = classes_of(logits).cpu()                                           # (N, H, W)
    out = []
    for m in masks:
        counts = torch.bincount(m.flatten(), minlength=len(class_names)).tolist()
        out.append({"mask": m, "pixels": {c: n for c, n in zip(class_names, counts) if n}})
    return out


def epoch_view(logits: torch.Tensor) -> dict[str, Any]:
    """The Training page's picture of an epoch (``Task.epoch_view``): the predicted class of
    every pixel of the strip, uint8 (K, H, W)."""
    return {"pred": classes_of(logits).to(torch.uint8).cpu().numpy()}
