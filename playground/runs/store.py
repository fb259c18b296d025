"""The run folder: its one writer and reader. Everything else calls these functions::

    <id>/config.json     {"id", "created", "config": RunConfig.to_dict()}
    <id>/status.json     status, message, error, pid, heartbeat, progress, info
    <id>/metrics.jsonl   one JSON object per line: {"type": "step" | "epoch" | "event", ...}
    <id>/best.pt, last.pt  self-describing checkpoints (playground.checkpoints)
    <id>/resume.pt       model, optimizer, scheduler and random state, to resume
    <id>/analysis.json, wrong.pt   confusion matrix, per-class accuracy, the worst mistakes
    <id>/test.json       the held-out test split (data with a test/ folder), evaluated once at
                         the end: {"test_loss", "test_acc", "n_test", "epoch", "model"}

    <id>/lock.json       who trains the run now (playground.runs.lock)
    <id>/owner.json      {"owner": the owner id of the browser that started it} (runs.owners);
                         absent for a run started from the command line

JSON files are replaced atomically (a reader never sees half a file; a failed write leaves no
temporary file and raises :class:`RunWriteError`); metrics.jsonl is appended, and a half-written
last line (a process killed mid-write) is skipped when read. Nothing read is trusted: a file
that is missing, not JSON, too big or of the wrong shape makes the run "damaged" (with what is
wrong, :func:`read_folder`) and never raises in a reader.
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
# The largest JSON file read from a run folder: status and config are a few KB, analysis.json of
# 1,000 classes ~6 MB; a bigger file is refused unread (a listing reads every run's files).
MAX_JSON_BYTES = 32 << 20
NUMBER = (int, float)


class RunWriteError(OSError):
    """A file of the run folder could not be written (read-only folder, disk full), in words."""


class RunFileError(ValueError):
    """A file of the run folder is missing or unreadable; the message says which and why."""


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
    "damaged": RunStatus(False, False, "red", "report"),    # a file of its folder is unreadable
}


# -- JSON files --------------------------------------------------------------------------------
def write_text(path: Path, text: str) -> None:
    """The one place a run file's bytes are written (tests make it fail like a full disk)."""
    with open(path, "w") as fh:
        fh.write(text)


def atomic_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, then rename it over ``path``
    (per process and thread: the training thread and a page may write the same status). On
    failure the temporary file is removed and :class:`RunWriteError` says why."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write_text(tmp, json.dumps(obj, indent=1))
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise write_error(path.name, e) from e


def write_error(name: str, e: OSError) -> RunWriteError:
    """A learner-readable RunWriteError for a failed write of ``name`` (no server paths)."""
    if isinstance(e, RunWriteError):
        return e
    err = RunWriteError(f"Could not write {name} in the run's folder: {e.strerror or type(e).__name__}.")
    err.errno = e.errno
    return err


def load_json(path: Path) -> dict[str, Any]:
    """A JSON file's object; :class:`RunFileError` when it is missing, not a file, too big, not
    JSON or not an object."""
    path = Path(path)
    try:
        if not path.is_file():
            raise RunFileError(f"{path.name} is {'not a file' if path.exists() else 'missing'}")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise RunFileError(f"{path.name} is larger than {MAX_JSON_BYTES >> 20} MB")
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:   # JSONDecodeError too
        raise e if isinstance(e, RunFileError) else RunFileError(f"{path.name} is not readable JSON") from e
    if not isinstance(obj, dict):
        raise RunFileError(f"{path.name} holds a {type(obj).__name__}, not an object")
    return obj


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object, {} when it is missing or unreadable."""
    try:
        return load_json(path)
    except RunFileError:
        return {}


def _wrong_types(obj: dict, fields: dict[str, tuple]) -> list[str]:
    return [k for k, types in fields.items() if k in obj and obj[k] is not None and
            (not isinstance(obj[k], types) or isinstance(obj[k], bool) and bool not in types)]


CONFIG_FIELDS = {"id": (str,), "created": NUMBER, "config": (dict,)}
STATUS_FIELDS = {"status": (str,), "message": (str,), "error": (str,), "error_detail": (str,),
                 "pid": (int,), "heartbeat": NUMBER, "progress": (dict,), "info": (dict,)}


def read_folder(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]] | None:
    """(config.json, status.json, what is wrong) of a run folder; None when it is no run (none
    of its three files). A damaged file reads as {} and its problem is listed."""
    run_dir = Path(run_dir)
    if not any((run_dir / f).exists() for f in (CONFIG, STATUS, METRICS)):
        return None
    out, problems = [], []
    for name, fields in ((CONFIG, CONFIG_FIELDS), (STATUS, STATUS_FIELDS)):
        try:
            obj = load_json(run_dir / name)
            bad = _wrong_types(obj, fields)
            if name == CONFIG and not isinstance(obj.get("config"), dict):
                bad = sorted({*bad, "config"})
            if name == CONFIG and not bad and not isinstance(obj["config"].get("name", ""), str):
                bad = ["config.name"]
            if name == STATUS and (obj.get("status") not in STATUSES or not all(
                    v is None or isinstance(v, NUMBER) for v in (obj.get("progress") or {}).values())):
                bad = sorted({*bad, "status or progress"})
            if bad:
                raise RunFileError(f"{name} has a wrong {', '.join(bad)}")
        except RunFileError as e:
            obj = {}
            problems.append(str(e))
        out.append(obj)
    return out[0], out[1], problems


def write_config(run_dir: Path, run_id: str, created: float, config: dict[str, Any], **extra: Any) -> None:
    """config.json; ``extra``: facts of the run beside its settings (``world_size``)."""
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error("the run's folder", e) from e
    atomic_json(Path(run_dir) / CONFIG, {"id": run_id, "created": created, "config": config, **extra})


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json: {"id", "created", "config"}; {} when the folder is not a run."""
    return read_json(Path(run_dir) / CONFIG)


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    atomic_json(Path(run_dir) / STATUS, status)


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / STATUS)


