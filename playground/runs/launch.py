"""Runs the app trains as ``torchrun`` subprocesses, on a machine with several GPUs.

The app names the run, writes its settings into the new run folder and starts
``python -m torch.distributed.run --standalone --nproc_per_node=N -m playground train --config
... --run-id ...`` with ``CUDA_VISIBLE_DEVICES`` set to the GPUs :func:`.placement.place` gave it,
its output going to ``torchrun.log`` in the run folder. From then on it is a run like any CLI
run: rank 0 holds the folder's lock and writes it, the registry lists it as trained by another
process, Stop sends rank 0 SIGINT (all ranks stop at the same step). A run that finds too few
free GPUs waits in this launcher's queue and starts when a run ends.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from .. import paths, training
from . import placement, store, uploads
from .registry import new_run_id

LOG = "torchrun.log"            # the subprocess's output, in the run folder
SETTINGS = "launch.json"        # the settings it trains (``--config``), in the run folder


def world_size(run_id: str, root: Path | None = None) -> int:
    """The processes a run trained with (config.json's ``world_size``; 1 before torchrun)."""
    n = store.read_config((Path(root) if root else paths.runs_dir()) / run_id).get("world_size")
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def torchrun_command(run_dir: Path, nproc: int, *, resume: bool = False) -> list[str]:
    """The command line that trains the run in ``run_dir`` with ``nproc`` processes (its
    settings in ``run_dir/launch.json``; ``resume``: continue it from resume.pt)."""
    run_dir = Path(run_dir)
    what = ["--resume", run_dir.name] if resume else \
        ["--config", str(run_dir / SETTINGS), "--run-id", run_dir.name]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "playground", "train", *what, "--runs-dir", str(run_dir.parent), "--progress", "epochs"]


def start_process(cmd: list[str], run_dir: Path, gpus: placement.Gpus) -> subprocess.Popen:
    """Start ``cmd`` in its own session (a Stop or the app's exit does not reach it by accident),
    output appended to the run's torchrun.log, on ``gpus`` (CUDA_VISIBLE_DEVICES; none: as is)."""
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    root = str(Path(paths.__file__).resolve().parents[1])    # the folder that holds playground/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with open(Path(run_dir) / LOG, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


@dataclass
class Job:
    """A run this launcher started or holds in its queue."""
    id: str
    dir: Path
    nproc: int
    resume: bool = False
    gpus: placement.Gpus | None = None          # None: waiting for free GPUs
    proc: subprocess.Popen | None = None
    returncode: int | None = None

    @property
    def where(self) -> str:
        return placement.label(self.gpus) if self.gpus is not None else "waiting for a free GPU"


class Launcher:
    """The runs of this app that train as torchrun subprocesses: placed on free GPUs
    (``per_gpu`` runs per GPU), the others queued until a run ends."""

    def __init__(self, root: Path, gpu_count: int, per_gpu: int = 1):
        self.root, self.gpu_count, self.per_gpu = Path(root), gpu_count, max(1, per_gpu)
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.seen: set[str] = set()         # runs whose folder :meth:`appeared`

    def submit(self, config: training.RunConfig, nproc: int, *, owner: str | None = None,
               upload: bytes | None = None) -> str:
        """Queue a new run on ``nproc`` GPUs (one process each); it starts at once where GPUs
        are free. Returns its id. ``owner``, ``upload``: as :meth:`.Registry.start`'s.
        :class:`training.TrainingError` in words when it never could."""
        config.validate()
        if self.gpu_count:
            try:
                placement.place(self.gpu_count, [], nproc, self.per_gpu)
            except placement.PlacementError as e:
                raise training.TrainingError(str(e)) from e
        rid = new_run_id(config.name or config.label())
        run_dir = self.root / rid
        try:
            if upload is not None:
                config.data = {**config.data, "path": str(uploads.keep(upload, self.root))}
            run_dir.mkdir(parents=True)
            store.atomic_json(run_dir / SETTINGS, config.to_dict())
            if owner:
                store.write_owner(run_dir, owner)
        except uploads.UploadError as e:
            raise training.TrainingError(str(e)) from e
        except OSError as e:
            raise training.TrainingError(f"Can't start the run: {store.write_error('the runs folder', e)}") from e
        self._add(Job(rid, run_dir, nproc))
        return rid

    def resume(self, run_id: str, nproc: int) -> str:
        """Continue a run (interrupted, stopped) with ``nproc`` processes, placed like a new one."""
        self._add(Job(run_id, self.root / run_id, nproc, resume=True))
        return run_id

    def _add(self, job: Job) -> None:
        with self.lock:
            self.jobs[job.id] = job
        self.pump()

    def in_flight(self) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if j.proc is not None and j.returncode is None]

    def waiting(self) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if j.gpus is None]

    def get(self, run_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(run_id)

    def jobs_not_started(self) -> list[Job]:
        """New runs whose folder is not written yet: queued, starting, or ended before."""
        with self.lock:
            return [j for j in self.jobs.values() if not j.resume and not (j.dir / store.CONFIG).exists()]

    def appeared(self) -> bool:
        """True once for each new run whose folder has been written since the last call."""
        with self.lock:
            new = {j.id for j in self.jobs.values() if (j.dir / store.CONFIG).exists()} - self.seen
            self.seen |= new
        return bool(new)

    def cancel(self, run_id: str) -> bool:
        """Take a waiting run out of the queue (its folder goes: nothing was written to it)."""
        with self.lock:
            job = self.jobs.get(run_id)
            if job is None or job.gpus is not None:
                return False
            del self.jobs[run_id]
        if not job.resume:
            for name in (SETTINGS, store.OWNER):
                (job.dir / name).unlink(missing_ok=True)
            try:
                job.dir.rmdir()
            except OSError:
                pass
        return True

    def pump(self) -> None:
        """Start every waiting run that fits now, oldest first."""
        with self.lock:
            busy = [j.gpus for j in self.jobs.values() if j.proc is not None and j.returncode is None]
            for job in [j for j in self.jobs.values() if j.gpus is None]:
                gpus = placement.place(self.gpu_count, busy, job.nproc, self.per_gpu)
                if gpus is None:
                    continue
                job.gpus = gpus
                job.proc = start_process(torchrun_command(job.dir, job.nproc, resume=job.resume), job.dir, gpus)
                busy.append(gpus)
                threading.Thread(target=self._watch, args=(job,), daemon=True, name=f"torchrun-{job.id}").start()

    def _watch(self, job: Job) -> None:
        assert job.proc is not None
        rc = job.proc.wait()
        with self.lock:
            job.returncode = rc
        self.pump()

    def problem(self, run_id: str) -> str:
        """Why a launched run never started (its process ended before writing config.json):
        the end of its log, else ""."""
        job = self.get(run_id)
        if job is None or job.returncode in (None, 0) or (job.dir / store.CONFIG).exists():
            return ""
        try:
            return (job.dir / LOG).read_text(errors="replace")[-2000:]
        except OSError:
            return "its process ended before it started training"


_LAUNCHER: Launcher | None = None
_LAUNCHER_LOCK = threading.Lock()


def launcher() -> Launcher:
    """The process-wide launcher for the runs folder in use: the machine's GPUs, and
    ``PLAYGROUND_MAX_RUNS`` runs per GPU."""
    global _LAUNCHER
    from ..training.device import gpu_count

    root = paths.runs_dir()
    with _LAUNCHER_LOCK:
        if _LAUNCHER is None or _LAUNCHER.root != root:
            _LAUNCHER = Launcher(root, gpu_count(), int(os.environ.get("PLAYGROUND_MAX_RUNS", "1")))
        return _LAUNCHER
