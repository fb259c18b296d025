"""Object detection: every object's box and class. Its data (the generated scenes of 1 to 4
shapes with their boxes, or a learner's zip of ``images/`` and YOLO ``labels/``), its network (a
grid detector in YOLOv1's spirit, :mod:`playground.networks.grid`), its loss (objectness, box and
class on each object's responsible cell, the three weighted), decoding with
``torchvision.ops.batched_nms`` and its metrics (torchmetrics' MeanAveragePrecision: mAP@0.5 and
COCO's mAP, never hand-written).

Targets are float32 (N, K, 5): ``class, x1, y1, x2, y2`` per object in the image's pixels
(pixel edges), class -1 in the padding rows; K = 4 for the scenes, the most objects of one image
for a learner's labels. Outputs are the grid's (N, S, S, 5 + classes).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_convert, generalized_box_iou_loss

from ..data import DataError, Dataset, data_config
from ..networks.grid import DEFAULTS as GRID_DEFAULTS
from ..networks.grid import BOX as BOX_VALUES
from ..networks.grid import STRIDE, GridDetector, GridError, cell_boxes, cells_of

Progress = Callable[[str, float], None] | None
# The loss's weights, once (the CLI's --loss-weight and the page's knobs start here): YOLOv1's
# own. lambda_coord 5: the box terms are few (one cell per object) beside 64 objectness terms;
# lambda_noobj 0.5: most cells are empty, and their "no object" would drown the few that hold one.
LOSS_WEIGHTS: dict[str, float] = {"lambda_coord": 5.0, "lambda_noobj": 0.5, "lambda_class": 1.0}
# Decoding's defaults, once: a box is kept when objectness x class probability passes
# SCORE_THRESHOLD, and NMS drops a box of the same class overlapping a better one by more than
# NMS_IOU. The metrics decode with a low threshold (mAP ranks every candidate; a high threshold
# would cut the recall end of the precision-recall curve).
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.5
METRIC_SCORE_THRESHOLD = 0.01
MAX_DETECTIONS = 100          # per image, after NMS (COCO's limit)


# --------------------------------------------------------------------------------------------
# Which cell answers for which object
# --------------------------------------------------------------------------------------------
def assign(targets: torch.Tensor, cells: int, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each object's responsible cell, the one holding its box centre (YOLOv1): ``(obj (N, S, S)
    float 1 where a cell is responsible, boxes (N, S, S, 4) cx, cy, w, h as fractions of the image,
    classes (N, S, S) int64, -1 where none)``. Two centres in one cell: one of them is kept (one
    object per cell, as in YOLOv1)."""
    n = targets.shape[0]
    obj = torch.zeros((n, cells, cells), device=targets.device)
    boxes = torch.zeros((n, cells, cells, 4), device=targets.device)
    classes = torch.full((n, cells, cells), -1, dtype=torch.int64, device=targets.device)
    b, k = (targets[..., 0] >= 0).nonzero(as_tuple=True)
    if b.numel():
        t = targets[b, k]                                                       # (M, 5)
        cxcywh = box_convert(t[:, 1:5], "xyxy", "cxcywh") / side                # (M, 4)
        col = (cxcywh[:, 0] * cells).long().clamp(0, cells - 1)
        row = (cxcywh[:, 1] * cells).long().clamp(0, cells - 1)
        obj[b, row, col] = 1.0
        boxes[b, row, col] = cxcywh
        classes[b, row, col] = t[:, 0].long()
    return obj, boxes, classes