OWNER = "owner.json"


def write_owner(run_dir: Path, owner: str) -> None:
    """owner.json: the owner id (a hash, never a browser's token) of whoever started the run."""
    atomic_json(Path(run_dir) / OWNER, {"owner": owner})


def read_owner(run_dir: Path) -> str | None:
    """The owner id of the run, None when it has none (a CLI run) or it is unreadable."""
    owner = read_json(Path(run_dir) / OWNER).get("owner")
    return owner if isinstance(owner, str) and owner else None


# -- metrics.jsonl -----------------------------------------------------------------------------
class MetricsLog:
    """Appends JSON lines to metrics.jsonl, flushing at most every ``every`` seconds (a line per
    step would otherwise be a write per step) and at once when asked (epochs, events). A failed
    write raises :class:`RunWriteError`."""

    def __init__(self, run_dir: Path, every: float = 0.5):
        try:
            self.fh = open(Path(run_dir) / METRICS, "a", buffering=1 << 16)
        except OSError as e:
            raise write_error(METRICS, e) from e
        self.every = every
        self.last = time.time()

    def write(self, obj: dict, flush: bool = False) -> None:
        try:
            self.fh.write(json.dumps(obj) + "\n")
            now = time.time()
            if flush or now - self.last > self.every:
                self.fh.flush()
                self.last = now
        except OSError as e:
            raise write_error(METRICS, e) from e

    def close(self) -> None:
        """Flush and close; never raises (it runs while a failed run is being ended)."""
        try:
            self.fh.close()
        except OSError:
            pass


# A record of each type needs these fields, numbers (the pages plot and format them).
RECORD_FIELDS = {"step": ("step", "loss"), "epoch": ("epoch", "step", "val_acc", "val_loss", "train_loss",
                                                      "train_acc")}


def parse_record(line: bytes) -> dict | None:
    """One metrics line as a record, or None when it is not one (garbage, a wrong shape)."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    need = RECORD_FIELDS.get(obj.get("type"), ())
    if obj.get("type") == "event" and not isinstance(obj.get("event"), str) or any(
            not isinstance(obj.get(k), NUMBER) or isinstance(obj.get(k), bool) for k in need):
        return None
    return obj if need or obj.get("type") == "event" else None


def read_metrics_checked(run_dir: Path) -> tuple[list[dict], list[dict], list[dict], str]:
    """(steps, epochs, events, what is wrong): the records of metrics.jsonl, skipping lines that
    are not records (a half-written last line is expected and not a problem)."""
    steps, epochs, events = [], [], []
    path = Path(run_dir) / METRICS
    bad = 0
    try:
        if not path.exists():
            return steps, epochs, events, ""
        with open(path, "rb") as fh:
            for line in fh:
                obj = parse_record(line)
                if obj is None:
                    bad += line.endswith(b"\n")
                    continue
                kind = obj["type"]
                (steps if kind == "step" else epochs if kind == "epoch" else events).append(obj)
    except OSError:
        return steps, epochs, events, f"{METRICS} is not readable"
    return steps, epochs, events, f"{METRICS} has {bad} unreadable line(s)" if bad else ""


def read_metrics(run_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(steps, epochs, events) from a run folder's metrics.jsonl (unreadable lines skipped)."""
    return read_metrics_checked(run_dir)[:3]


