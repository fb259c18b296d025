"""A run's live state (:class:`Run`): its metrics in memory under a lock, the event that stops it,
its folder on disk. The training thread (:mod:`.loop`) writes it; pages read snapshots."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from ..data import Dataset
from ..runs import store
from . import distributed
from .config import RunConfig


class Run:
    """One run's live state. Pages read :meth:`snapshot`; the training thread writes under
    ``lock``. ``stop_event`` stops it at the next step. ``dataset``: data already made (tests,
    benchmarks) instead of loading ``config.data``; dropped when the run ends. Under torchrun
    (:mod:`.distributed`) every rank has one; rank 0's alone writes the folder (``writes``)."""

    HEARTBEAT_S = 1.0   # status.json rewritten at most this often: another process's liveness

    def __init__(self, run_id: str, run_dir: Path, config: RunConfig, *, created: float | None = None,
                 dataset: Dataset | None = None, resume: bool = False):
        self.id = run_id
        self.dir = Path(run_dir)
        self.config = config
        self.created = created or time.time()
        self.dataset = dataset
        self.resume_from = resume
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.status = "queued"
        self.error = ""
        self.error_detail = ""
        self.message = "waiting for a free slot"
        self.steps: list[dict] = []
        self.epochs: list[dict] = []
        self.events: list[dict] = []
        self.progress: dict[str, Any] = {"step": 0, "total_steps": 0, "epoch": 0,
                                         "epochs": config.epochs, "elapsed": 0.0, "eta": None,
                                         "images_per_second": None}
        self.info: dict[str, Any] = {}
        self.thread: threading.Thread | None = None
        self._last_status_write = 0.0
        group = distributed.current()
        self.world_size, self.writes = group.world, group.main

    def snapshot(self, since_step: int = 0) -> dict[str, Any]:
        with self.lock:
            return {"id": self.id, "status": self.status, "error": self.error,
                    "error_detail": self.error_detail, "message": self.message,
                    "steps": self.steps[since_step:], "epochs": list(self.epochs),
                    "events": list(self.events), "progress": dict(self.progress),
                    "info": dict(self.info), "config": self.config.to_dict()}

    def write_status(self, force: bool = False) -> None:
        now = time.time()
        if not self.writes or not force and now - self._last_status_write < self.HEARTBEAT_S:
            return
        self._last_status_write = now
        with self.lock:
            obj = {"id": self.id, "status": self.status, "error": self.error,
                   "error_detail": self.error_detail[-4000:], "message": self.message,
                   "pid": os.getpid(), "heartbeat": now, "created": self.created,
                   "world_size": self.world_size,
                   "progress": self.progress, "info": self.info}
        store.write_status(self.dir, obj)

    def set_status(self, status: str, message: str = "", error: str = "", detail: str = "") -> None:
        with self.lock:
            self.status = status
            if message:
                self.message = message
            if error:
                self.error, self.error_detail = error, detail
        self.write_status(force=True)

    def fail(self, msg: str, detail: str = "") -> None:
        """End as failed, never raising: unwritable (disk full), the status stays in memory."""
        try:
            self.set_status("failed", msg, error=msg, detail=detail)
        except OSError as e:
            with self.lock:
                self.error_detail += f"\n{e}"

    def start_files(self) -> None:
        store.write_config(self.dir, self.id, self.created, self.config.to_dict(), world_size=self.world_size)
        self.write_status(force=True)
