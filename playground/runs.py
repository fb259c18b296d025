"""Runs on disk and the process-wide registry of live runs.

A run is a folder in :func:`runs_dir` (``$PLAYGROUND_RUNS_DIR``, default ``<repo>/runs``)::

    <id>/config.json     {"id", "created", "config": RunConfig.to_dict()}
    <id>/status.json     status, message, error, pid, heartbeat, progress, info
    <id>/metrics.jsonl   one JSON object per line: steps, epochs, events
    <id>/best.pt, last.pt  self-describing checkpoints (playground.checkpoints)
    <id>/resume.pt       optimizer / scheduler / random state to resume
    <id>/analysis.json, wrong.pt   confusion matrix, per-class accuracy, worst mistakes

:func:`list_runs` reads them all. A folder whose status says running but whose process is gone
(no heartbeat) is marked ``interrupted``; :meth:`Registry.resume` continues it from
``resume.pt``. A run trained by another process (``python -m playground train``) shows as
running while its heartbeat is fresh, and its metrics are followed through metrics.jsonl.

:func:`registry` is the process-wide :class:`Registry` (pages get it via ``st.cache_resource``):
``start(config) -> run_id``, ``stop``, ``get``, ``resume``; at most ``max_concurrent`` runs
train at once, the others wait in a queue.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths, training
from .training import Run, RunConfig

HEARTBEAT_TIMEOUT_S = 20.0
_LIVE: dict[str, Run] = {}          # runs owned by this process (any registry), by id
_LIVE_LOCK = threading.Lock()


runs_dir = paths.runs_dir


@dataclass
class RunInfo:
    id: str
    name: str
    status: str
    dir: Path
    config: dict[str, Any]
    created: float
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    message: str = ""
    pid: int | None = None
    heartbeat: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    live: bool = False            # trained right now by this process
    remote: bool = False          # trained right now by another process

    @property
    def can_resume(self) -> bool:
        return self.status in ("interrupted", "stopped", "failed") and (self.dir / "config.json").exists()

    @property
    def label(self) -> str:
        acc = self.summary.get("val_acc")
        acc_s = f" · {acc:.1%}" if isinstance(acc, float) else ""
        return f"{self.name} ({self.status}{acc_s})"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


def _last_epoch(run_dir: Path) -> dict[str, Any] | None:
    """The last epoch line of metrics.jsonl, read from the end of the file."""
    path = run_dir / "metrics.jsonl"
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
        _, epochs, _ = training.read_metrics(run_dir)
        return epochs[-1] if epochs else None
    return None


def read_run(run_dir: Path, *, mark: bool = True) -> RunInfo | None:
    """One run folder as a RunInfo (None if it is not a run). ``mark``: write ``interrupted``
    into a folder whose training process is gone."""
    run_dir = Path(run_dir)
    cfg_file = _read_json(run_dir / "config.json")
    if not cfg_file:
        return None
    st = _read_json(run_dir / "status.json")
    rid = str(cfg_file.get("id") or run_dir.name)
    config = cfg_file.get("config", {})
    status = st.get("status", "interrupted")
    live = remote = False
    with _LIVE_LOCK:
        own = _LIVE.get(rid)
    if own is not None and not own.done.is_set():
        live = True
        status = own.status
    elif status in ("queued", "running"):
        pid, beat = st.get("pid"), st.get("heartbeat") or 0
        fresh = time.time() - float(beat) < HEARTBEAT_TIMEOUT_S
        if pid != os.getpid() and _pid_alive(pid) and fresh:
            remote = True
        else:
            status = "interrupted"
            if mark:
                st.update(status="interrupted", message="the process training it ended")
                try:
                    training._atomic_json(run_dir / "status.json", st)
                except OSError:
                    pass
    last = _last_epoch(run_dir)
    summary: dict[str, Any] = {}
    if last:
        summary = {k: last.get(k) for k in ("val_acc", "val_loss", "train_loss", "train_acc",
                                            "images_per_second", "elapsed")}
        summary["epochs"] = last.get("epoch")
    best, lastp = run_dir / "best.pt", run_dir / "last.pt"
    return RunInfo(
        id=rid, name=config.get("name") or rid, status=status, dir=run_dir, config=config,
        created=float(cfg_file.get("created") or run_dir.stat().st_mtime),
        best_checkpoint=best if best.exists() else None,
        last_checkpoint=lastp if lastp.exists() else None, summary=summary,
        error=st.get("error", ""), message=st.get("message", ""), pid=st.get("pid"),
        heartbeat=st.get("heartbeat"), progress=st.get("progress") or {}, info=st.get("info") or {},
        live=live, remote=remote)


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run in the runs folder, newest first."""
    root = Path(root) if root else runs_dir()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            info = read_run(d)
            if info is not None:
                out.append(info)
    return sorted(out, key=lambda r: r.created, reverse=True)


def find_run(run_id: str, root: str | os.PathLike | None = None) -> RunInfo | None:
    root = Path(root) if root else runs_dir()
    d = root / run_id
    return read_run(d) if d.is_dir() else None


def load_view(info: RunInfo) -> dict[str, Any]:
    """What the live view draws for a run: a snapshot of the live run in this process, else
    the folder's metrics (followed as another process appends them)."""
    with _LIVE_LOCK:
        own = _LIVE.get(info.id)
    if own is not None:
        snap = own.snapshot()
        snap["config"] = snap["config"]
        return snap
    steps, epochs, events = training.read_metrics(info.dir)
    return {"id": info.id, "status": info.status, "error": info.error, "error_detail": "",
            "message": info.message, "steps": steps, "epochs": epochs, "events": events,
            "progress": info.progress, "info": info.info, "config": info.config}


