"""A finished run applied to a learner's own images, of any size::

    python -m playground predict RUN IMAGE... [--out DIR] [--json] [--runs-dir D]

    from playground import predict
    p = predict.load_predictor("runs/20260101-shapes")      # a run id or a run folder
    p.predict(Image.open("photo.jpg"))                        # -> one dict, the task's format

The run's ``best.pt`` (else ``last.pt``) is loaded weights-only and rebuilt by its task
(:data:`playground.tasks.TASKS`); each image goes through the app's one decoder
(:func:`playground.images.decode`: a corrupt or huge file is a message for that image only),
is brought to the run's input, and the task's ``predict`` hook reads the outputs, which are
then mapped back to the image's own pixels:

- classify (a task with one label per image): ``{"top": [{"label", "p"}]}``, the five most
  likely classes (the image's shorter side resized to the input, centre-cropped: what the
  Classify page does);
- segment: ``{"mask": (H, W) int64 at the image's own size, "pixels": {class: count}}``; the
  whole image is resized to the input, and the class scores are upsampled *bilinearly* back to
  the image's size before the argmax (:func:`upsampled_argmax`): edges follow the scores
  between the coarse pixels instead of nearest upsampling's staircase of input pixels;
- detect: ``{"detections": [{"box": [x1, y1, x2, y2], "label", "score"}]}``, the boxes the
  task gives in the input's pixels scaled to the image's (:func:`scale_boxes`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import checkpoints, images, runs
from .runs import store
from .tasks import TASKS, Task

BAND_BYTES = 64 << 20      # segment: class scores upsampled in bands of rows of at most this
# Statuses whose checkpoints are whole and final for now: a stopped or interrupted run keeps
# the checkpoints of its last finished epoch. A run still going is refused (its best.pt changes
# each epoch), and a failed one too (its last epochs may be what went wrong).
USABLE = ("finished", "stopped", "interrupted")


class PredictError(ValueError):
    """A run that cannot predict (unknown, still training, failed, no checkpoint); in words."""


def run_dir_of(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """The folder of a run given by its id (in ``runs_dir``) or by its folder's path."""
    p = Path(run)
    if p.is_dir() and (p / store.CONFIG).is_file():
        return p
    info = runs.find_run(str(run), runs_dir) if re.fullmatch(r"[\w.-]+", str(run)) else None
    if info is None:
        raise PredictError(f"No run {str(run)[:80]!r} here: give a run id from `python -m playground "
                           "runs` (and --runs-dir if it is elsewhere) or the path of a run folder.")
    return info.dir


def checkpoint_of(run_dir: Path) -> Path:
    """The run's best checkpoint, else its last; PredictError for a run that is still training,
    failed, damaged or has not finished an epoch."""
    info = runs.read_run(run_dir, mark=False)
    if info is None:
        raise PredictError(f"{run_dir} is not a run folder.")
    if info.status not in USABLE:
        why = {"running": "is still training", "queued": "is waiting to train",
               "failed": f"failed ({info.error or info.message or 'no reason recorded'})",
               "damaged": f"has damaged files ({info.problem})"}.get(info.status, f"is {info.status}")
        raise PredictError(f"Run {info.name!r} {why}: predict with a run that has finished (or was "
                           "stopped after an epoch).")
    path = info.best_checkpoint or info.last_checkpoint
    if path is None:
        raise PredictError(f"Run {info.name!r} has no checkpoint: it ended before its first epoch did.")
    return Path(path)


