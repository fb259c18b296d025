"""The run folder: its one writer and reader. Everything else calls these functions::

    <id>/config.json     {"id", "created", "config": RunConfig.to_dict()}
    <id>/status.json     status, message, error, pid, heartbeat, progress, info
    <id>/metrics.jsonl   one JSON object per line: {"type": "step" | "epoch" | "event", ...}
    <id>/best.pt, last.pt  self-describing checkpoints (playground.checkpoints)
    <id>/resume.pt       model, optimizer, scheduler and random state, to resume
    <id>/analysis.json, wrong.pt   confusion matrix, per-class accuracy, the worst mistakes
    <id>/test.json       the held-out test split (data with a test/ folder), evaluated once at
                         the end: {"test_loss", "test_acc", "n_test", "epoch", "model"}

JSON files are replaced atomically (a reader never sees half a file); metrics.jsonl is appended,
and a half-written last line (a process killed mid-write) is skipped when read.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoints

CONFIG, STATUS, METRICS = "config.json", "status.json", "metrics.jsonl"
RESUME, ANALYSIS, WRONG, TEST = "resume.pt", "analysis.json", "wrong.pt", "test.json"
CHECKPOINTS = ("best", "last")      # best.pt: best validation accuracy; last.pt: the last epoch


@dataclass(frozen=True)
class RunStatus:
    going: bool         # queued or training: the page polls it
    resumable: bool     # can continue from resume.pt
    color: str          # badge colour
    icon: str           # Material Symbols name


STATUSES: dict[str, RunStatus] = {
    "queued": RunStatus(True, False, "gray", "schedule"),
    "running": RunStatus(True, False, "blue", "directions_run"),
    "finished": RunStatus(False, False, "green", "check_circle"),
    "stopped": RunStatus(False, True, "orange", "stop_circle"),
    "failed": RunStatus(False, True, "red", "error"),
    "interrupted": RunStatus(False, True, "violet", "pause_circle"),
}


# -- JSON files --------------------------------------------------------------------------------
def atomic_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, then rename it over ``path``
    (per process and thread: the training thread and a page may write the same status)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object, {} when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_config(run_dir: Path, run_id: str, created: float, config: dict[str, Any]) -> None:
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    atomic_json(Path(run_dir) / CONFIG, {"id": run_id, "created": created, "config": config})


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json: {"id", "created", "config"}; {} when the folder is not a run."""
    return read_json(Path(run_dir) / CONFIG)


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    atomic_json(Path(run_dir) / STATUS, status)


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / STATUS)


# -- metrics.jsonl -----------------------------------------------------------------------------
class MetricsLog:
    """Appends JSON lines to metrics.jsonl, flushing at most every ``every`` seconds (a line per
    step would otherwise be a write per step) and at once when asked (epochs, events)."""

    def __init__(self, run_dir: Path, every: float = 0.5):
        self.fh = open(Path(run_dir) / METRICS, "a", buffering=1 << 16)
        self.every = every
        self.last = time.time()

    def write(self, obj: dict, flush: bool = False) -> None:
        self.fh.write(json.dumps(obj) + "\n")
        now = time.time()
        if flush or now - self.last > self.every:
            self.fh.flush()
            self.last = now

    def close(self) -> None:
        self.fh.flush()
        self.fh.close()


def read_metrics(run_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(steps, epochs, events) from a run folder's metrics.jsonl."""
    steps, epochs, events = [], [], []
    path = Path(run_dir) / METRICS
    if not path.exists():
        return steps, epochs, events
    with open(path) as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = obj.get("type")
            (steps if kind == "step" else epochs if kind == "epoch" else events).append(obj)
    return steps, epochs, events


def truncate_metrics(run_dir: Path, step: int, epoch: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Rewrite metrics.jsonl without the steps after ``step`` and the epochs after ``epoch``
    (what a resumed run will do again); returns what is kept as (steps, epochs, events)."""
    steps, epochs, events = read_metrics(run_dir)
    steps = [s for s in steps if s["step"] <= step]
    epochs = [e for e in epochs if e["epoch"] <= epoch]
    tmp = Path(run_dir) / f".{METRICS}.tmp"
    with open(tmp, "w") as fh:
        for obj in [*events, *steps, *epochs]:
            fh.write(json.dumps(obj) + "\n")
    os.replace(tmp, Path(run_dir) / METRICS)
    return steps, epochs, events


def last_epoch(run_dir: Path) -> dict[str, Any] | None:
    """The last epoch line of metrics.jsonl, read from the end of the file (a listing of many
    runs reads 64 KiB per run, not every step)."""
    path = Path(run_dir) / METRICS
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            chunk = min(size, 1 << 16)
            fh.seek(size - chunk)
            tail = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        if '"type": "epoch"' in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    if size > chunk:  # a long epoch: fall back to the full read
        _, epochs, _ = read_metrics(run_dir)
        return epochs[-1] if epochs else None
    return None


# -- checkpoints, resume state, analysis ---------------------------------------------------------
def checkpoint_path(run_dir: Path, which: str) -> Path:
    """best.pt or last.pt of a run (``which``: "best" or "last")."""
    if which not in CHECKPOINTS:
        raise ValueError(f"which must be one of {CHECKPOINTS}")
    return Path(run_dir) / f"{which}.pt"


def save_resume(run_dir: Path, state: dict[str, Any]) -> None:
    checkpoints.atomic_save(state, Path(run_dir) / RESUME)


def load_resume(run_dir: Path) -> dict[str, Any] | None:
    """resume.pt (tensors and plain values only), None when the run has none."""
    path = Path(run_dir) / RESUME
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def write_analysis(run_dir: Path, report: dict[str, Any], wrong_images: torch.Tensor) -> None:
    """analysis.json and the uint8 images (N, C, H, W) of the worst mistakes in wrong.pt."""
    atomic_json(Path(run_dir) / ANALYSIS, report)
    checkpoints.atomic_save({"images": wrong_images.cpu()}, Path(run_dir) / WRONG)


def write_test(run_dir: Path, result: dict[str, Any]) -> None:
    """test.json: the held-out test split's loss and accuracy, written once at the end."""
    atomic_json(Path(run_dir) / TEST, result)


def read_test(run_dir: Path) -> dict[str, Any] | None:
    """test.json of a run evaluated on a held-out test split, else None."""
    return read_json(Path(run_dir) / TEST) or None


def read_analysis(run_dir: Path) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """(analysis.json, uint8 images of the worst mistakes as (N, H, W, C) or grey (N, H, W)),
    of a finished run, or (None, None)."""
    a = read_json(Path(run_dir) / ANALYSIS) or None
    path = Path(run_dir) / WRONG
    if a is None or not path.exists():
        return a, None
    try:
        imgs = torch.load(path, map_location="cpu", weights_only=True)["images"]   # (N, C, H, W)
    except Exception:  # noqa: BLE001 - the images are a nice-to-have
        return a, None
    return a, (imgs.permute(0, 2, 3, 1) if imgs.shape[1] == 3 else imgs[:, 0]).numpy()
