"""One writer per run: ``<run>/lock.json`` names the process that trains the run (its pid and
its start time, so that a pid the system has given to a new process is not mistaken for the
owner). Whoever trains a run (the app's worker, the CLI) takes it before the run is queued and
gives it back when the run ends; a process that dies leaves a stale lock that the next owner
replaces. The registry, the CLI's ``runs`` listing and resume read :func:`owner`.

The lock is made with a hard link of a complete file (never seen half-written). Two processes
taking over the *same stale* lock at the same instant could both succeed; a live owner's lock
is never taken.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from . import store

LOCK = "lock.json"


class RunLocked(RuntimeError):
    """Another live process trains this run."""


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc on Linux), None where
    that is unknown (then the pid alone identifies the owner)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])   # field 22, after pid and (comm)
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, ValueError, OverflowError):
        return False
    return True


def me() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "start": process_start(pid), "time": time.time()}


def owner(run_dir: Path) -> dict[str, Any] | None:
    """The lock's content while its process lives (same pid, same start time), else None."""
    held = store.read_json(Path(run_dir) / LOCK)
    pid = held.get("pid")
    if not pid_alive(pid):
        return None
    start = held.get("start")
    now = process_start(pid)
    if start is not None and now is not None and start != now:
        return None         # the pid was recycled: its owner is gone
    return held


def is_locked(run_dir: Path) -> bool:
    """A lock file exists (live or stale)."""
    return (Path(run_dir) / LOCK).exists()


def acquire(run_dir: Path) -> None:
    """Take the run's lock for this process; :class:`RunLocked` while another live process holds
    it, :class:`store.RunWriteError` when the folder can't be written. Taken again by its owner,
    it is a no-op."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK
    mine = me()
    tmp = run_dir / f".{LOCK}.{mine['pid']}.tmp"
    try:
        store.write_text(tmp, json.dumps(mine))
        try:
            os.link(tmp, path)      # fails if a lock exists: never two owners of a free run
            return
        except FileExistsError:
            held = owner(run_dir)
            if held is not None and held.get("pid") != mine["pid"]:
                raise RunLocked(f"Another process (pid {held['pid']}) is training this run right now.") \
                    from None
            if held is None:
                os.replace(tmp, path)   # a stale lock: its process is gone
    except OSError as e:
        raise store.write_error(LOCK, e) from e
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def release(run_dir: Path) -> None:
    """Give the lock back if this process holds it (never raises)."""
    path = Path(run_dir) / LOCK
    held = store.read_json(path)
    if held.get("pid") == os.getpid() and held.get("start") == process_start(os.getpid()):
        try:
            path.unlink()
        except OSError:
            pass
