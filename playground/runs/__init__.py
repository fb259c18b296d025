"""Runs on disk and the runs this process trains: :mod:`.store` is the run folder's format
(its one writer and reader), :mod:`.registry` the queue of live runs and the listing of every
run folder."""
from .registry import (HEARTBEAT_TIMEOUT_S, Registry, RunInfo, find_run, list_runs, live_run, load_view,
                       new_run_id, read_run, registry, runs_dir, stop_remote)
from .lock import RunLocked
from .launch import Launcher, launcher, world_size
from .placement import PlacementError, place
from .store import STATUSES, RunStatus, RunWriteError, checkpoint_path, read_analysis, read_metrics

__all__ = ["HEARTBEAT_TIMEOUT_S", "Registry", "RunInfo", "find_run", "list_runs", "live_run", "load_view",
           "new_run_id", "read_run", "registry", "Launcher", "launcher", "world_size", "PlacementError", "place", "runs_dir", "stop_remote", "RunLocked", "RunWriteError",
           "STATUSES", "RunStatus", "checkpoint_path", "read_analysis", "read_metrics"]
