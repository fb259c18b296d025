"""A learner's own segmentation data: a zip (or folder) with ``images/`` and ``masks/``, the
masks PNGs with the images' names (``images/cat1.jpg`` <-> ``masks/cat1.png``), each pixel's
value its class (0 the background). One wrapping folder around both is fine; an optional
``classes.txt`` beside them names the classes, one a line, background first.

The zip is opened with the app's safe reader (:func:`playground.data.open_source`: no ``..``,
links or zip bombs), images decoded with the app's one decoder (:func:`playground.images.decode`)
and masks read as the numbers they hold (a palette PNG's indices, not its colours). What cannot be
used is listed with its reason and skipped: an image without a mask or a mask without an image,
a mask that is not a PNG or holds colours, a mask whose values go beyond the classes, an image and
mask of different sizes, a file that does not decode. A zip with no ``masks/`` folder is refused
in words. Every pair is then brought to one square size (images bilinear, masks nearest, the same
centre crop) and a share held out for validation.
"""
from __future__ import annotations

import io
import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import images
from ..data import OWN_DATA, DataError, Dataset, open_source
from ..data.folders import Source, is_image_path
from ..data.shapes import BACKGROUND
from .pairs import IMAGES, sort_members

Progress = Callable[[str, float], None] | None
# Pixel values a mask may hold when no classes.txt names the classes: class indices, not
# colours (a mask saved as a picture, 0 and 255, is refused with this number in the reason).
MAX_CLASSES = 64
MASKS = "masks"
SHOWN = 5       # skipped files named, with why, in the dataset's note (the CLI prints it)


@dataclass
class MaskData:
    """What the app understood of a zip of images and masks, decoded."""
    label: str
    classes: list[str]
    names: list[str]                      # the kept pairs' image paths
    x: torch.Tensor                       # uint8 (N, C, S, S)
    y: torch.Tensor                       # int64 (N, S, S)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)

    def pixels(self) -> dict[str, int]:
        """Pixels of each class over all kept masks."""
        counts = torch.bincount(self.y.flatten(), minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, counts))


def read_mask(data: bytes) -> np.ndarray:
    """The class index of every pixel of a mask PNG, (H, W) int64: every check of the app's
    decoder (sizes, bombs, truncation), then the numbers the file holds (gray values, or a
    palette's indices). ImageError for a non-PNG or a colour mask."""
    if images.img_format(data) != "PNG":
        raise images.ImageError("a mask must be a PNG file (JPEG's compression changes the "
                                "pixel values, and so the classes)")
    images.decode(data)
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img) or img
        if img.mode in ("LA", "PA"):
            img = img.getchannel(0)
        arr = np.asarray(img.convert("RGB") if img.mode in ("RGBA", "RGBa") else img)
    if arr.ndim == 3:
        if not ((arr[..., 0] == arr[..., 1]).all() and (arr[..., 0] == arr[..., 2]).all()):
            raise images.ImageError("the mask is in colour; a mask holds one number per pixel "
                                    "(a gray or palette PNG), the pixel's class")
        arr = arr[..., 0]
    return arr.astype(np.int64)


def _pairs(src: Source) -> tuple[dict[str, tuple[int, int]], list[tuple[str, str]], int | None]:
    """({stem: (image member, mask member)}, skipped, member index of classes.txt or None)."""
    imgs, masks, skipped, classes_at = sort_members(src, MASKS, is_image_path, f"{MASKS}/")
    if not masks:
        raise DataError(f"{src.label} has no {MASKS}/ folder of masks. Segmentation needs, beside "
                        f"{IMAGES}/, a {MASKS}/ folder of PNGs with the same names, each pixel's value "
                        "its class (0 for the background), e.g. images/cat1.jpg and masks/cat1.png.")
    if not imgs:
        raise DataError(f"{src.label} has no {IMAGES}/ folder: put the pictures in {IMAGES}/ and "
                        f"their masks, with the same names, in {MASKS}/.")
    skipped += [(src.members[i].path, f"no mask {MASKS}/{s}.png for this image")
                for s, i in imgs.items() if s not in masks]
    skipped += [(src.members[i].path, "no image of this name in images/")
                for s, i in masks.items() if s not in imgs]
    return {s: (imgs[s], masks[s]) for s in sorted(imgs) if s in masks}, skipped, classes_at


def _declared_classes(cfg: dict[str, Any], src: Source, at: int | None) -> list[str] | None:
    """Class names from the config, else from classes.txt (background first), else None."""
    if cfg.get("classes"):
        names = [str(c) for c in cfg["classes"]]
    elif at is not None:
        names = [ln.strip() for ln in src.members[at].read().decode("utf-8", "replace").splitlines()
                 if ln.strip()]
    else:
        return None
    if len(names) > 256:
        raise DataError(f"{len(names)} classes named; a mask PNG holds at most 256 (0 to 255).")
    if len(names) < 2:
        raise DataError(f"{len(names)} class named; a segmentation needs at least two (the "
                        "background first, then the objects).")
    return names


def _check_pair(img: Image.Image, mask: np.ndarray, limit: int) -> str:
    """Why a decoded pair cannot be used ('' when it can): sizes, values beyond the classes."""
    if (mask.shape[1], mask.shape[0]) != img.size:
        return (f"the image is {img.size[0]} x {img.size[1]} pixels but its mask "
                f"{mask.shape[1]} x {mask.shape[0]}")
    top = int(mask.max())
    if top >= limit:
        return f"the mask holds the value {top}, beyond the classes (0 to {limit - 1})"
    return ""