def as_image(image: Image.Image | np.ndarray | bytes) -> Image.Image:
    """A PIL image in mode L or RGB: bytes through the app's decoder, arrays (H, W) or (H, W, 3)
    uint8 as they are, PIL images flattened as the decoder does."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return images.decode(bytes(image))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise images.ImageError("An image array must be uint8, (H, W) gray or (H, W, 3) colour.")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise images.ImageError(f"Expected an image, got {type(image).__name__}.")
    return images.flatten(image)


def scale_boxes(boxes: torch.Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> torch.Tensor:
    """Boxes (N, 4) x1, y1, x2, y2 in pixel edges of an image of ``from_size`` (H, W) -> the same
    boxes in an image of ``to_size`` (H, W) that was resized (stretched) to ``from_size``,
    clipped to that image."""
    (fh, fw), (th, tw) = from_size, to_size
    scale = torch.tensor([tw / fw, th / fh, tw / fw, th / fh], dtype=torch.float32)
    out = boxes.float().reshape(-1, 4) * scale
    return torch.stack([out[:, 0].clamp(0, tw), out[:, 1].clamp(0, th),
                        out[:, 2].clamp(0, tw), out[:, 3].clamp(0, th)], dim=1)


def _interp_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """(n_out, n_in): torch's 1-D bilinear resampling (align_corners False) as a matrix, made by
    resampling the identity, so bands of rows give what one F.interpolate would."""
    eye = torch.eye(n_in)[None, None]                                           # (1, 1, n_in, n_in)
    return F.interpolate(eye, size=(n_out, n_in), mode="bilinear", align_corners=False)[0, 0]


def upsampled_argmax(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The class of every pixel of an image of ``size`` (H, W), int64: the scores (C, h, w)
    upsampled bilinearly (= ``F.interpolate(..., mode="bilinear")``), then the argmax; computed in
    bands of rows so a 40-megapixel photo never holds all its class scores at once."""
    c, h, w = scores.shape
    H, W = size
    ry, rx = _interp_matrix(H, h), _interp_matrix(W, w)                         # (H, h), (W, w)
    cols = torch.einsum("chw,Ww->chW", scores.float(), rx)                      # (C, h, W)
    band = max(1, BAND_BYTES // (4 * c * W))
    out = torch.empty((H, W), dtype=torch.int64)
    for y0 in range(0, H, band):
        out[y0:y0 + band] = torch.einsum("Yh,chW->cYW", ry[y0:y0 + band], cols).argmax(0)
    return out


@dataclass
class Predictor:
    """A run's network, ready for a learner's images: ``predict(image) -> dict``."""
    ckpt: checkpoints.Checkpoint
    task: Task

    @property
    def class_names(self) -> list[str]:
        return self.ckpt.class_names

    @torch.no_grad()
    def predict(self, image: Image.Image | np.ndarray | bytes) -> dict[str, Any]:
        """One image (PIL, a uint8 array or an image file's bytes) -> the task's prediction in
        the image's own pixels (module docstring); ImageError for an image that cannot be read."""
        img = as_image(image)
        if self.task.per_image:   # one label: the Classify page's preprocessing, exactly
            pre = images.Preprocess.for_input(self.ckpt.input_shape, self.ckpt.mean, self.ckpt.std)
            return self.task.predict(self.ckpt.model(images.prepare(img, pre).tensor), self.class_names)[0]
        x = self.stretched(img)                                                # (1, C, h, w)
        out = self.ckpt.model(x)
        pred = self.task.predict(out, self.class_names)[0]
        size = (img.height, img.width)
        if "mask" in pred:
            pred["mask"] = upsampled_argmax(out[0], size)
            counts = torch.bincount(pred["mask"].flatten(), minlength=len(self.class_names)).tolist()
            pred["pixels"] = {c: n for c, n in zip(self.class_names, counts) if n}
        for d in pred.get("detections", []):
            d["box"] = [round(v, 1) for v in scale_boxes(torch.tensor(d["box"]), tuple(x.shape[-2:]), size)[0].tolist()]
        return pred

    def stretched(self, img: Image.Image) -> torch.Tensor:
        """The whole image resized (bilinear, antialiased) to the run's input, normalized:
        (1, C, h, w); every input pixel maps back to a rectangle of the image."""
        c, h, w = self.ckpt.input_shape
        arr = np.asarray(img.convert("L" if c == 1 else "RGB"))
        x = torch.from_numpy(arr.copy()).reshape(img.height, img.width, -1).permute(2, 0, 1)[None]
        x = F.interpolate(x.float() / 255, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        m = torch.tensor(self.ckpt.mean).view(1, -1, 1, 1)
        s = torch.tensor(self.ckpt.std).view(1, -1, 1, 1)
        return (x - m) / s


def load_predictor(run: str | Path, runs_dir: str | Path | None = None) -> Predictor:
    """The predictor of a run (its id or folder): best.pt, else last.pt, rebuilt by its task.
    PredictError when the run cannot predict (see :func:`checkpoint_of`)."""
    path = checkpoint_of(run_dir_of(run, runs_dir))
    try:
        ck = checkpoints.load_checkpoint(path, any_task=True)
    except checkpoints.CheckpointError as e:
        raise PredictError(f"The run's checkpoint cannot be used: {e}") from e
    return Predictor(ck, TASKS[ck.task])


# --------------------------------------------------------------------------------------------
# The command: files in, one record (and for masks two PNGs) per image out
# --------------------------------------------------------------------------------------------
def read_image_file(path: str | Path) -> bytes:
    """An image file's bytes; ImageError in words for a missing, unreadable or too large file
    (the size checked before anything is read)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise images.ImageError("no such file")
        if p.stat().st_size > images.MAX_BYTES:
            raise images.ImageError(f"the file is {p.stat().st_size / 2**20:.1f} MB; the limit is "
                                    f"{images.MAX_BYTES / 2**20:.1f} MB")
        return p.read_bytes()
    except OSError as e:
        raise images.ImageError(f"the file cannot be read ({e.strerror or type(e).__name__})") from e


def _mask_files(out: Path, image: str, taken: set[str]) -> tuple[Path, Path]:
    """(mask, overlay) paths in ``out`` named after the image: ``<stem>.mask.png`` and
    ``<stem>.overlay.png`` (``<stem>-2...`` when two images share a stem)."""
    stem, k = Path(image).stem or "image", 1
    while (name := stem if k == 1 else f"{stem}-{k}") in taken:
        k += 1
    taken.add(name)
    return out / f"{name}.mask.png", out / f"{name}.overlay.png"


def predict_files(predictor: Predictor, paths: list[str], out: str | Path | None = None):
    """One JSON-able record per image path, in order: ``{"image": path, **prediction}``, or
    ``{"image": path, "error": why}`` for a file that cannot be read. A mask is written to
    ``out`` (``"mask"``: its path; None without ``out``) beside a coloured overlay."""
    from .figures.segment import colour_overlay

    folder = Path(out) if out else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for path in paths:
        try:
            img = as_image(read_image_file(path))
            pred = predictor.predict(img)
        except images.ImageError as e:
            yield {"image": str(path), "error": str(e)}
            continue
        if "mask" in pred:
            mask, pred["mask"] = pred["mask"], None
            if folder is not None:
                mask_png, overlay_png = _mask_files(folder, path, taken)
                Image.fromarray(mask.numpy().astype(np.uint8), "L").save(mask_png)
                Image.fromarray(colour_overlay(np.asarray(img.convert("RGB")), mask)).save(overlay_png)
                pred["mask"] = str(mask_png)
        yield {"image": str(path), **pred}


def readable(rec: dict[str, Any]) -> str:
    """One line for a person: the classes and their probabilities, the share of each class's
    pixels (and where the mask went), or the detections."""
    head = f"{rec['image']}: "
    if "error" in rec:
        return head + f"cannot be read: {rec['error']}"
    if "top" in rec:
        return head + ", ".join(f"{t['label']} {t['p']:.1%}" for t in rec["top"])
    if "pixels" in rec:
        total = max(1, sum(rec["pixels"].values()))
        shares = ", ".join(f"{c} {n / total:.1%}" for c, n in rec["pixels"].items())
        return head + shares + " of the pixels" + (f" -> {rec['mask']}" if rec.get("mask") else "")
    dets = rec.get("detections", [])
    return head + (", ".join(f"{d['label']} {d['score']:.2f} at {d['box']}" for d in dets) or "nothing detected")


__all__ = ["PredictError", "Predictor", "USABLE", "checkpoint_of", "load_predictor", "predict_files",
           "read_image_file", "readable", "run_dir_of", "scale_boxes", "upsampled_argmax"]
