"""The epoch views: what the network makes of a fixed strip of validation images, after each
epoch, so the Training page can show a mask sharpening (segment) or an objectness map forming
(detect) while the run trains. This module owns the run folder's ``views/`` files::

    <id>/views/strip.npz        once per run: "images" uint8 (K, C, H, W), the first K
                                validation images; "truth" their targets (masks as uint8,
                                boxes as float32 (K, objects, 5): class, x1, y1, x2, y2)
    <id>/views/epoch_0003.npz   after epoch 3: the arrays of the task's ``epoch_view`` hook
                                (segment: "pred" uint8 (K, H, W); detect: "raw" float16
                                (K, S, S, 5 + classes), the grid's outputs)

The strip is the first ``STRIP`` validation images: the validation split is fixed for a run
(same seed, same data), so a resumed run draws the same images. Each file is written to a
temporary name and renamed (a crash leaves the last complete epoch); a resumed run removes the
epochs after its checkpoint (:func:`truncate`) and appends again. At most ``MAX_EPOCHS`` epoch
files are kept (the first and the latest), so a long run's folder stays small: a 32 px strip of
6 masks is ~2 kB per epoch compressed.

The reader (:func:`read_strip`, :func:`read_epoch_views`) returns numpy arrays only: a page
needs no torch, and a damaged file is skipped, never raised.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runs.store import write_error
from .evaluate import logits

STRIP = 6            # validation images in the strip: one row of a page, one cheap forward
MAX_EPOCHS = 64      # epoch files kept: the first and the latest 63
VIEWS, STRIP_FILE = "views", "strip.npz"
EPOCH_FILE = re.compile(r"^epoch_(\d{4,})\.npz$")
MAX_FILE_BYTES = 16 << 20     # a views file larger than this is not read (a page must stay light)


def views_dir(run_dir: Path) -> Path:
    return Path(run_dir) / VIEWS


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as a compressed .npz, atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(f"{VIEWS}/{path.name}", e) from e


def _load(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a views file; None when it is missing, too big or unreadable."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _compact(t: torch.Tensor) -> np.ndarray:
    """A target tensor as numpy; integer targets that fit (class indices) as uint8."""
    a = t.detach().cpu().numpy()
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() < 256:
        return a.astype(np.uint8)
    return a


def epoch_files(run_dir: Path) -> dict[int, Path]:
    d = views_dir(run_dir)
    if not d.is_dir():
        return {}
    return {int(m.group(1)): p for p in d.iterdir() if (m := EPOCH_FILE.match(p.name))}


# -- writer (the training loop, rank 0) -----------------------------------------------------------
def write_epoch(run_dir: Path, epoch: int, task: Any, model: torch.nn.Module, val_x: torch.Tensor,
                val_y: torch.Tensor, mean, std, **input_args: Any) -> None:
    """After validation of ``epoch``: the strip (once) and the task's view of it. ``task``: a
    :class:`playground.tasks.Task` whose ``epoch_view`` is not None. One forward of ``STRIP``
    images; the model is left in eval mode, as after validation."""
    k = min(STRIP, int(val_x.shape[0]))
    strip = views_dir(run_dir) / STRIP_FILE
    if not strip.exists():
        _save(strip, {"images": val_x[:k].cpu().numpy(), "truth": _compact(val_y[:k])})
    with torch.no_grad():
        out = logits(model, val_x[:k], mean, std, **input_args)
    view = task.epoch_view(out)
    _save(views_dir(run_dir) / f"epoch_{int(epoch):04d}.npz", {n: np.asarray(a) for n, a in view.items()})
    files = epoch_files(run_dir)
    for e in sorted(files)[1:-(MAX_EPOCHS - 1)]:   # keep the first and the latest
        files[e].unlink(missing_ok=True)


def truncate(run_dir: Path, epoch: int) -> None:
    """Remove the epoch views after ``epoch`` (a resume redoes them)."""
    for e, p in epoch_files(run_dir).items():
        if e > epoch:
            p.unlink(missing_ok=True)


# -- reader (pages) --------------------------------------------------------------------------------
def read_strip(run_dir: Path) -> dict[str, np.ndarray] | None:
    """{"images": uint8 (K, C, H, W), "truth": (K, ...)} of a run, None when it has none."""
    s = _load(views_dir(run_dir) / STRIP_FILE)
    if s is None or "images" not in s or s["images"].dtype != np.uint8 or s["images"].ndim != 4:
        return None
    return s


def read_epoch_views(run_dir: Path) -> list[dict[str, Any]]:
    """Every epoch's view, oldest first: ``{"epoch": n, **arrays}`` (segment: "pred" uint8
    (K, H, W), the predicted class of every pixel). Unreadable files are left out."""
    out = []
    for e, p in sorted(epoch_files(run_dir).items()):
        arrays = _load(p)
        if arrays is not None:
            out.append({"epoch": e, **arrays})
    return out


def read_epoch_view(run_dir: Path, epoch: int) -> dict[str, Any] | None:
    """One epoch's view (the page reads only the one it shows), None when absent."""
    arrays = _load(views_dir(run_dir) / f"epoch_{int(epoch):04d}.npz")
    return None if arrays is None else {"epoch": int(epoch), **arrays}


def view_epochs(run_dir: Path) -> list[int]:
    """The epochs that have a view, oldest first (no file is read)."""
    return sorted(epoch_files(run_dir))
