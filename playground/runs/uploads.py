"""Uploaded zips kept for the runs that train on them: ``<runs>/uploads/<sha256[:16]>.zip``.

A zip a learner uploads is inspected from its bytes, in memory; it is written here only when a
run that uses it starts (:func:`keep`, through ``Registry.start(..., upload=raw)``), named by its
content so that runs on the same zip share one file. A run records the zip it uses as its
config's ``data.path`` (so resume finds it). When a run is deleted, zips that no run uses any
more are removed (:func:`prune`). All kept zips together stay under :data:`MAX_UPLOADS_BYTES`:
starting a run on a new zip that would pass it is refused with :class:`UploadError`, naming the
runs whose zips take the room.

:data:`LOCK` is held by whoever keeps a zip until its run's config.json is written, and by
whoever prunes, so that a zip is never pruned between the two (one server process; the CLI
trains on a zip where it lies and never writes here).
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from .. import paths
from . import store

FOLDER = "uploads"
MAX_UPLOADS_BYTES = 4 << 30    # every kept zip together (a ZIP_MAX_TOTAL zip is 1 GiB: four fit)
LOCK = threading.Lock()


class UploadError(ValueError):
    """A zip can't be kept for a run (the uploads' total size, a disk that refuses it), in words."""


def folder(root: str | os.PathLike | None = None) -> Path:
    """The uploads folder of the runs folder ``root`` (default: the runs folder in use)."""
    return Path(root if root is not None else paths.runs_dir()) / FOLDER


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def path_for(content_digest: str, root: str | os.PathLike | None = None) -> Path:
    """Where the zip of that SHA-256 (hex) is kept."""
    return folder(root) / f"{content_digest[:16]}.zip"


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def users(root: str | os.PathLike | None = None) -> dict[Path, list[str]]:
    """Kept zip -> the names of the runs whose config uses it (read from every config.json;
    a damaged one uses nothing)."""
    up = folder(root).resolve()
    out: dict[Path, list[str]] = {}
    base = up.parent
    if not base.is_dir():
        return out
    for d in base.iterdir():
        if not d.is_dir() or d.name.startswith(".") or d.name == FOLDER:
            continue
        cfg = store.read_config(d).get("config")
        data = cfg.get("data") if isinstance(cfg, dict) else None
        where = data.get("path") if isinstance(data, dict) else None
        if isinstance(where, str) and where and Path(where).resolve().parent == up:
            name = cfg.get("name")
            out.setdefault(Path(where).resolve(), []).append(name if isinstance(name, str) and name else d.name)
    return out


def kept(root: str | os.PathLike | None = None) -> dict[Path, int]:
    """Every kept zip and its size in bytes."""
    out = {}
    f = folder(root)
    for p in (f.glob("*.zip") if f.is_dir() else []):
        try:
            out[p.resolve()] = p.stat().st_size
        except OSError:
            continue
    return out


def total_bytes(root: str | os.PathLike | None = None) -> int:
    return sum(kept(root).values())


def _refusal(need: int, total: int, budget: int, root: str | os.PathLike | None) -> UploadError:
    by_zip = users(root)
    sizes = kept(root)
    biggest = sorted(by_zip.items(), key=lambda kv: -sizes.get(kv[0], 0))[:3]
    named = "; ".join(f"{', '.join(repr(n) for n in names[:3])}{' and more' if len(names) > 3 else ''} "
                      f"({_gb(sizes.get(p, 0))})" for p, names in biggest)
    what = f" The largest kept zips are used by: {named}." if named else ""
    return UploadError(
        f"The zips kept for runs on this server already take {_gb(total)} of the {_gb(budget)} "
        f"allowed, and this zip needs {_gb(need)} more. Delete runs that use other zips (Training "
        f"page, Watch, Run folder and checkpoints, Delete this run): a zip is removed with the last "
        f"run that uses it.{what}")


def keep(raw: bytes, root: str | os.PathLike | None = None, *, budget: int | None = None) -> Path:
    """Store the zip ``raw`` for a run (once per content) and return its path; hold
    :data:`LOCK` until the run's config.json names it. :class:`UploadError` when the kept zips
    would pass ``budget`` (default :data:`MAX_UPLOADS_BYTES`) or the disk refuses."""
    path = path_for(digest(raw), root)
    try:
        if path.is_file() and path.stat().st_size == len(raw):
            return path                       # shared with the runs already using it
        budget = MAX_UPLOADS_BYTES if budget is None else budget
        total = total_bytes(root)
        if total + len(raw) > budget:
            raise _refusal(len(raw), total, budget, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            tmp.write_bytes(raw)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:
        raise UploadError(f"The zip could not be kept for the run: {e.strerror or type(e).__name__}.") from e
    return path


def prune(root: str | os.PathLike | None = None) -> list[Path]:
    """Delete every kept zip no run uses (and half-written ones); returns what was deleted.
    Hold :data:`LOCK` around it (see the module's note)."""
    used = set(users(root))
    gone = []
    f = folder(root)
    for p in (sorted(f.iterdir()) if f.is_dir() else []):
        if p.is_file() and (p.suffix == ".part" or p.suffix == ".zip" and p.resolve() not in used):
            try:
                p.unlink()
                gone.append(p)
            except OSError:
                continue
    return gone