def truncate_metrics(run_dir: Path, step: int, epoch: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Rewrite metrics.jsonl without the steps after ``step`` and the epochs after ``epoch``
    (what a resumed run will do again); returns what is kept as (steps, epochs, events)."""
    steps, epochs, events = read_metrics(run_dir)
    steps = [s for s in steps if s["step"] <= step]
    epochs = [e for e in epochs if e["epoch"] <= epoch]
    tmp = Path(run_dir) / f".{METRICS}.tmp"
    try:
        write_text(tmp, "".join(json.dumps(obj) + "\n" for obj in [*events, *steps, *epochs]))
        os.replace(tmp, Path(run_dir) / METRICS)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(METRICS, e) from e
    return steps, epochs, events


def metrics_tail(run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """(the last epoch record, what is wrong) from the last 64 KiB of metrics.jsonl (a listing
    of many runs reads 64 KiB per run, not every step); a long epoch falls back to a full read."""
    path = Path(run_dir) / METRICS
    try:
        if not path.exists():
            return None, ""
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            chunk = min(size, 1 << 16)
            fh.seek(size - chunk)
            lines = fh.read().split(b"\n")
    except OSError:
        return None, f"{METRICS} is not readable"
    if chunk < size:
        lines = lines[1:]          # the first line of the chunk is cut
    lines.pop()                    # b"" after a final newline, else a half-written line
    records = [parse_record(line) for line in lines if line.strip()]
    problem = f"{METRICS} has unreadable lines" if None in records else ""
    epochs = [r for r in records if r is not None and r["type"] == "epoch"]
    if not epochs and size > chunk:
        _, epochs, _, problem = read_metrics_checked(run_dir)
    return (epochs[-1] if epochs else None), problem


def last_epoch(run_dir: Path) -> dict[str, Any] | None:
    """The last epoch record of metrics.jsonl, None when there is none."""
    return metrics_tail(run_dir)[0]


# -- checkpoints, resume state, analysis ---------------------------------------------------------
def checkpoint_path(run_dir: Path, which: str) -> Path:
    """best.pt or last.pt of a run (``which``: "best" or "last")."""
    if which not in CHECKPOINTS:
        raise ValueError(f"which must be one of {CHECKPOINTS}")
    return Path(run_dir) / f"{which}.pt"


def save_resume(run_dir: Path, state: dict[str, Any]) -> None:
    try:
        checkpoints.atomic_save(state, Path(run_dir) / RESUME)
    except OSError as e:
        raise write_error(RESUME, e) from e


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


def analysis_ok(a: dict[str, Any]) -> bool:
    """analysis.json has the shape the page draws: class names, an n x n confusion matrix,
    per-class accuracies and mistakes that name classes by index."""
    names = a.get("class_names")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        return False
    n, conf, per, wrong = len(names), a.get("confusion"), a.get("per_class_acc"), a.get("wrong")
    rows_ok = isinstance(conf, list) and len(conf) == n and all(
        isinstance(r, list) and len(r) == n and all(isinstance(v, NUMBER) for v in r) for r in conf)
    per_ok = isinstance(per, list) and len(per) == n and all(isinstance(v, NUMBER) for v in per)
    wrong_ok = isinstance(wrong, list) and all(
        isinstance(w, dict) and all(isinstance(w.get(k), int) and 0 <= w[k] < n for k in ("true", "pred"))
        and isinstance(w.get("confidence"), NUMBER) for w in wrong)
    return rows_ok and per_ok and wrong_ok


def read_analysis(run_dir: Path) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """(analysis.json, uint8 images of the worst mistakes as (N, H, W, C) or grey (N, H, W)),
    of a finished run, or (None, None); (None, None) too when analysis.json is damaged."""
    a = read_json(Path(run_dir) / ANALYSIS) or None
    if a is not None and not analysis_ok(a):
        return None, None
    path = Path(run_dir) / WRONG
    if a is None or not path.exists():
        return a, None
    try:
        imgs = torch.load(path, map_location="cpu", weights_only=True)["images"]   # (N, C, H, W)
        if imgs.dtype != torch.uint8 or imgs.ndim != 4 or imgs.shape[1] not in (1, 3) or \
                imgs.shape[0] < len(a["wrong"][:16]):
            return a, None
    except Exception:  # noqa: BLE001 - the images are a nice-to-have
        return a, None
    return a, (imgs.permute(0, 2, 3, 1) if imgs.shape[1] == 3 else imgs[:, 0]).numpy()