def stop_remote(info: RunInfo) -> bool:
    """Ask another process training a run (``python -m playground train``) to stop: SIGINT,
    which the CLI turns into a stop at the next step. True if a signal was sent."""
    import signal

    if not info.remote or not info.pid or info.pid == os.getpid():
        return False
    try:
        os.kill(int(info.pid), signal.SIGINT)
    except OSError:
        return False
    return True


def read_analysis(run_dir: Path) -> tuple[dict[str, Any] | None, Any]:
    """(analysis.json, uint8 images of the worst mistakes) of a finished run, or (None, None)."""
    import torch

    a = _read_json(Path(run_dir) / "analysis.json") or None
    imgs = None
    wp = Path(run_dir) / "wrong.pt"
    if a is not None and wp.exists():
        try:
            imgs = torch.load(wp, map_location="cpu", weights_only=True)["images"]
        except Exception:  # noqa: BLE001 - the images are a nice-to-have
            imgs = None
    return a, imgs


def new_run_id(name: str = "") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "run").lower()).strip("-")[:32] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{uuid.uuid4().hex[:4]}"


class Registry:
    """The runs this process trains: a queue and at most ``max_concurrent`` worker threads."""

    def __init__(self, root: str | os.PathLike | None = None, max_concurrent: int = 1):
        self.root = Path(root) if root else runs_dir()
        self.max_concurrent = max(1, int(max_concurrent))
        self.lock = threading.Lock()
        self.runs: dict[str, Run] = {}
        self.queue: list[str] = []

    # -- launching -------------------------------------------------------------------------
    def start(self, config: RunConfig | dict[str, Any], *, dataset=None) -> str:
        """Create the run folder and queue the run; it starts as soon as a slot is free."""
        cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
        cfg.validate()
        rid = new_run_id(cfg.name or cfg.label())
        if not cfg.name:
            cfg.name = f"{cfg.label()} #{len(list_runs(self.root)) + 1}"
        run = Run(rid, self.root / rid, cfg)
        run.start_files()
        run._dataset = dataset  # type: ignore[attr-defined] - tests pass data already made
        self._enqueue(run)
        return rid

    def resume(self, run_id: str) -> str:
        """Continue an interrupted / stopped / failed run from its last checkpoint (from the
        start when it has none), in the same folder."""
        with self.lock:
            live = self.runs.get(run_id)
        if live is not None and not live.done.is_set():
            raise training.TrainingError("This run is still going.")
        info = find_run(run_id, self.root)
        if info is None:
            raise training.TrainingError(f"No run {run_id!r} in {self.root}.")
        if info.remote:
            raise training.TrainingError("Another process is training this run right now.")
        if info.status == "finished":
            raise training.TrainingError("This run has finished; start a new run to train more.")
        cfg = RunConfig.from_dict(info.config)
        run = Run(run_id, info.dir, cfg, created=info.created)
        run.resume_from = True
        steps, epochs, events = training.read_metrics(info.dir)
        run.steps, run.epochs, run.events = steps, epochs, events
        run.write_status(force=True)
        run._dataset = None  # type: ignore[attr-defined]
        self._enqueue(run)
        return run_id

    def _enqueue(self, run: Run) -> None:
        with self.lock:
            self.runs[run.id] = run
            self.queue.append(run.id)
        with _LIVE_LOCK:
            _LIVE[run.id] = run
        self._pump()

    def _pump(self) -> None:
        with self.lock:
            active = sum(1 for r in self.runs.values() if r.thread is not None and not r.done.is_set())
            while self.queue and active < self.max_concurrent:
                run = self.runs[self.queue.pop(0)]
                if run.stop_event.is_set():
                    continue
                run.thread = threading.Thread(target=self._work, args=(run,), daemon=True,
                                              name=f"train-{run.id}")
                run.thread.start()
                active += 1

    def _work(self, run: Run) -> None:
        try:
            training.train(run, dataset=getattr(run, "_dataset", None))
        finally:
            run._dataset = None  # type: ignore[attr-defined]
            self._pump()

    # -- controlling -----------------------------------------------------------------------
    def stop(self, run_id: str) -> bool:
        """Stop a run at its next step (or take it out of the queue). True if it was live."""
        with self.lock:
            run = self.runs.get(run_id)
            queued = run_id in self.queue
            if queued:
                self.queue.remove(run_id)
        if run is None or run.done.is_set():
            return False
        run.stop_event.set()
        if queued:
            run.set_status("stopped", "stopped before it started")
            run.done.set()
        return True

    def get(self, run_id: str) -> Run | None:
        with self.lock:
            return self.runs.get(run_id)

    def live(self) -> list[Run]:
        with self.lock:
            return [r for r in self.runs.values() if not r.done.is_set()]

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        run = self.get(run_id)
        return True if run is None else run.done.wait(timeout)

    def stop_all(self, timeout: float = 10.0) -> None:
        for r in self.live():
            self.stop(r.id)
        for r in list(self.runs.values()):
            r.done.wait(timeout)


_REGISTRY: Registry | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> Registry:
    """The process-wide registry (one per runs folder in use; re-created if the env var moved)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None or _REGISTRY.root != runs_dir():
            limit = int(os.environ.get("PLAYGROUND_MAX_RUNS", "1"))
            _REGISTRY = Registry(runs_dir(), max_concurrent=limit)
        return _REGISTRY
