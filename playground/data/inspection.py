"""A learner's own data before and for training: :func:`inspect_source` says what the app
understood (layout, classes, images per split and class, sizes and modes found, files skipped and
why, previews, the input shape and normalization it proposes, a network that fits);
:func:`load_own` turns the same reading into the :class:`Dataset` a run trains on. Both read
through :mod:`.decoding`'s cache, so inspecting and then training decodes each image once.

    insp = inspect_source("digits.zip")          # input_shape (1, 28, 28) for 28x28 gray digits
    ds = load_data({"name": "zip", "path": "digits.zip"})   # the same shape, the same pixels
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import decoding
from .catalog import OWN_DATA, PROPOSALS, Progress
from .dataset import DataError, Dataset, mean_std
from .folders import open_source
from .layouts import SPLITS, understand


@dataclass
class Inspection:
    layout: str                               # a key of layouts.LAYOUTS
    description: str                          # one sentence: the layout as understood
    classes: list[str]
    counts: dict[str, dict[str, int]]         # split ("train", "val", "test") -> class -> images
    sizes: dict[tuple[int, int], int]         # (W, H) as found -> images
    modes: dict[str, int]                     # PIL mode as found -> images
    skipped: list[tuple[str, str]]            # (path, reason): not images, duplicates, corrupt
    input_shape: tuple[int, int, int]         # (C, H, W): proposed, or as asked
    mean: tuple[float, ...]                   # of the training images at input_shape, [0, 1]
    std: tuple[float, ...]
    previews: dict[str, list[np.ndarray]] = field(default_factory=dict)  # uint8 (H, W[, 3])
    proposal: dict[str, Any] = field(default_factory=dict)  # RunConfig.model + "params", "macs"
    label: str = ""                           # the zip's or folder's name
    digest: str = ""                          # its content hash (the decode cache's key)
    decoded_bytes: int = 0                    # images x C x H x W: memory the decoded data takes

    @property
    def total(self) -> int:
        return sum(sum(per.values()) for per in self.counts.values())


@dataclass
class _Read:
    label: str
    digest: str
    layout: str
    description: str
    classes: list[str]
    found: dict[str, Any]
    shape: tuple[int, int, int]
    decoded: dict[str, Any]


def _shape(found: dict[str, Any], cfg: dict[str, Any]) -> tuple[int, int, int]:
    c, h, w = decoding.propose_shape(found["sizes"], found["modes"], min_side=int(cfg["min_side"]),
                                     max_side=int(cfg["max_side"]))
    if cfg.get("size"):
        h = w = int(cfg["size"])
    if cfg.get("channels"):
        c = int(cfg["channels"])
        if c not in (1, 3):
            raise DataError(f"channels must be 1 (gray) or 3 (colour), not {c}.")
    if min(h, w) < 4 or max(h, w) > 1024:
        raise DataError(f"An input size of {h} x {w} pixels is not usable: choose 4 to 1024.")
    return c, h, w


def _read(source: str | os.PathLike | bytes, cfg: dict[str, Any], progress: Progress, *,
          pixels: bool = True) -> _Read:
    """The source read: layout, scan, shape and (``pixels``) the decoded images."""
    cfg = {**OWN_DATA, **{k: v for k, v in cfg.items() if v is not None}}
    with open_source(source) as src:
        und = understand([m.path for m in src.members])
        limit = int(cfg["max_images"])
        if len(und.items) > limit:
            raise DataError(
                f"The {src.kind} holds {len(und.items):,} images; the limit is {limit:,}, so that "
                "decoding and training stay within minutes on a laptop CPU. Make a smaller "
                f"{src.kind} (for example at most {max(1, limit // len(und.classes)):,} images per "
                "class, chosen at random) and try again.")
        if cfg.get("size"):     # the least it can decode to (gray), refused before any file is read
            side = int(cfg["size"])
            decoding.check_budget(len(und.items), (int(cfg.get("channels") or 1), side, side))
        # pixels=False (headers only): nothing decoded; else small images are decoded in the
        # same pass as their headers (no side above the input size's limit: their pixels fit
        # in memory), larger ones read again once the input size is known
        keep = max(int(cfg["max_side"]), int(cfg.get("size") or 0)) if pixels else 0
        found = decoding.scan(src, und, progress, keep_side=keep)
        if not found["items"]:
            raise DataError("None of the images could be read: " +
                            "; ".join(f"{p}: {r}" for p, r in found["skipped"][:3]))
        shape = _shape(found, cfg)
        decoding.check_budget(len(found["items"]), shape)     # from the headers, before decoding
        dec = decoding.decode(src, found, shape, progress) if pixels else {}
    return _Read(src.label, src.digest, und.layout, und.description, und.classes, found, shape, dec)


def permute_rows_(x: torch.Tensor, perm: torch.Tensor | list[int]) -> torch.Tensor:
    """``x`` reordered in place so that row i holds the old row ``perm[i]`` (``x[perm]`` without
    a second copy of the data: one row of scratch, each cycle of the permutation followed)."""
    p = [int(i) for i in perm]
    done = bytearray(len(p))
    tmp = torch.empty_like(x[0]) if len(p) else x
    for start in range(len(p)):
        if done[start] or p[start] == start:
            continue
        tmp.copy_(x[start])
        i = start
        while True:
            done[i] = 1
            j = p[i]
            if j == start:
                x[i].copy_(tmp)
                break
            x[i].copy_(x[j])
            i = j
    return x


def _labelled(r: _Read) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """split -> (uint8 images, int64 labels) of the images that decoded: views of the decoded
    tensor, reordered in place so that each split is one contiguous block."""
    items = r.found["items"]
    split_of = [items[k][1] for k in r.decoded["kept"]]
    label = torch.tensor([r.classes.index(items[k][2]) for k in r.decoded["kept"]], dtype=torch.int64)
    groups = {split: [j for j, s in enumerate(split_of) if s == split] for split in SPLITS}
    order = [j for split in SPLITS for j in groups[split]]
    x = permute_rows_(r.decoded["x"], order)
    label = label[torch.tensor(order, dtype=torch.int64)] if order else label
    out, start = {}, 0
    for split in SPLITS:
        m = len(groups[split])
        if m:
            out[split] = (x[start:start + m], label[start:start + m])
        start += m
    if "train" not in out or len(torch.unique(out["train"][1])) < 2:
        raise DataError("Fewer than two classes have training images that could be decoded; "
                        "a classifier needs at least two.")
    return out


def stratified_split(y: torch.Tensor, classes: int, val_fraction: float,
                     g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices with every class in both parts (a class of one image goes
    to training), the training indices shuffled."""
    train_idx, val_idx = [], []
    for c in range(classes):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        nv = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val_idx.append(idx[:nv])
        train_idx.append(idx[nv:])
    ti, vi = torch.cat(train_idx), torch.cat(val_idx)
    return ti[torch.randperm(len(ti), generator=g)], vi


