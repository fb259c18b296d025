"""The runs of this process and the runs on disk.

:class:`Registry` trains runs in worker threads: ``start(config) -> run_id``, ``stop``, ``get``,
``resume``; at most ``max_concurrent`` runs train at once, the others wait in a queue.
:func:`registry` is the process-wide one (pages get it via ``st.cache_resource``).

:func:`list_runs` reads every run folder. A folder whose status says running but whose process
is gone (no fresh heartbeat) is marked ``interrupted``; :meth:`Registry.resume` continues it from
``resume.pt``. A run trained by another process (``python -m playground train``) shows as
running while it holds the run's lock (:mod:`.lock`; runs without one: while its heartbeat is
fresh), and its metrics are followed through metrics.jsonl. A folder whose files are unreadable
is listed as ``damaged``, with what is wrong, and never breaks the listing.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tasks import results
from .. import paths, training   # the training package imports runs.store: use it by attribute
from . import lock, owners, store, uploads

# Another process's run counts as live while its heartbeat (written every second) is this fresh.
HEARTBEAT_TIMEOUT_S = 20.0
_LIVE: dict[str, "training.Run"] = {}    # runs owned by this process (any registry), by id
_LIVE_LOCK = threading.Lock()

runs_dir = paths.runs_dir


def live_run(run_id: str) -> "training.Run | None":
    """The run of that id this process trains (or trained), if any."""
    with _LIVE_LOCK:
        return _LIVE.get(run_id)


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
    problem: str = ""             # what is wrong with a damaged run's files
    owner: str | None = None      # owner id of the browser that started it (None: the CLI)

    @property
    def can_resume(self) -> bool:
        status = store.STATUSES.get(self.status)
        return bool(status and status.resumable) and (self.dir / store.CONFIG).exists()

    @property
    def label(self) -> str:
        key = results.headline(self.config.get("task"))
        value = self.summary.get(key)
        score = f" · {results.short(key)} {results.fmt(key, value)}" if isinstance(value, float) else ""
        return f"{self.name} ({self.status}{score})"


def _status_of(rid: str, run_dir: Path, st: dict[str, Any], mark: bool) -> tuple[str, bool, bool]:
    """(status, live, remote): a live run's own status; a going run owned by another live
    process (its lock; without a lock file, a fresh heartbeat) stays as it is; a going run of a
    process that is gone becomes ``interrupted``, written back when ``mark``."""
    status = st.get("status", "interrupted")
    own = live_run(rid)
    if own is not None and not own.done.is_set():
        return own.status, True, False
    if not (status in store.STATUSES and store.STATUSES[status].going):
        return status, False, False
    if own is not None:     # trained here and ended, but its last status write failed (disk full)
        return own.status, False, False
    held = lock.owner(run_dir)
    if held is not None and held.get("pid") != os.getpid():
        return status, False, True
    pid, beat = st.get("pid"), st.get("heartbeat") or 0
    if not lock.is_locked(run_dir) and pid != os.getpid() and lock.pid_alive(pid) and \
            time.time() - float(beat) < HEARTBEAT_TIMEOUT_S:
        return status, False, True
    if mark:
        st.update(status="interrupted", message="the process training it ended")
        try:
            store.write_status(run_dir, st)
        except OSError:
            pass
    return "interrupted", False, False


def read_run(run_dir: Path, *, mark: bool = True) -> RunInfo | None:
    """One run folder as a RunInfo (None if it is not a run). ``mark``: write ``interrupted``
    into a folder whose training process is gone. Never raises on a folder's content: a run
    whose files are unreadable is ``damaged``, its ``problem`` says why."""
    run_dir = Path(run_dir)
    try:
        read = store.read_folder(run_dir)
        if read is None:
            return None
        cfg_file, st, problems = read
        rid = run_dir.name
        config = cfg_file.get("config", {})
        last, metrics_problem = store.metrics_tail(run_dir)
        problems += [metrics_problem] if metrics_problem else []
        status, live, remote = ("damaged", False, False) if problems else _status_of(rid, run_dir, st, mark)
        created = cfg_file.get("created") or run_dir.stat().st_mtime
    except OSError as e:     # the folder itself vanished or can't be read
        return _damaged(run_dir, f"the run's folder is not readable ({e.strerror or type(e).__name__})")
    summary: dict[str, Any] = {}
    if last:
        summary = {k: last.get(k) for k in ("val_acc", "val_loss", "train_loss", "train_acc",
                                            *results.task_results(config.get("task")),
                                            "images_per_second", "elapsed")}
        summary["epochs"] = last.get("epoch")
    best, lastp = store.checkpoint_path(run_dir, "best"), store.checkpoint_path(run_dir, "last")
    problem = "; ".join(problems)
    own = live_run(rid)
    error, message = (own.error, own.message) if own is not None and not live and own.status == status \
        else (st.get("error", ""), st.get("message", ""))
    return RunInfo(
        id=rid, name=config.get("name") or rid, status=status, dir=run_dir, config=config,
        created=float(created), best_checkpoint=best if best.is_file() else None,
        last_checkpoint=lastp if lastp.is_file() else None, summary=summary,
        error=problem or error, message=problem or message, pid=st.get("pid"),
        heartbeat=st.get("heartbeat"), progress=st.get("progress") or {}, info=st.get("info") or {},
        live=live, remote=remote, problem=problem, owner=store.read_owner(run_dir))


def _damaged(run_dir: Path, problem: str) -> RunInfo:
    return RunInfo(id=run_dir.name, name=run_dir.name, status="damaged", dir=run_dir, config={},
                   created=0.0, error=problem, message=problem, problem=problem)


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run in the runs folder, newest first."""
    root = Path(root) if root else runs_dir()
    if not root.is_dir():
        return []
    out = [read_run(d) for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return sorted((r for r in out if r is not None), key=lambda r: r.created, reverse=True)


def find_run(run_id: str, root: str | os.PathLike | None = None) -> RunInfo | None:
    d = (Path(root) if root else runs_dir()) / run_id
    return read_run(d) if d.is_dir() else None


def load_view(info: RunInfo) -> dict[str, Any]:
    """What the live view draws for a run: a snapshot of the live run in this process, else
    the folder's metrics (followed as another process appends them)."""
    own = live_run(info.id)
    if own is not None:
        return own.snapshot()
    steps, epochs, events = store.read_metrics(info.dir) if info.status != "damaged" else ([], [], [])
    return {"id": info.id, "status": info.status, "error": info.error, "error_detail": "",
            "message": info.message, "steps": steps, "epochs": epochs, "events": events,
            "progress": info.progress, "info": info.info, "config": info.config}


# Stop on another process's run: SIGINT first (the CLI stops at the next step and writes
# "stopped"); a run still going this many seconds later gets SIGTERM. A CLI run started in the
# background (``... train &``) ignores SIGINT, so without the second signal Stop did nothing.
STOP_GRACE_S = 3.0


def _process_gone(pid: int, start: int | None) -> bool:
    """The process has exited (a zombie counts as exited) or its pid now names another one."""
    if not lock.pid_alive(pid):
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2:].split()[0] == "Z":
            return True
    except (OSError, ValueError, IndexError):
        pass
    return start is not None and lock.process_start(pid) != start


