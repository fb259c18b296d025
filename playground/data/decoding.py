"""A learner's images read once, in parallel where it pays, and kept decoded on disk.

:func:`scan` reads every file the layout keeps once: its content hash (duplicates are skipped),
its header (size and mode) and, for images small enough to keep in memory (no side above
``keep_side``: digits, icons, CIFAR-like thumbnails), its pixels, decoded with the app's one
decoder (:func:`playground.images.decode`). :func:`decode` then brings every image to the input
shape with the one resize (:func:`playground.images.resize_crop`) into a uint8 tensor: from the
pixels kept in memory, or (photos: larger than ``keep_side``, only the header was read) by
reading and decoding the file. One pass instead of two: on 10,000 28x28 PNG digits it saved
~0.5 s of ~2 s (each file read, parsed and looped over once). Both results are cached under
``paths.data_dir()/own-data/<content hash>/``, so a second run on the same zip starts at once.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from .. import images, paths
from .dataset import DataError
from .folders import Source
from .layouts import Understood

Progress = Callable[[str, float], None] | None
CACHE_VERSION = 1        # bump when decoding changes what a cached tensor holds
MAX_CACHE_BYTES = 8 << 30   # decoded images kept on disk for every source together (LRU)
PREVIEWS = 8             # images per class kept for the inspection's preview grid
PREVIEW_SIDE = 96        # their longer side at most, in pixels
CHUNK = 256              # images per task handed to a worker

# Memory budgets. A 3.5 MB zip of 19,999 8x8 PNGs asked for at 224 px decodes to 2.8 GB: the
# decoded size (images x C x H x W bytes) is known from the headers and refused above this
# before a pixel is decoded; the library holds about that size once (one preallocated tensor).
MAX_DECODED_BYTES = 2 << 30          # 2 GiB: 20,000 images at 3x64x64 are 250 MB
# Pixels :func:`scan` keeps of small images, at most (the rest are decoded again from the file).
SCAN_KEEP_BYTES = 256 << 20


# Threads pay off where PIL's C code (inflate, JPEG decode, resize: the GIL released) dominates,
# i.e. photos; for tiny images Python's own per-file work dominates and threads only fight over
# the GIL. Measured on 10,000 28x28 PNG digits (2 cores): 1 thread 1.2 s, 2 threads 2.4 s.
THREADS_FROM_BYTES = 32 << 10      # mean file size from which files are decoded in threads


def workers(sizes: list[int] | None = None) -> int:
    """Threads for files of these byte sizes: one for small files, else one per core (<= 8)."""
    if sizes is not None and sum(sizes) < THREADS_FROM_BYTES * max(1, len(sizes)):
        return 1
    return max(1, min(8, os.cpu_count() or 1))


def cache_dir(digest: str) -> Path:
    """Where the decoded images of the source with this content hash are kept (git-ignored:
    under the data cache)."""
    return paths.data_dir() / "own-data" / digest[:32]


def _load_cached(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged cache file is simply made again
        return None
    try:
        os.utime(path.parent)        # recently used: evicted last
    except OSError:
        pass
    return obj


def _save_cached(path: Path, obj: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(obj, tmp)
        os.replace(tmp, path)
        os.utime(path.parent)
    except OSError:
        return          # a read-only disk: no cache, the data still loads
    evict_cache(keep=path.parent)


def _dir_bytes(d: Path) -> int:
    try:
        return sum(f.stat().st_size for f in d.iterdir() if f.is_file())
    except OSError:
        return 0


def evict_cache(keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Delete the least recently used sources' decoded images until the cache holds at most
    ``limit`` bytes (:data:`MAX_CACHE_BYTES`): a class server's uploads must not fill its disk.
    ``keep`` (the source just written) is never evicted. Returns the folders deleted."""
    limit = MAX_CACHE_BYTES if limit is None else limit
    root = paths.data_dir() / "own-data"
    try:
        dirs = [d for d in root.iterdir() if d.is_dir()]
    except OSError:
        return []
    sized = sorted(((d.stat().st_mtime, d, _dir_bytes(d)) for d in dirs), key=lambda t: t[0])
    total, gone = sum(b for _, _, b in sized), []
    for _, d, b in sized:
        if total <= limit:
            break
        if keep is not None and d.resolve() == keep.resolve():
            continue
        shutil.rmtree(d, ignore_errors=True)
        total -= b
        gone.append(d)
    return gone


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _save_json(path: Path, obj: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, path)
    except OSError:
        pass


def decoded_bytes(n: int, shape: tuple[int, int, int]) -> int:
    """Bytes of ``n`` images decoded at ``shape`` (C, H, W) as uint8."""
    c, h, w = shape
    return int(n) * int(c) * int(h) * int(w)


