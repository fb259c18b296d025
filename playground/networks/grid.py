"""A single-stage grid detector in the spirit of YOLOv1 (Redmon et al. 2016): a small
convolutional backbone takes the image down to S x S cells (S = side / 8: 8 x 8 at 64 px), and
a 1x1 convolution gives every cell one prediction: an objectness logit, a box and class logits.

The output is (N, S, S, 5 + classes), per cell ``[objectness, tx, ty, tw, th, class logits...]``:
the box centre is ``(column + sigmoid(tx)) / S``, ``(row + sigmoid(ty)) / S`` of the image, its
width and height ``sigmoid(tw)``, ``sigmoid(th)`` of the image (:func:`cell_boxes`). The cell
holding an object's centre is *responsible* for it (the loss in :mod:`playground.tasks.detect`).

The backbone: a 3x3 convolution, then three stages, each a stride-2 3x3 convolution and one more
3x3 convolution (batch norm and ReLU after each), channels ``width``, ``2 width``, ``4 width``,
``4 width``; then two 3x3 convolutions at the cells' resolution, so that each cell sees well
beyond its own 8 x 8 pixels (a shape's box is up to half the image).
"""
from __future__ import annotations

import torch
from torch import nn

STRIDE = 8                 # pixels per cell side: three stride-2 stages
WIDTH_RANGE = (4, 64)      # channels of the first convolution
# The knob's default, once: width 16 is ~0.22M parameters at the 8 shapes (tests/unit/test_detect.py);
# a training step of 32 scenes at 64 px took 0.9 s on 2 busy CPU cores, width 24 (0.49M) 4.0 s
DEFAULTS = {"width": 16}
BOX = 5                    # objectness + tx, ty, tw, th before the class logits
OBJECT_PRIOR_LOGIT = -3.4  # log(p / (1 - p)) at p = 1/30: ~2.5 objects in 64 cells (RetinaNet's prior)


class GridError(ValueError):
    """Knobs or an input a grid detector cannot take; the message says why in words."""


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def check_knobs(in_channels: int, num_classes: int, width: int) -> None:
    lo, hi = WIDTH_RANGE
    if not lo <= int(width) <= hi:
        raise GridError(f"The detector's width must be {lo} to {hi} channels; asked {width}.")
    if int(num_classes) < 1 or int(in_channels) < 1:
        raise GridError("A detector needs at least one class and one input channel.")


def cells_of(side: int) -> int:
    """S, the cells along a side of ``side`` pixels; GridError when it is not a multiple of 8."""
    if side < STRIDE or side % STRIDE:
        raise GridError(f"The grid detector takes images whose side is a multiple of {STRIDE} "
                        f"pixels (one cell per {STRIDE} x {STRIDE}); this one is {side}.")
    return side // STRIDE


class GridDetector(nn.Module):
    """``in_channels`` images -> (N, S, S, 5 + ``num_classes``) cell predictions."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4, *, width: int = DEFAULTS["width"]) -> None:
        super().__init__()
        check_knobs(in_channels, num_classes, width)
        w = int(width)
        self.num_classes = int(num_classes)
        self.backbone = nn.Sequential(
            _conv(in_channels, w),
            _conv(w, 2 * w, 2), _conv(2 * w, 2 * w),              # side / 2
            _conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w),          # side / 4
            _conv(4 * w, 4 * w, 2), _conv(4 * w, 4 * w),          # side / 8: the cells
            _conv(4 * w, 4 * w), _conv(4 * w, 4 * w))             # each cell sees ~70 px
        self.head = nn.Conv2d(4 * w, BOX + self.num_classes, 1)
        with torch.no_grad():   # objectness starts at the share of cells that hold an object (~1 in
            self.head.bias[0] = OBJECT_PRIOR_LOGIT   # 30), not 0.5: no early flood of false boxes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for side in x.shape[-2:]:
            cells_of(int(side))
        return self.head(self.backbone(x)).permute(0, 2, 3, 1)  # (N, S, S, 5 + classes)


def cell_boxes(out: torch.Tensor) -> torch.Tensor:
    """(N, S, S, 4) boxes ``cx, cy, w, h`` as fractions of the image from the outputs
    (N, S, S, 5 + classes): the centre an offset inside its cell, the size a share of the image."""
    s_rows, s_cols = out.shape[1], out.shape[2]
    rows = torch.arange(s_rows, device=out.device, dtype=out.dtype).view(1, -1, 1)
    cols = torch.arange(s_cols, device=out.device, dtype=out.dtype).view(1, 1, -1)
    t = torch.sigmoid(out[..., 1:5])
    cx = (cols + t[..., 0]) / s_cols
    cy = (rows + t[..., 1]) / s_rows
    return torch.stack([cx, cy, t[..., 2], t[..., 3]], -1)


__all__ = ["BOX", "DEFAULTS", "GridDetector", "GridError", "STRIDE", "WIDTH_RANGE", "cell_boxes",
           "cells_of", "check_knobs"]