def _ended(info: RunInfo, pid: int, start: int | None, wait_s: float) -> bool:
    """Wait up to ``wait_s`` for the process to exit or the run to leave a going status."""
    deadline = time.monotonic() + wait_s
    while True:
        if _process_gone(pid, start):
            return True
        now = read_run(info.dir, mark=False)
        if now is not None and not (now.status in store.STATUSES and store.STATUSES[now.status].going):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_remote(info: RunInfo, grace_s: float = STOP_GRACE_S, *, mode: str = "single",
                owner: str | None = None) -> str:
    """Stop a run another process trains (``python -m playground train``): SIGINT, which the
    CLI turns into a stop at the next step; if the run still goes ``grace_s`` later, SIGTERM.
    Returns what happened, in words, for the page to show. ``mode``, ``owner``: who asks
    (:mod:`.owners`); a browser that may not stop the run gets :class:`owners.NotYourRun`."""
    owners.check(mode, info.owner, owner, "stop")
    held = lock.owner(info.dir)
    pid = held.get("pid") if held else info.pid
    if not info.remote or not isinstance(pid, int) or pid == os.getpid():
        return "This run isn't trained by another process, so there is nothing to stop here."
    start = lock.process_start(pid)
    try:
        os.kill(pid, signal.SIGINT)
    except PermissionError:
        return ("The process training this run belongs to another user of this computer, "
                "so it can't be stopped from here.")
    except OSError:
        return "The process training this run had already ended."
    if _ended(info, pid, start, grace_s):
        return "Stopped: the process training this run ended it at its next step."
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return "Stopped: the process training this run ended."
    if _ended(info, pid, start, grace_s):
        return (f"The run didn't answer Stop within {grace_s:g} s (a command started in the "
                "background ignores Ctrl-C), so its process was ended. It shows as interrupted; "
                "Resume continues it from its last checkpoint.")
    return (f"The run didn't stop: its process (pid {pid}) ignored both Stop and the request to "
            "end. Whoever started it can end it from its terminal.")


