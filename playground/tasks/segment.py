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
class SegmentMetrics:
    """Validation metrics of a segmentation network, accumulated over batches with torchmetrics:
    ``miou`` (:class:`torchmetrics.segmentation.MeanIoU`: per image, the IoU of every class that
    is in the target or the prediction, averaged over those (image, class) pairs), ``dice``
    (:class:`~torchmetrics.segmentation.DiceScore`, macro over the classes present, per image,
    then the mean) and ``iou_per_class`` (per class, over the images it appears in; None for a
    class never seen). Background is a class, as in Pascal VOC's mIoU."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        from torchmetrics.segmentation import DiceScore, MeanIoU   # ~0.5 s: only when used

        kw = {"num_classes": int(num_classes), "input_format": "index"}
        self.num_classes = int(num_classes)
        self.miou = MeanIoU(**kw).to(device)
        self.per_class = MeanIoU(per_class=True, **kw).to(device)
        self.dice = DiceScore(average="macro", **kw).to(device)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """One batch: logits (N, classes, H, W) (or predicted classes (N, H, W)), target (N, H, W)."""
        pred = logits.argmax(1) if logits.dim() == 4 else logits
        for m in (self.miou, self.per_class, self.dice):
            m.update(pred, target)

    def compute(self) -> dict[str, Any]:
        per = self.per_class.compute().tolist()
        return {"miou": float(self.miou.compute()), "dice": float(self.dice.compute()),
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
# `train --task segment` and the page's form), over RunConfig's, and its U-Net's width. Measured on
# the shapes at 32 px, seed 0, 1 thread on a shared 2-core box (load ~2.5), val mIoU by epoch:
# width 12, 3,000 images, OneCycle to 1e-2, 9 epochs: 0.905 at epoch 8, 0.913 at 9, 81 s whole
# process; 12 epochs: 0.905 at 9, 0.946 at 12 (160 s). To 5e-3 (width 12) or 1e-2 (width 16) in
# 8 epochs: 0.80 / 0.78, ~0.8 per image seen whatever the width, and width 12 is ~1.3x faster per
# image than 16; width 8 stalled at 0.57; batches of 16 learned no more per image. The textbook
# loop (bench/bench_segment.py) needs ~15 epochs of 3,000 at a constant 3e-3.
DEFAULT_MODEL: dict[str, Any] = {"unet": {"width": 12}}     # the rest: the U-Net's own (unet.DEFAULTS)
RUN_DEFAULTS: dict[str, Any] = {"epochs": 9, "lr": 1e-2,
                                "data": {"n_train": 3000, "n_val": shapes_val_count(3000)}}


def build_network(m: dict[str, Any], input_shape: tuple[int, int, int],
                  num_classes: int) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, input shape it takes) of a model config ``{"unet": {"width": 16, "depth":
    3, "skips": true}}`` (knobs left out take the U-Net's defaults) for this data. The spec names
    every knob, so a checkpoint rebuilds the same network; the U-Net takes any image size."""
    if "unet" not in m:
        raise DataError("A segmentation run needs a segmentation network (the U-Net); "
                        f"this model config has {', '.join(m) or 'nothing'}.")
    knobs = dict(m.get("unet") or {})
    unknown = set(knobs) - set(UNET_DEFAULTS)
    if unknown:
        raise DataError(f"The U-Net has no knob {', '.join(sorted(unknown))}; its knobs are "
                        "width, depth and skips.")
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
    masks = logits.argmax(1).cpu()                                             # (N, H, W)
    out = []
    for m in masks:
        counts = torch.bincount(m.flatten(), minlength=len(class_names)).tolist()
        out.append({"mask": m, "pixels": {c: n for c, n in zip(class_names, counts) if n}})
    return out


def epoch_view(logits: torch.Tensor) -> dict[str, Any]:
    """The Training page's picture of an epoch (``Task.epoch_view``): the predicted class of
    every pixel of the strip, uint8 (K, H, W)."""
    return {"pred": logits.argmax(1).to(torch.uint8).cpu().numpy()}