def load_own(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """The Dataset of a zip/folder data config (``{"name": "zip", "path": ..., "size": None,
    "channels": None, ...}``; see ``OWN_DATA``): the input shape from the data unless given,
    the learner's val/ split kept (else ``val_fraction`` of each class, by ``seed``), test/ held
    out, normalization statistics from the training images."""
    cfg = {**OWN_DATA, **{k: v for k, v in cfg.items() if v is not None}}
    r = _read(cfg["path"], cfg, progress)
    parts = _labelled(r)
    tx, ty = parts["train"]
    if "val" in parts:
        vx, vy = parts["val"]
        g = torch.Generator().manual_seed(int(cfg["seed"]))
        order = torch.randperm(len(ty), generator=g)
        tx, ty = permute_rows_(tx, order), ty[order]
    else:
        g = torch.Generator().manual_seed(int(cfg["seed"]))
        ti, vi = stratified_split(ty, len(r.classes), float(cfg["val_fraction"]), g)
        perm = torch.cat([ti, vi])              # train then validation, in place: no copy
        permute_rows_(tx, perm)
        ty = ty[perm]
        tx, ty, vx, vy = tx[:len(ti)], ty[:len(ti)], tx[len(ti):], ty[len(ti):]
    test = parts.get("test", (None, None))
    skipped = r.found["skipped"] + r.decoded["skipped"]
    notes = [f"{len(skipped):,} files skipped (not images, duplicates or corrupt)."] if skipped else []
    total = len(tx) + len(vx) + (0 if test[0] is None else len(test[0]))
    return Dataset(r.label, list(r.classes), tx, ty, vx, vy, source=f"{total:,} images from {r.label}",
                   notes=notes, test_x=test[0], test_y=test[1])


def propose_model(input_shape: tuple[int, int, int], num_classes: int) -> dict[str, Any]:
    """The network proposed for data of this shape (a RunConfig.model dict): the first of the
    catalogue's ``PROPOSALS`` whose largest side and channels fit. ``networks.adapt`` fits it to
    the shape and classes when the run builds it."""
    c, h, w = input_shape
    for side, channels, preset in PROPOSALS:
        if max(h, w) <= side and channels in (None, c):
            return {"preset": preset}
    return {"preset": PROPOSALS[-1][2]}


def _with_size(model: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> dict[str, Any]:
    """The model dict with its parameters and MACs on this input (a meta-device trace)."""
    from .. import networks
    from ..summary import summarize

    spec = networks.adapt(networks.preset(model["preset"]), input_shape, num_classes)
    s = summarize(spec, input_shape)
    return {**model, "params": int(s.total_params), "macs": int(s.total_macs)}


def inspect_source(source: str | os.PathLike | bytes, *, progress: Progress = None,
                   size: int | None = None, channels: int | None = None) -> Inspection:
    """What the app understands of a zip (a path or its bytes) or a folder of class folders;
    DataError in words for what it cannot use. ``size`` / ``channels``: as a run would be asked
    (None: proposed from the data)."""
    r = _read(source, {"size": size, "channels": channels}, progress)
    parts = _labelled(r)
    counts = {s: {c: int((y == i).sum()) for i, c in enumerate(r.classes)} for s, (_, y) in parts.items()}
    found, kept = r.found, r.decoded["kept"]
    sizes: dict[tuple[int, int], int] = {}
    modes: dict[str, int] = {}
    for k in kept:
        wh = tuple(found["sizes"][k])
        sizes[wh] = sizes.get(wh, 0) + 1                                 # type: ignore[index]
        modes[found["modes"][k]] = modes.get(found["modes"][k], 0) + 1
    mean, std = mean_std(parts["train"][0])
    previews = {c: [t.numpy() for t in r.decoded["previews"].get(c, [])] for c in r.classes}
    model = propose_model(r.shape, len(r.classes))
    return Inspection(r.layout, r.description, list(r.classes), counts, sizes, modes,
                      found["skipped"] + r.decoded["skipped"], r.shape, mean, std, previews,
                      _with_size(model, r.shape, len(r.classes)), r.label, r.digest,
                      decoding.decoded_bytes(len(kept), r.shape))


def proposed_model(cfg: dict[str, Any], progress: Progress = None) -> dict[str, Any]:
    """The model settings a run on this zip/folder data config trains when none are chosen
    (the CLI's default, the page's proposal): :func:`propose_model` at the data's input shape."""
    cfg = {**OWN_DATA, **{k: v for k, v in cfg.items() if v is not None}}
    r = _read(cfg["path"], cfg, progress, pixels=False)     # headers only: the run decodes
    return propose_model(r.shape, len(r.classes))


def describe_zip(source: str | os.PathLike | bytes) -> dict[str, int]:
    """Images per class of a zip or folder, over all splits, after the safety and layout checks
    (nothing is decoded)."""
    with open_source(source) as src:
        und = understand([m.path for m in src.members])
    counts: dict[str, int] = {}
    for _, _, cls in und.items:
        counts[cls] = counts.get(cls, 0) + 1
    return dict(sorted(counts.items()))


def load_image_folder(path: str | os.PathLike | bytes, *, size: int | None = None,
                      channels: int | None = None, val_fraction: float | None = None,
                      seed: int | None = None, progress: Progress = None) -> Dataset:
    """A dataset from a zip (path or bytes) or folder of class folders (:func:`load_own`)."""
    return load_own({"path": path, "size": size, "channels": channels, "val_fraction": val_fraction,
                     "seed": seed}, progress)
