"""A learner's own images: a zip (or a folder) of class folders, e.g. ``cats/`` and ``dogs/``.
A zip is checked before anything is read (no ``..``, no absolute paths, no links, bounded sizes,
images present); images are decoded once, centre-cropped to squares and split into train and
validation with every class in both."""
from __future__ import annotations

import io
import os
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

from .dataset import DataError, Dataset, UnsafeArchive

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

# Limits for user zips: generous for a class assignment, small enough to stop a zip bomb.
ZIP_MAX_FILES = 20_000
ZIP_MAX_TOTAL = 1 << 30          # 1 GiB uncompressed in all
ZIP_MAX_MEMBER = 50 << 20        # 50 MiB per file
ZIP_MAX_RATIO = 200              # uncompressed / compressed per file
MAX_IMAGE_PIXELS = 40_000_000

FEWER_THAN_TWO = ("Found images for fewer than two classes. Put one folder per class in the zip, "
                  "e.g. cats/ and dogs/ (found: {}).")

Reader = Callable[[], bytes]


def _check_member(info: zipfile.ZipInfo, parts: list[str]) -> None:
    """Refuse one zip member that points outside the folder, is a link or is a bomb."""
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise UnsafeArchive(f"Refused: the zip contains the path {name!r}, which points outside "
                            "the folder it would be extracted to.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchive(f"Refused: {name!r} in the zip is a symbolic link.")
    if info.file_size > ZIP_MAX_MEMBER:
        raise UnsafeArchive(f"Refused: {name!r} unpacks to {info.file_size / 2**20:,.0f} MB; "
                            f"the limit per file is {ZIP_MAX_MEMBER >> 20} MB.")
    if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO and info.file_size > 1 << 20:
        raise UnsafeArchive(f"Refused: {name!r} is compressed {info.file_size / info.compress_size:,.0f}"
                            " times, the mark of a zip bomb.")


def check_zip(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The image members of a zip of class folders, after refusing anything unsafe."""
    infos = zf.infolist()
    if len(infos) > ZIP_MAX_FILES:
        raise UnsafeArchive(f"The zip holds {len(infos):,} entries; the limit is {ZIP_MAX_FILES:,}.")
    total = 0
    images = []
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        _check_member(info, parts)
        total += info.file_size
        if total > ZIP_MAX_TOTAL:
            raise UnsafeArchive(f"Refused: the zip unpacks to more than {ZIP_MAX_TOTAL >> 30} GB.")
        if info.is_dir() or parts[-1].startswith(".") or "__MACOSX" in parts:
            continue
        if Path(info.filename).suffix.lower() in IMAGE_SUFFIXES:
            images.append(info)
    if not images:
        raise DataError("The zip holds no images (.jpg, .png, ...). Put one folder per class in "
                        "it, e.g. cats/ and dogs/, with the images inside.")
    return images


def _open_zip(source: str | os.PathLike | bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"This is not a readable zip file ({e}).") from e


def _zip_items(zf: zipfile.ZipFile) -> list[tuple[str, Reader]]:
    """(class, reader) per image: the class is the last folder above the file."""
    items = []
    for info in check_zip(zf):
        parts = info.filename.replace("\\", "/").split("/")
        if len(parts) >= 2:
            items.append((parts[-2], lambda i=info: zf.read(i)))
    return items


def _folder_items(base: Path) -> list[tuple[str, Reader]]:
    """(class, reader) per image file under ``base`` (links are skipped)."""
    return [(f.parent.name, lambda f=f: f.read_bytes()) for f in sorted(base.rglob("*"))
            if not f.is_symlink() and f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
            and not f.name.startswith(".")]


def describe_zip(source: str | os.PathLike | bytes) -> dict[str, int]:
    """Images per class folder of a zip, after the safety checks (nothing is decoded)."""
    counts: dict[str, int] = {}
    with _open_zip(source) as zf:
        for cls, _ in _zip_items(zf):
            counts[cls] = counts.get(cls, 0) + 1
    if len(counts) < 2:
        raise DataError(FEWER_THAN_TWO.format(", ".join(counts) or "none"))
    return dict(sorted(counts.items()))


def _decode(data: bytes, size: int) -> torch.Tensor:
    """RGB uint8 (3, size, size) from image bytes: centre crop to a square, resize."""
    from PIL import Image

    # Our own pixel limit, checked on the header before decoding; PIL's global limit is left
    # alone (it is process-wide state other code relies on). Beyond twice PIL's own limit, open()
    # raises DecompressionBombError, which the caller reports as a skipped image.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data))
    with im:
        if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
            raise DataError(f"{im.size[0]:,} x {im.size[1]:,} pixels is more than the "
                            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixel limit.")
        im.draft("RGB", (size * 2, size * 2))
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((size, size), Image.Resampling.BILINEAR)
        hwc = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, 3)
        return hwc.permute(2, 0, 1).clone()


def _decode_all(items: list[tuple[str, Reader]], classes: list[str], size: int,
                progress: Callable[[str, float], None] | None):
    """(images (N, 3, size, size), labels (N,), what could not be read)."""
    xs, ys, bad = [], [], []
    for i, (cls, read) in enumerate(items):
        try:
            xs.append(_decode(read(), size))
            ys.append(classes.index(cls))
        except Exception as e:  # noqa: BLE001 - a broken image is skipped and reported
            bad.append(f"{cls}: {type(e).__name__}")
        if progress and i % 50 == 0:
            progress(f"Decoding images {i:,}/{len(items):,}", i / len(items))
    if len(xs) < 4:
        raise DataError("Fewer than 4 images could be decoded: " + "; ".join(bad[:5]))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64), bad


def _stratified_split(y: torch.Tensor, classes: int, val_fraction: float,
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


def load_image_folder(path: str | os.PathLike | bytes, *, size: int = 64, val_fraction: float = 0.2,
                      seed: int = 0, progress: Callable[[str, float], None] | None = None) -> Dataset:
    """A dataset from a zip (path or bytes) or a folder holding one folder per class."""
    if isinstance(path, (bytes, bytearray)) or (Path(path).is_file() and zipfile.is_zipfile(path)):
        zf = _open_zip(path)
        items = _zip_items(zf)
        label = "zip" if isinstance(path, (bytes, bytearray)) else Path(path).name
    elif Path(path).is_dir():
        items, label = _folder_items(Path(path)), Path(path).name
    else:
        raise DataError(f"{path} is neither a zip file nor a folder.")
    classes = sorted({c for c, _ in items})
    if len(classes) < 2:
        raise DataError(FEWER_THAN_TWO.format(", ".join(classes) or "none"))
    x, y, bad = _decode_all(items, classes, size, progress)
    ti, vi = _stratified_split(y, len(classes), val_fraction, torch.Generator().manual_seed(seed))
    notes = [f"{len(bad)} files could not be read as images and were skipped."] if bad else []
    return Dataset(label, classes, x[ti], y[ti], x[vi], y[vi], source=f"{len(x):,} images from {label}",
                   notes=notes)
