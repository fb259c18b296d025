"""A learner's own detection data: a zip (or folder) with ``images/`` and ``labels/`` in the YOLO
text format the course's tools use (``images/cat1.jpg`` <-> ``labels/cat1.txt``), one object a
line: ``class cx cy w h``, the class an index from 0 and the box's centre and size as fractions
of the image's width and height. One wrapping folder around both is fine; an optional
``classes.txt`` beside them names the classes, one a line.

The zip is opened with the app's safe reader (:func:`playground.data.open_source`) and images are
decoded with the app's one decoder. What cannot be used is listed with its reason and skipped, a
whole image at a time (half its objects would teach the network that the others are background):
a label file for a missing image, a malformed line, a class beyond the classes, a box outside
the image or with zero area, an image that does not decode. An image without a label file has no
objects (YOLO's convention). A zip with no ``labels/`` folder is refused in words.

Every image is then stretched to one square side, a multiple of the grid's 8 pixels (the boxes,
fractions of the image, stay exact: a centre crop would cut them), and the targets padded to the
most objects of one image (4 or 40: never truncated).
"""
from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from .. import images
from ..data import OWN_DATA, DataError, Dataset, open_source
from ..data.folders import Source
from ..networks.grid import STRIDE
from .pairs import CLASSES_FILE, IMAGES, sort_members

Progress = Callable[[str, float], None] | None
LABELS = "labels"
MAX_CLASSES = 64          # class indices allowed when no classes.txt names the classes
EDGE_SLACK = 0.005        # a box may cross the image's edge by this share (rounding), then clipped


@dataclass
class LabelData:
    """What the app understood of a zip of images and YOLO labels, decoded."""
    label: str
    classes: list[str]
    names: list[str]                      # the kept images' paths
    x: torch.Tensor                       # uint8 (N, C, S, S)
    y: torch.Tensor                       # float32 (N, K, 5): class, x1, y1, x2, y2 in pixels; -1 padding
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)

    def objects(self) -> dict[str, int]:
        """Objects of each class over the kept images."""
        cls = self.y[..., 0][self.y[..., 0] >= 0].long()
        return dict(zip(self.classes, torch.bincount(cls, minlength=len(self.classes)).tolist()))


def parse_label(text: str, n_classes: int) -> tuple[np.ndarray, str]:
    """(float32 (k, 5) rows ``class, cx, cy, w, h``, '') of a YOLO label file, or (empty, why)
    at its first unusable line."""
    rows = []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            c, cx, cy, w, h = (float(v) for v in parts) if len(parts) == 5 else [float("nan")] * 5
        except ValueError:
            c = cx = cy = w = h = float("nan")
        if not np.isfinite([c, cx, cy, w, h]).all() or c != int(c) or c < 0:
            return np.zeros((0, 5)), (f"line {no} is not 'class cx cy w h' (a class index and four "
                                      f"fractions of the image): {line.strip()[:60]!r}")
        if c >= n_classes:
            return np.zeros((0, 5)), f"line {no}: class {int(c)} is beyond the classes (0 to {n_classes - 1})"
        if w <= 0 or h <= 0:
            return np.zeros((0, 5)), f"line {no}: the box has zero area (width {w:g}, height {h:g})"
        s = EDGE_SLACK
        if cx - w / 2 < -s or cy - h / 2 < -s or cx + w / 2 > 1 + s or cy + h / 2 > 1 + s:
            return np.zeros((0, 5)), (f"line {no}: the box goes outside the image (centre {cx:g}, {cy:g}, "
                                      f"size {w:g} x {h:g}; fractions of the image, 0 to 1)")
        rows.append([c, cx, cy, w, h])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5), ""


def _members(src: Source) -> tuple[dict[str, int], dict[str, int], list[tuple[str, str]], int | None]:
    """({stem: image member}, {stem: label member}, skipped, member index of classes.txt)."""
    imgs, labels, skipped, classes_at = sort_members(src, LABELS, lambda rest: rest.endswith(".txt"),
                                                     f"a .txt in {LABELS}/")
    if not labels:
        raise DataError(f"{src.label} has no {LABELS}/ folder of YOLO label files. Detection needs, "
                        f"beside {IMAGES}/, a {LABELS}/ folder with one .txt per image (the same name), "
                        "one object a line: class cx cy w h, e.g. '0 0.5 0.5 0.2 0.3'.")
    if not imgs:
        raise DataError(f"{src.label} has no {IMAGES}/ folder: put the pictures in {IMAGES}/ and "
                        f"their labels, with the same names, in {LABELS}/.")
    skipped += [(src.members[i].path, "a label file for a missing image (no image of this name "
                 "in images/)") for s, i in labels.items() if s not in imgs]
    return imgs, labels, skipped, classes_at


def _classes(cfg: dict[str, Any], src: Source, at: int | None) -> list[str] | None:
    if cfg.get("classes"):
        return [str(c) for c in cfg["classes"]]
    if at is None:
        return None
    names = [ln.strip() for ln in src.members[at].read().decode("utf-8", "replace").splitlines() if ln.strip()]
    if not names:
        raise DataError(f"{CLASSES_FILE} names no class: one class name a line, class 0 first.")
    return names


