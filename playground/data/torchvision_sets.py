"""torchvision's MNIST, FashionMNIST and CIFAR-10 as uint8 tensors: read from a local folder in
torchvision's own layout, downloaded (with progress) when missing and online; offline,
:class:`DataUnavailable` says where to put the files."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import Callable

import torch

from .. import paths
from .dataset import DataError, DataUnavailable, Dataset

# key -> (torchvision class, the folder torchvision reads under its root)
TORCHVISION_SETS = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "FashionMNIST"),
                    "cifar10": ("CIFAR10", "cifar-10-batches-py")}


def expected_location(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder torchvision reads ``name`` from (its own layout)."""
    cls, folder = TORCHVISION_SETS[name]
    root = Path(root) if root else paths.data_dir()
    return root / folder / "raw" if cls != "CIFAR10" else root / folder


def _gunzip_raw(raw: Path) -> None:
    """MNIST files placed as the .gz downloads: unpack them next to themselves, as torchvision's
    own download would."""
    if raw.is_dir():
        for gz in raw.glob("*-ubyte.gz"):
            out = gz.with_suffix("")
            if not out.exists():
                with gzip.open(gz, "rb") as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def _offline_message(key: str, root: Path) -> str:
    cls, _ = TORCHVISION_SETS[key]
    if cls == "CIFAR10":
        files = "the extracted cifar-10-batches-py folder (data_batch_1..5, test_batch, batches.meta)"
    else:
        files = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                 "t10k-labels-idx1-ubyte (the .gz files work too)")
    return (f"{cls} is not on this computer and could not be downloaded (no internet?). "
            f"Put {files} in {expected_location(key, root)}, or set PLAYGROUND_DATA_DIR to a folder "
            "that has them.")


def _split(cls, key: str, root: Path, train: bool, download: bool,
           progress: Callable[[str, float], None] | None):
    """One split of a torchvision dataset: read locally, else downloaded when allowed."""
    try:
        return cls(str(root), train=train, download=False)
    except (RuntimeError, FileNotFoundError, OSError):
        if not download:
            raise DataUnavailable(_offline_message(key, root)) from None
    if progress:
        progress(f"Downloading {cls.__name__} to {root} ...", 0.0)
    try:
        return cls(str(root), train=train, download=True)
    except Exception as e:  # noqa: BLE001 - URLError, socket errors, checksum errors
        raise DataUnavailable(_offline_message(key, root) + f" (download failed: {e})") from e


def _to_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images and int64 labels of a torchvision split (grey: (N, H, W);
    colour: (N, H, W, C) in numpy)."""
    x = torch.as_tensor(split.data)
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.contiguous().to(torch.uint8), torch.as_tensor(split.targets, dtype=torch.int64)


def load_torchvision(key: str, root: str | os.PathLike | None = None, *, download: bool = True,
                     progress: Callable[[str, float], None] | None = None) -> Dataset:
    """MNIST / FashionMNIST / CIFAR-10 (train split for training, test split for validation).
    Reads ``root`` in torchvision's layout; downloads when missing and ``download``; raises
    :class:`DataUnavailable` with the folder to fill when it cannot."""
    import torchvision.datasets as tvd

    if key not in TORCHVISION_SETS:
        raise DataError(f"Unknown torchvision dataset {key!r}; known: {', '.join(TORCHVISION_SETS)}.")
    cls_name, _ = TORCHVISION_SETS[key]
    cls = getattr(tvd, cls_name)
    root = Path(root) if root else paths.data_dir()
    if cls_name != "CIFAR10":
        _gunzip_raw(expected_location(key, root))
    tr = _split(cls, key, root, True, download, progress)
    va = _split(cls, key, root, False, download, progress)
    (xt, yt), (xv, yv) = _to_tensors(tr), _to_tensors(va)
    return Dataset(key, list(tr.classes), xt, yt, xv, yv, source=f"torchvision {cls_name} from {root}")