def gb(n: float) -> str:
    return f"{n / 2**30:,.2f} GB" if n >= 2**30 else f"{n / 2**20:,.1f} MB"


def check_budget(n: int, shape: tuple[int, int, int], budget: int | None = None) -> int:
    """The decoded size of ``n`` images at ``shape``; DataError in words above ``budget``
    (default :data:`MAX_DECODED_BYTES`), saying the largest input size that fits."""
    budget = MAX_DECODED_BYTES if budget is None else int(budget)
    size = decoded_bytes(n, shape)
    if size > budget:
        c, h, w = shape
        fits = math.isqrt(budget // max(1, n * c))
        hint = (f"choose a smaller input size (at most {fits} px fits) or use fewer images"
                if fits >= 4 else "use fewer images")
        raise DataError(
            f"{n:,} images at {c} x {h} x {w} pixels decode to {gb(size)}; the limit is "
            f"{gb(budget)}, so that the server's memory holds. To fit, {hint}.")
    return size


def _parallel(n: int, work: Callable[[range], None], label: str, progress: Progress,
              threads: int) -> None:
    """``work`` on chunks of range(n), in a pool of ``threads`` (one: in this thread, no pool),
    reporting progress per chunk."""
    chunks = [range(i, min(n, i + CHUNK)) for i in range(0, n, CHUNK)]
    done = 0

    def report(chunk: range) -> None:
        nonlocal done
        done += len(chunk)
        if progress:
            progress(f"{label} {done:,}/{n:,}", done / max(n, 1))

    if threads <= 1:
        for chunk in chunks:
            work(chunk)
            report(chunk)
        return
    with ThreadPoolExecutor(threads) as pool:
        for chunk in pool.map(lambda c: (work(c), c)[1], chunks):
            report(chunk)


def _read_one(data: bytes, keep_side: int) -> tuple[tuple[int, int, str] | str, np.ndarray | None]:
    """(the header (w, h, mode) or why it is unreadable, the decoded pixels when no side is above
    ``keep_side``)."""
    try:
        head = images.probe(data, max_pixels=images.MAX_PIXELS)
        if max(head[0], head[1]) > keep_side:
            return head, None
        return head, np.asarray(images.decode(data, max_pixels=images.MAX_PIXELS))
    except images.ImageError as e:
        return str(e), None


def scan(src: Source, und: Understood, progress: Progress = None, *,
         keep_side: int = 0) -> dict[str, Any]:
    """Every image the layout keeps, read once: {"items": [(path, split, class)], "sizes":
    [(w, h)], "modes": [mode], "skipped": [(path, reason)]}, and (not cached) "pixels": per item
    the decoded uint8 (H, W) or (H, W, 3) array when no side is above ``keep_side``, else None.
    Duplicates (the same bytes as an earlier file) and unreadable files are skipped with the
    reason."""
    path = cache_dir(src.digest) / f"scan-v{CACHE_VERSION}.json"    # JSON: 10x faster to read
    cached = _load_json(path)
    if cached is not None:
        cached["skipped"] = [tuple(s) for s in cached["skipped"]]
        cached["sizes"] = [tuple(s) for s in cached["sizes"]]
        return cached
    n = len(und.items)
    # pixels kept of n images of at most keep_side (3 channels) stay within SCAN_KEEP_BYTES
    keep_side = min(keep_side, math.isqrt(SCAN_KEEP_BYTES // (3 * max(n, 1))))
    hashes: list[str] = [""] * n
    heads: list[tuple[int, int, str] | str] = [""] * n
    pixels: list[np.ndarray | None] = [None] * n

    def work(chunk: range) -> None:
        for k in chunk:
            data = src.members[und.items[k][0]].read()
            hashes[k] = hashlib.sha1(data).hexdigest()
            heads[k], pixels[k] = _read_one(data, keep_side)

    _parallel(n, work, "Reading images", progress, workers(src.sizes([i for i, _, _ in und.items])))
    out: dict[str, Any] = {"items": [], "sizes": [], "modes": [], "skipped": list(und.skipped)}
    kept: list[np.ndarray | None] = []
    first: dict[str, str] = {}
    for k, (i, split, cls) in enumerate(und.items):
        name = src.members[i].path
        if hashes[k] in first:
            out["skipped"].append((name, f"duplicate of {first[hashes[k]]}"))
        elif isinstance(heads[k], str):
            out["skipped"].append((name, f"corrupt: {heads[k]}"))
        else:
            first[hashes[k]] = name
            w, h, mode = heads[k]  # type: ignore[misc]
            out["items"].append((name, split, cls))
            out["sizes"].append((int(w), int(h)))
            out["modes"].append(mode)
            kept.append(pixels[k])
    _save_json(path, out)
    return {**out, "pixels": kept}


def propose_shape(sizes: list[tuple[int, int]], modes: list[str], *, min_side: int,
                  max_side: int) -> tuple[int, int, int]:
    """The input shape (C, H, W) the data suggests: gray (1 channel) when every image is gray,
    else colour (3); all images one size within [min_side, max_side]: that size; otherwise a
    square of the median shorter side, clamped to [min_side, max_side]."""
    c = 1 if modes and all(images.is_gray(m) for m in modes) else 3
    distinct = set(sizes)
    if len(distinct) == 1:
        w, h = next(iter(distinct))
        if min_side <= min(w, h) and max(w, h) <= max_side:
            return c, h, w
    side = statistics.median_low([min(w, h) for w, h in sizes]) if sizes else max_side
    return c, int(min(max(side, min_side), max_side)), int(min(max(side, min_side), max_side))


def _thumb(img: Image.Image) -> np.ndarray:
    thumb = img.copy()
    thumb.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return np.asarray(thumb)


def _fit(img: np.ndarray | bytes, shape: tuple[int, int, int],
         preview: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(the image at ``shape`` as uint8 (H, W, C), a small preview at its own size or None):
    from pixels :func:`scan` kept or from the file's bytes."""
    c, h, w = shape
    if isinstance(img, np.ndarray) and img.shape[:2] == (h, w) and (img.ndim == 2) == (c == 1):
        return img.reshape(h, w, c), _thumb(Image.fromarray(img)) if preview else None
    pil = Image.fromarray(img) if isinstance(img, np.ndarray) else \
        images.decode(img, max_pixels=images.MAX_PIXELS)
    pil = pil.convert("L" if c == 1 else "RGB")
    _, cropped = images.resize_crop(pil, min(h, w), (h, w))
    return np.asarray(cropped).reshape(h, w, c), _thumb(pil) if preview else None


def decode(src: Source, found: dict[str, Any], shape: tuple[int, int, int],
           progress: Progress = None) -> dict[str, Any]:
    """Every scanned image at ``shape`` (C, H, W): {"x": uint8 (N, C, H, W) of the images that
    decoded, "kept": their indices into found["items"], "skipped": [(path, reason)],
    "previews": {class: [uint8 tensors]}}; cached by content hash and shape. The pixels
    :func:`scan` kept are used as they are; other files are read and decoded here."""
    c, h, w = shape
    path = cache_dir(src.digest) / f"{c}x{h}x{w}-v{CACHE_VERSION}.pt"
    cached = _load_cached(path)
    if cached is not None:
        cached["kept"] = cached["kept"].tolist()
        return cached
    by_path = {m.path: m for m in src.members}
    items = found["items"]
    n = len(items)
    check_budget(n, shape)
    pixels = found.get("pixels") or [None] * n
    # the one allocation of the decoded size, filled in place image by image (no list of
    # arrays, no stack, no float copy)
    x = torch.empty((n, c, h, w), dtype=torch.uint8)                          # (N, C, H, W)
    rows = x.numpy()
    errors: list[str] = [""] * n
    want: dict[int, str] = {}                # the first PREVIEWS images of each class
    per: dict[str, int] = {}
    for k, (_, _, cls) in enumerate(items):
        if per.get(cls, 0) < PREVIEWS:
            want[k], per[cls] = cls, per.get(cls, 0) + 1
    small: dict[int, np.ndarray] = {}

    def work(chunk: range) -> None:
        for k in chunk:
            try:
                img = pixels[k] if pixels[k] is not None else by_path[items[k][0]].read()
                fitted, thumb = _fit(img, shape, k in want)
            except images.ImageError as e:
                errors[k] = str(e)
                continue
            rows[k] = fitted.transpose(2, 0, 1)                               # (C, H, W)
            if thumb is not None:
                small[k] = thumb

    to_read = [by_path[items[k][0]].size for k in range(n) if pixels[k] is None]
    _parallel(n, work, "Decoding images", progress, workers(to_read))
    kept = [k for k in range(n) if not errors[k]]
    for j, k in enumerate(kept):         # the images that decoded moved up, in place
        if j != k:
            x[j] = x[k]
    x = x[:len(kept)]
    previews: dict[str, list[torch.Tensor]] = {}
    for k in sorted(small):
        previews.setdefault(want[k], []).append(torch.from_numpy(small[k].copy()))
    result = {"x": x, "kept": torch.tensor(kept, dtype=torch.int64), "previews": previews,
              "skipped": [(items[k][0], f"corrupt: {errors[k]}") for k in range(n) if errors[k]]}
    _save_cached(path, result)
    return {**result, "kept": kept}