def _decode(src: Source, imgs: dict[str, int], labels: dict[str, int], n_classes: int, progress: Progress):
    """(kept [(image path, PIL image, (k, 5) rows)], skipped) for every image."""
    kept, skipped = [], []
    for n, (stem, ii) in enumerate(sorted(imgs.items())):
        rows, why = np.zeros((0, 5), dtype=np.float32), ""
        if stem in labels:
            rows, why = parse_label(src.members[labels[stem]].read().decode("utf-8", "replace"), n_classes)
        if why:
            skipped.append((src.members[labels[stem]].path, why))
            continue
        try:
            kept.append((src.members[ii].path, images.decode(src.members[ii].read()), rows))
        except images.ImageError as e:
            skipped.append((src.members[ii].path, str(e)))
        if progress and n % 64 == 0:
            progress("Reading images and labels", n / max(1, len(imgs)))
    return kept, skipped


def _side(kept: list, cfg: dict[str, Any]) -> int:
    """The square side: the config's, else the median longer side clamped to the own-data limits,
    down to a multiple of the grid's cell (8 px)."""
    side = int(cfg["size"]) if cfg.get("size") else int(min(max(
        statistics.median(max(img.size) for _, img, _ in kept), cfg["min_side"]), cfg["max_side"]))
    return max(STRIDE * 2, side // STRIDE * STRIDE)


def _to_tensors(kept: list, side: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    k = max(1, max(len(rows) for _, _, rows in kept))
    x = torch.empty((len(kept), channels, side, side), dtype=torch.uint8)
    y = torch.full((len(kept), k, 5), -1.0)
    y[..., 1:] = 0
    for i, (_, img, rows) in enumerate(kept):
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB").resize((side, side), Image.BILINEAR))
        x[i] = torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())
        if len(rows):
            r = torch.from_numpy(rows)
            xyxy = torch.cat([r[:, 1:3] - r[:, 3:5] / 2, r[:, 1:3] + r[:, 3:5] / 2], 1).clamp(0, 1) * side
            y[i, :len(rows)] = torch.cat([r[:, :1], xyxy], 1)
    return x, y


def read_labels(source: str | os.PathLike | bytes, cfg: dict[str, Any] | None = None,
                progress: Progress = None) -> LabelData:
    """Every usable image with its boxes of a zip (a path or its bytes) or folder; DataError in
    words when nothing can be used. ``cfg``: ``size``, ``channels``, ``classes`` (names)."""
    cfg = {**OWN_DATA, **{k: v for k, v in (cfg or {}).items() if v is not None}}
    with open_source(source) as src:
        imgs, labels, skipped, classes_at = _members(src)
        if len(imgs) > int(cfg["max_images"]):
            raise DataError(f"{len(imgs):,} images; the limit is {int(cfg['max_images']):,}.")
        classes = _classes(cfg, src, classes_at)
        kept, bad = _decode(src, imgs, labels, len(classes) if classes else MAX_CLASSES, progress)
        label = src.label
    skipped += bad
    if not kept:
        first = "; ".join(f"{p}: {why}" for p, why in skipped[:3])
        raise DataError(f"No usable image and label file in {label} ({len(skipped)} skipped: {first}).")
    if classes is None:
        top = max((int(r[:, 0].max()) for _, _, r in kept if len(r)), default=0)
        classes = [f"class {i}" for i in range(top + 1)]
    channels = int(cfg["channels"] or (1 if all(img.mode == "L" for _, img, _ in kept) else 3))
    x, y = _to_tensors(kept, _side(kept, cfg), channels)
    return LabelData(label, classes, [p for p, _, _ in kept], x, y, skipped)


def load_labels(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """The detection :class:`Dataset` of a zip/folder data config: :func:`read_labels`, then
    ``val_fraction`` of the images held out (by ``seed``)."""
    if not cfg.get("path"):
        raise DataError("Give the path of the zip or folder with images/ and labels/.")
    cfg = {**OWN_DATA, **{k: v for k, v in cfg.items() if v is not None}}
    d = read_labels(cfg["path"], cfg, progress)
    if len(d.x) < 2:
        raise DataError("Only one usable image: a run needs at least two (one to train on, one to validate).")
    order = torch.randperm(len(d.x), generator=torch.Generator().manual_seed(int(cfg["seed"])))
    n_val = min(len(d.x) - 1, max(1, round(len(d.x) * float(cfg["val_fraction"]))))
    ti, vi = order[n_val:], order[:n_val]
    notes = [f"{len(d.skipped):,} files skipped (see the inspection for why)."] if d.skipped else []
    return Dataset(d.label, d.classes, d.x[ti], d.y[ti], d.x[vi], d.y[vi],
                   source=f"{len(d.x):,} images with boxes from {d.label}", notes=notes)