def _decode(src: Source, pairs: dict[str, tuple[int, int]], limit: int, progress: Progress):
    """(kept [(image path, PIL image, mask array)], skipped) for every pair."""
    kept, skipped = [], []
    for n, (ii, mi) in enumerate(pairs.values()):
        path, at = src.members[ii].path, ii
        try:
            img = images.decode(src.members[ii].read())
            at = mi
            mask = read_mask(src.members[mi].read())
        except images.ImageError as e:
            skipped.append((src.members[at].path, str(e)))
            continue
        why = _check_pair(img, mask, limit)
        if why:
            skipped.append((src.members[mi].path, why))
        else:
            kept.append((path, img, mask))
        if progress and n % 64 == 0:
            progress("Reading images and masks", n / max(1, len(pairs)))
    return kept, skipped


def _side(kept: list, cfg: dict[str, Any]) -> int:
    """The square side every pair is brought to: the config's, else the median shorter side
    clamped to the own-data limits (:data:`playground.data.OWN_DATA`)."""
    if cfg.get("size"):
        return int(cfg["size"])
    median = statistics.median(min(img.size) for _, img, _ in kept)
    return int(min(max(median, cfg["min_side"]), cfg["max_side"]))


def _to_tensors(kept: list, side: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, S, S) images and int64 (N, S, S) masks, each pair resized and cropped alike."""
    x = torch.empty((len(kept), channels, side, side), dtype=torch.uint8)
    y = torch.empty((len(kept), side, side), dtype=torch.int64)
    for k, (_, img, mask) in enumerate(kept):
        img = img.convert("L" if channels == 1 else "RGB")
        _, im = images.resize_crop(img, side, (side, side))
        _, mk = images.resize_crop(Image.fromarray(mask.astype(np.uint8), "L"), side, (side, side),
                                   interpolation="nearest")
        arr = np.asarray(im)
        x[k] = torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())
        y[k] = torch.from_numpy(np.asarray(mk).astype(np.int64))
    return x, y


def read_masks(source: str | os.PathLike | bytes, cfg: dict[str, Any] | None = None,
               progress: Progress = None) -> MaskData:
    """Every usable (image, mask) pair of a zip (a path or its bytes) or folder, decoded at one
    size; DataError in words when nothing can be used. ``cfg``: ``size``, ``channels``,
    ``classes`` (names, background first) as in :data:`playground.data.OWN_DATA`."""
    cfg = {**OWN_DATA, **{k: v for k, v in (cfg or {}).items() if v is not None}}
    with open_source(source) as src:
        pairs, skipped, classes_at = _pairs(src)
        if len(pairs) > int(cfg["max_images"]):
            raise DataError(f"{len(pairs):,} image and mask pairs; the limit is {int(cfg['max_images']):,}.")
        classes = _declared_classes(cfg, src, classes_at)
        kept, bad = _decode(src, pairs, len(classes) if classes else MAX_CLASSES, progress)
        label = src.label
    skipped += bad
    if not kept:
        first = "; ".join(f"{p}: {why}" for p, why in skipped[:3])
        raise DataError(f"No usable image and mask pair in {label} ({len(skipped)} skipped: {first}).")
    if classes is None:
        top = max(int(m.max()) for _, _, m in kept)
        classes = [BACKGROUND] + [f"class {i}" for i in range(1, max(top, 1) + 1)]
    channels = int(cfg["channels"] or (1 if all(img.mode == "L" for _, img, _ in kept) else 3))
    x, y = _to_tensors(kept, _side(kept, cfg), channels)
    return MaskData(label, classes, [p for p, _, _ in kept], x, y, skipped)


def load_masks(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """The segmentation :class:`Dataset` of a zip/folder data config (``{"name": "zip", "path":
    ...}``): :func:`read_masks`, then ``val_fraction`` of the pairs held out (by ``seed``)."""
    if not cfg.get("path"):
        raise DataError("Give the path of the zip or folder with images/ and masks/.")
    cfg = {**OWN_DATA, **{k: v for k, v in cfg.items() if v is not None}}
    d = read_masks(cfg["path"], cfg, progress)
    if len(d.x) < 2:
        raise DataError("Only one usable image and mask pair: a run needs at least two (one to "
                        "train on, one to validate).")
    g = torch.Generator().manual_seed(int(cfg["seed"]))
    order = torch.randperm(len(d.x), generator=g)
    n_val = min(len(d.x) - 1, max(1, round(len(d.x) * float(cfg["val_fraction"]))))
    ti, vi = order[n_val:], order[:n_val]
    notes = [f"{len(d.skipped):,} files skipped: " + "; ".join(f"{path}: {why}" for path, why in d.skipped[:SHOWN])
             + (f"; and {len(d.skipped) - SHOWN:,} more" if len(d.skipped) > SHOWN else "") + "."] if d.skipped else []
    return Dataset(d.label, d.classes, d.x[ti], d.y[ti], d.x[vi], d.y[vi],
                   source=f"{len(d.x):,} images and masks from {d.label}", notes=notes)