def new_run_id(name: str = "") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "run").lower()).strip("-")[:32] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{uuid.uuid4().hex[:4]}"


class Registry:
    """The runs this process trains: a queue and at most ``max_concurrent`` worker threads."""

    def __init__(self, root: str | os.PathLike | None = None, max_concurrent: int = 1,
                 mode: str = "single"):
        self.root = Path(root) if root else runs_dir()
        self.mode = mode       # owners.MODES: who may stop, resume, delete, unless a call says
        self.max_concurrent = max(1, int(max_concurrent))
        self.lock = threading.Lock()
        self.runs: dict[str, training.Run] = {}
        self.queue: list[str] = []

    # -- launching -------------------------------------------------------------------------
    def start(self, config: "training.RunConfig | dict[str, Any]", *, dataset=None,
              owner: str | None = None, upload: bytes | None = None, run_id: str | None = None) -> str:
        """Create the run folder and queue the run; it starts as soon as a slot is free.
        ``dataset``: data already made (tests) instead of loading ``config.data``. ``owner``:
        the owner id of the browser starting it (:mod:`.owners`). ``upload``: the bytes of the
        zip it trains on, kept in the uploads folder (:mod:`.uploads`; its path becomes
        ``data.path``). ``run_id``: the id chosen by whoever launched the process (the app's
        torchrun launcher, :mod:`.launch`), else a new one."""
        cfg = config if isinstance(config, training.RunConfig) else training.RunConfig.from_dict(config)
        cfg.validate()
        rid = run_id or new_run_id(cfg.name or cfg.label())
        if not cfg.name:
            cfg.name = f"{cfg.label()} #{len(list_runs(self.root)) + 1}"
        with uploads.LOCK:      # the zip is named by config.json before any prune can run
            if upload is not None:
                try:
                    cfg.data = {**cfg.data, "path": str(uploads.keep(upload, self.root))}
                except uploads.UploadError as e:
                    raise training.TrainingError(str(e)) from e
            run = training.Run(rid, self.root / rid, cfg, dataset=dataset)
            try:    # checked before the run starts: a read-only or full runs folder says so here
                run.start_files()
                if owner:
                    store.write_owner(run.dir, owner)
                lock.acquire(run.dir)
            except OSError as e:
                shutil.rmtree(run.dir, ignore_errors=True)     # the new folder is ours alone
                uploads.prune(self.root)
                raise training.TrainingError(f"Can't start the run: {store.write_error('the runs folder', e)}") \
                    from e
        self._enqueue(run)
        return rid

    def resume(self, run_id: str, owner: str | None = None, *, mode: str | None = None) -> str:
        """Continue an interrupted / stopped / failed run from its last checkpoint (from the
        start when it has none), in the same folder. ``owner``, ``mode``: :meth:`check`."""
        self.check(run_id, owner, "resume", mode)
        live = self.get(run_id)
        if live is not None and not live.done.is_set():
            raise training.TrainingError("This run is still going.")
        info = find_run(run_id, self.root)
        if info is None:
            raise training.TrainingError(f"No run {run_id!r} in {self.root}.")
        if info.remote:
            raise training.TrainingError(f"Another process (pid {info.pid}) is training this run right now.")
        if info.status == "damaged":
            raise training.TrainingError(f"This run's folder is damaged ({info.problem}); it can't be resumed.")
        if info.status == "finished":
            raise training.TrainingError("This run has finished; start a new run to train more.")
        try:
            cfg = training.RunConfig.from_dict(info.config)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise training.TrainingError("This run's config.json can't be read; it can't be resumed.") from e
        run = training.Run(run_id, info.dir, cfg, created=info.created, resume=True)
        try:
            lock.acquire(info.dir)
        except lock.RunLocked as e:
            raise training.TrainingError(str(e)) from e
        except OSError as e:
            raise training.TrainingError(f"Can't resume the run: {e}") from e
        run.steps, run.epochs, run.events = store.read_metrics(info.dir)
        try:
            run.write_status(force=True)
        except OSError as e:
            lock.release(info.dir)
            raise training.TrainingError(f"Can't resume the run: {e}") from e
        self._enqueue(run)
        return run_id

    def _enqueue(self, run: "training.Run") -> None:
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

    def _work(self, run: "training.Run") -> None:
        try:
            training.train(run)
        finally:
            lock.release(run.dir)
            self._pump()

    # -- controlling -----------------------------------------------------------------------
    def check(self, run_id: str, owner: str | None, action: str, mode: str | None = None) -> None:
        """:class:`owners.NotYourRun` when the browser ``owner`` may not ``action`` the run in
        ``mode`` (a server's :func:`owners.server_mode`; None: this registry's ``mode``)."""
        owners.check(mode or self.mode, store.read_owner(self.root / run_id), owner, action)

    def may_control(self, info: RunInfo, owner: str | None, mode: str | None = None) -> bool:
        return owners.may_control(mode or self.mode, info.owner, owner)

    def delete(self, run_id: str, owner: str | None = None, *, mode: str | None = None) -> None:
        """Delete a run's folder (not while it trains), and the uploaded zip it used when no
        other run uses it. :class:`training.TrainingError` in words when it can't."""
        self.check(run_id, owner, "delete", mode)
        info = find_run(run_id, self.root)
        if info is None:
            raise training.TrainingError("This run is already gone.")
        live = self.get(run_id)
        if info.remote or info.live or live is not None and not live.done.is_set():
            raise training.TrainingError("This run is still going: stop it first, then delete it.")
        if live is not None and live.thread is not None:
            live.thread.join(5.0)    # its thread frees the lock file after `done`: let it finish
        with uploads.LOCK:
            try:
                shutil.rmtree(info.dir)
            except OSError as e:
                raise training.TrainingError(f"The run's folder could not be deleted: "
                                             f"{e.strerror or type(e).__name__}.") from e
            uploads.prune(self.root)
        with self.lock:
            self.runs.pop(run_id, None)
        with _LIVE_LOCK:
            _LIVE.pop(run_id, None)

    def stop(self, run_id: str, owner: str | None = None, *, mode: str | None = None) -> bool:
        """Stop a run at its next step (or take it out of the queue). True if it was live.
        ``owner``, ``mode``: who asks and the server's mode (:meth:`check`)."""
        self.check(run_id, owner, "stop", mode)
        return self._halt(run_id)

    def _halt(self, run_id: str) -> bool:
        with self.lock:
            run = self.runs.get(run_id)
            queued = run_id in self.queue
            if queued:
                self.queue.remove(run_id)
        if run is None or run.done.is_set():
            return False
        run.stop_event.set()
        if queued:
            try:
                run.set_status("stopped", "stopped before it started")
            except OSError:
                pass        # the status is in memory; the lock below frees the folder
            run.dataset = None
            run.done.set()
            lock.release(run.dir)
        return True

    def get(self, run_id: str) -> "training.Run | None":
        with self.lock:
            return self.runs.get(run_id)

    def live(self) -> list["training.Run"]:
        with self.lock:
            return [r for r in self.runs.values() if not r.done.is_set()]

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        run = self.get(run_id)
        return True if run is None else run.done.wait(timeout)

    def stop_all(self, timeout: float = 10.0) -> None:
        for r in self.live():
            self._halt(r.id)
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