def right(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[cells whose objectness is right (above 0 where a cell is responsible, below elsewhere),
    cells]: the loop's train_acc for detection."""
    obj, _, _ = assign(targets, out.shape[1], out.shape[1] * STRIDE)
    hits = ((out[..., 0] > 0).float() == obj).sum()
    return torch.stack([hits.to(torch.int64), torch.tensor(obj.numel(), device=out.device)])


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------
def _box_sqrt(pred: torch.Tensor, tgt: torch.Tensor, cells: int) -> torch.Tensor:
    """YOLOv1's box loss: squared errors of the centre (in cell units) and of sqrt(w), sqrt(h)
    (a pixel off matters more on a small box than on a large one)."""
    centre = ((pred[:, :2] - tgt[:, :2]) * cells).square().sum()
    size = (pred[:, 2:].clamp_min(1e-6).sqrt() - tgt[:, 2:].sqrt()).square().sum()
    return centre + size


def _box_giou(pred: torch.Tensor, tgt: torch.Tensor, cells: int) -> torch.Tensor:
    """1 - generalized IoU of predicted and true boxes (scale-free; torchvision's)."""
    return generalized_box_iou_loss(box_convert(pred, "cxcywh", "xyxy"), box_convert(tgt, "cxcywh", "xyxy"),
                                    reduction="sum")


class GridLoss:
    """Objectness BCE on every cell (the empty ones weighted ``lambda_noobj``), the box loss and
    class cross-entropy on the responsible cells (weighted ``lambda_coord``, ``lambda_class``);
    summed over the cells, divided by the images."""

    def __init__(self, box: Callable, label_smoothing: float = 0.0, **weights: float) -> None:
        self.box, self.label_smoothing = box, float(label_smoothing)
        self.w = {**LOSS_WEIGHTS, **{k: float(v) for k, v in weights.items()}}

    def __call__(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cells = out.shape[1]
        obj, boxes, classes = assign(targets, cells, cells * STRIDE)
        bce = F.binary_cross_entropy_with_logits(out[..., 0], obj, reduction="none")
        l_obj = (bce * obj).sum() + self.w["lambda_noobj"] * (bce * (1 - obj)).sum()
        resp = obj.bool()
        l_box = self.box(cell_boxes(out)[resp], boxes[resp], cells)
        l_cls = F.cross_entropy(out[..., 5:][resp], classes[resp], reduction="sum",
                                label_smoothing=self.label_smoothing) if resp.any() else out.sum() * 0
        return (l_obj + self.w["lambda_coord"] * l_box + self.w["lambda_class"] * l_cls) / out.shape[0]


# name -> (label, box loss); the page's picker and the CLI's --loss read this
LOSSES: dict[str, tuple[str, Callable]] = {
    "yolo": ("YOLOv1: squared errors of the centre and sqrt(w), sqrt(h)", _box_sqrt),
    "giou": ("Generalized IoU of the boxes", _box_giou),
}
DEFAULT_LOSS = "yolo"


def make_loss(name: str = DEFAULT_LOSS, **options: Any) -> GridLoss:
    """The detection loss with box loss ``name`` and its options: the weights (LOSS_WEIGHTS'
    names) and ``label_smoothing`` for the class term. DataError naming what is known otherwise."""
    if name not in LOSSES:
        raise DataError(f"Unknown detection loss {name!r}; choose {', '.join(LOSSES)}.")
    unknown = set(options) - set(LOSS_WEIGHTS) - {"label_smoothing"}
    if unknown:
        raise DataError(f"The detection loss has no weight {', '.join(sorted(unknown))}; its weights "
                        f"are {', '.join(LOSS_WEIGHTS)}.")
    for k in LOSS_WEIGHTS:
        if k in options and not float(options[k]) >= 0:
            raise DataError(f"The loss weight {k} must be a number of 0 or more; asked {options[k]}.")
    return GridLoss(LOSSES[name][1], **options)


# --------------------------------------------------------------------------------------------
# Decoding: cells -> boxes in pixels, before and after NMS
# --------------------------------------------------------------------------------------------
def _sides(out: torch.Tensor, image_size: int | tuple[int, int] | None) -> tuple[float, float]:
    """(height, width) in pixels of the image the outputs are of (default: the network's input)."""
    if image_size is None:
        return out.shape[1] * STRIDE, out.shape[2] * STRIDE
    h, w = (image_size, image_size) if isinstance(image_size, (int, float)) else image_size
    return float(h), float(w)


def candidates(out: torch.Tensor, score_threshold: float = SCORE_THRESHOLD,
               image_size: int | tuple[int, int] | None = None) -> list[dict[str, torch.Tensor]]:
    """Per image of outputs (N, S, S, 5 + classes), every cell's box *before* NMS whose score
    (objectness x its class's probability) reaches ``score_threshold``: ``{"boxes": (M, 4) x1, y1,
    x2, y2 in pixels of an image of ``image_size`` (an int or (H, W); default the network's
    input), "scores": (M,), "labels": (M,) int64, "cells": (M, 2) row, column}``."""
    out = out.detach().float()
    h, w = _sides(out, image_size)
    p, labels = torch.softmax(out[..., 5:], -1).max(-1)                        # (N, S, S)
    scores = torch.sigmoid(out[..., 0]) * p
    xyxy = box_convert(cell_boxes(out), "cxcywh", "xyxy")                      # (N, S, S, 4)
    scale = torch.tensor([w, h, w, h], device=out.device)
    xyxy = torch.minimum((xyxy * scale).clamp_min(0), scale)
    cols = out.shape[2]
    res = []
    for i in range(out.shape[0]):
        keep = (scores[i] >= score_threshold).flatten().nonzero().flatten()
        res.append({"boxes": xyxy[i].reshape(-1, 4)[keep], "scores": scores[i].flatten()[keep],
                    "labels": labels[i].flatten()[keep],
                    "cells": torch.stack([keep // cols, keep % cols], -1)})
    return res


def nms(found: list[dict[str, torch.Tensor]], iou_threshold: float = NMS_IOU) -> list[dict[str, torch.Tensor]]:
    """:func:`candidates` after non-maximum suppression per class (``batched_nms``: of two boxes
    of one class overlapping by more than ``iou_threshold`` IoU the higher score stays; boxes of
    different classes never suppress each other), best first, at most MAX_DETECTIONS."""
    res = []
    for f in found:
        keep = batched_nms(f["boxes"], f["scores"], f["labels"], float(iou_threshold))[:MAX_DETECTIONS]
        res.append({k: v[keep] for k, v in f.items()})
    return res


def decode(out: torch.Tensor, score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = NMS_IOU,
           image_size: int | tuple[int, int] | None = None) -> list[dict[str, torch.Tensor]]:
    """Per image: the detections ``{"boxes" (pixels), "scores", "labels", "cells"}`` after NMS."""
    return nms(candidates(out, score_threshold, image_size), iou_threshold)


# --------------------------------------------------------------------------------------------
# Metrics, from torchmetrics
# --------------------------------------------------------------------------------------------
def truth(targets: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Per image of targets (N, K, 5): ``{"boxes": (k, 4), "labels": (k,)}``, padding left out."""
    return [{"boxes": t[t[:, 0] >= 0, 1:5].float(), "labels": t[t[:, 0] >= 0, 0].long()} for t in targets]


class DetectMetrics:
    """Validation metrics of a detector over batches: torchmetrics' MeanAveragePrecision (COCO's
    evaluation, pycocotools underneath) on the decoded boxes: ``map50`` (mAP at IoU 0.5, VOC's
    and YOLOv1's figure) and ``map`` (COCO's, averaged over IoU 0.5 to 0.95)."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        from torchmetrics.detection import MeanAveragePrecision   # ~1 s: only when used

        self.num_classes = int(num_classes)
        self.map = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")

    def update(self, out: torch.Tensor, targets: torch.Tensor) -> None:
        """One batch: outputs (N, S, S, 5 + classes) (or decoded detections), targets (N, K, 5)."""
        found = decode(out, METRIC_SCORE_THRESHOLD, NMS_IOU) if isinstance(out, torch.Tensor) else out
        preds = [{k: f[k].cpu() for k in ("boxes", "scores", "labels")} for f in found]
        self.map.update(preds, [{k: v.cpu() for k, v in t.items()} for t in truth(targets)])

    def compute(self) -> dict[str, Any]:
        r = self.map.compute()
        return {"map50": max(0.0, float(r["map_50"])), "map": max(0.0, float(r["map"]))}


def metrics(num_classes: int, device: torch.device | str = "cpu") -> DetectMetrics:
    return DetectMetrics(num_classes, device)


# --------------------------------------------------------------------------------------------
# Data, network, predictions
# --------------------------------------------------------------------------------------------
def load_data(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """A detection :class:`Dataset` (``train_y`` / ``val_y``: float32 (N, K, 5) targets): the
    generated scenes (``{"name": "scenes", ...}``, the catalogue's defaults) or a learner's zip
    or folder of ``images/`` and YOLO ``labels/`` (``{"name": "zip", "path": ...}``)."""
    name = str(cfg.get("name", "scenes")).lower()
    if name == "scenes":
        from ..data.scenes import load_scene_boxes

        full = {**data_config("scenes"), **cfg}
        ds = load_scene_boxes(full)
        lt, lv = full.get("limit_train"), full.get("limit_val")
        return ds.head(lt or None, lv or None) if lt or lv else ds
    if name in ("zip", "folder"):
        from .labels import load_labels

        return load_labels(cfg, progress)
    raise DataError(f"Detection trains on the scenes (--data scenes) or on your zip of images/ and "
                    f"labels/, not on {name!r}.")


DEFAULT_MODEL: dict[str, Any] = {"grid": {}}    # the grid detector with its own defaults


def build_network(m: dict[str, Any], input_shape: tuple[int, int, int],
                  num_classes: int) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, input shape it takes) of a model config ``{"grid": {"width": 24}}`` (knobs
    left out take the grid's defaults). The spec names every knob and the cells, so a
    checkpoint rebuilds the same network."""
    if "grid" not in m:
        raise DataError("A detect run needs a detection network (the grid detector); this model "
                        f"config has {', '.join(m) or 'nothing'}.")
    knobs = dict(m.get("grid") or {})
    unknown = set(knobs) - set(GRID_DEFAULTS)
    if unknown:
        raise DataError(f"The grid detector has no knob {', '.join(sorted(unknown))}; its knobs "
                        f"are {', '.join(GRID_DEFAULTS)}.")
    knobs = {**GRID_DEFAULTS, **knobs}
    c, h, w = (int(v) for v in input_shape)
    try:
        if h != w:
            raise GridError(f"The grid detector takes square images; these are {w} x {h} pixels.")
        cells = cells_of(h)
        model = GridDetector(c, int(num_classes), **knobs)
    except GridError as e:
        raise DataError(str(e)) from e
    spec = {"grid": knobs, "cells": cells, "input_shape": [c, h, w], "num_classes": int(num_classes)}
    return model, spec, (c, h, w)


def parameters(in_channels: int, num_classes: int, width: int = GRID_DEFAULTS["width"]) -> int:
    """Parameters of the grid detector with these knobs (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = GridDetector(int(in_channels), int(num_classes), width=int(width))
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# The Training page's view of an epoch: the strip's raw outputs, re-decoded on the page
# --------------------------------------------------------------------------------------------
def epoch_view(out: torch.Tensor) -> dict[str, Any]:
    """The strip's raw grid outputs (K, S, S, 5 + classes) as float16: the page re-decodes them
    at any score and IoU threshold without the network (6 x 8 x 8 x 13 values: ~10 kB)."""
    return {"raw": out.detach().float().cpu().numpy().astype("float16")}


def _plain(d: dict[str, torch.Tensor], class_names: list[str]) -> list[dict[str, Any]]:
    return [{"box": [round(float(v), 2) for v in b], "score": round(float(s), 4), "label": int(lab),
             "name": class_names[int(lab)] if int(lab) < len(class_names) else f"class {int(lab)}",
             "cell": [int(c) for c in cell]}
            for b, s, lab, cell in zip(d["boxes"], d["scores"], d["labels"], d["cells"])]


def decode_view(raw: Any, score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = NMS_IOU,
                class_names: list[str] | None = None, image_size: int | None = None) -> dict[str, Any]:
    """One image's raw outputs (S, S, 5 + classes) (numpy, e.g. an epoch view's) decoded for a
    page, plain Python only: ``{"objectness": S x S list of sigmoid(objectness), "before": boxes
    before NMS, "after": after NMS}``, each box ``{"box": [x1, y1, x2, y2] pixels, "score",
    "label" (index), "name", "cell": [row, column]}``, best first."""
    out = torch.as_tensor(raw).float()
    if out.ndim != 3 or out.shape[-1] <= BOX_VALUES:
        raise DataError(f"Expected one image's grid outputs (S, S, 5 + classes); got shape {tuple(out.shape)}.")
    names = list(class_names or [])
    found = candidates(out[None], score_threshold, image_size)
    order = found[0]["scores"].argsort(descending=True)
    before = {k: v[order] for k, v in found[0].items()}
    return {"objectness": torch.sigmoid(out[..., 0]).tolist(), "before": _plain(before, names),
            "after": _plain(nms(found, iou_threshold)[0], names)}


def predict(out: torch.Tensor, class_names: list[str], score_threshold: float = SCORE_THRESHOLD,
            iou_threshold: float = NMS_IOU, image_size: int | tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """Per image of outputs: ``{"detections": [{"box": [x1, y1, x2, y2], "label", "score"}]}``,
    best first, in the pixels of an image of ``image_size`` (default: the network's input)."""
    return [{"detections": [{"box": [round(float(v), 2) for v in b], "label": class_names[int(lab)],
                             "score": round(float(s), 4)}
                            for b, s, lab in zip(d["boxes"], d["scores"], d["labels"])]}
            for d in decode(out, score_threshold, iou_threshold, image_size)]
