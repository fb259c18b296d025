"""Self-describing checkpoints.

A checkpoint is a plain dict of tensors and JSON-able values, saved with ``torch.save`` and
loaded **only** with ``torch.load(..., weights_only=True)`` (never full pickle), so a malicious
file cannot run code::

    {"format": "cnn-playground/1", "spec": {...}, "state_dict": {...},
     "class_names": [...], "input_shape": [C, H, W], "mean": [...], "std": [...],
     "run": {...}}        # the run it came from: id, name, epoch, metrics, config

A network pasted as PyTorch source keeps its source in the spec (a code spec of
:mod:`playground.code`: ``{"code": ..., "class_name": ...}``); it is rebuilt through the same
:func:`playground.code.rebuild` path, and only when the caller allows pasted code to run
(``allow_code=True``, see :func:`playground.code.code_allowed`): loading weights never runs code,
rebuilding a pasted network does.

Files are written atomically (temporary file, fsync, rename), so a crash mid-write never
leaves a half checkpoint behind.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from . import code, networks

FORMAT = "cnn-playground/1"
MAX_BYTES = 512 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a usable CNN Playground checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model: nn.Module
    spec: dict[str, Any]
    class_names: list[str]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.run.get("name") or self.spec.get("name") or "model")


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so only plain types go into the file."""
    return json.loads(json.dumps(value))


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a checkpoint is as readable as any saved file
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, spec: dict[str, Any],
                    class_names: list[str], input_shape: tuple[int, int, int] | list[int],
                    mean: tuple[float, ...] | list[float], std: tuple[float, ...] | list[float],
                    run: dict[str, Any] | None = None) -> None:
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    atomic_save({
        "format": FORMAT,
        "spec": _jsonable(spec),
        "state_dict": state,
        "class_names": [str(c) for c in class_names],
        "input_shape": [int(x) for x in input_shape],
        "mean": [float(x) for x in mean],
        "std": [float(x) for x in std],
        "run": _jsonable(run or {}),
    }, path)


def load_checkpoint(source: str | os.PathLike | bytes | BinaryIO, *,
                    map_location: str | torch.device = "cpu", allow_code: bool = False) -> Checkpoint:
    """Load and rebuild a checkpoint; raises :class:`CheckpointError` for anything unusable
    (not a checkpoint, a pickle that wants to run code, a spec that does not build, weights
    that do not fit the spec, a pasted network's source without ``allow_code``)."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_BYTES:
            raise CheckpointError(f"The file is {len(source) / 2**20:.0f} MB; the limit is "
                                  f"{MAX_BYTES // 2**20} MB.")
        fh: Any = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise CheckpointError(f"No checkpoint at {source}.")
        fh = source
    else:
        fh = source
    try:
        obj = torch.load(fh, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, zip errors, EOF ...
        text = str(e)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                "Refused: this file contains Python objects that would run code when loaded "
                "(a full pickle). Only weights-only checkpoints are accepted.") from e
        raise CheckpointError(f"This is not a readable PyTorch checkpoint ({type(e).__name__}).") from e
    if not isinstance(obj, dict):
        raise CheckpointError("This file holds a bare object, not a CNN Playground checkpoint.")
    if "state_dict" not in obj or "spec" not in obj:
        raise CheckpointError(
            "This looks like a plain state_dict, not a CNN Playground checkpoint: it has no "
            "network spec, so the network cannot be rebuilt. Save it from a run in this app "
            "or with playground.checkpoints.save_checkpoint.")
    spec = dict(obj["spec"])
    if code.is_code_spec(spec) and not allow_code:
        raise CheckpointError(
            f"This checkpoint's network is Python code pasted into the inspector "
            f"({spec.get('class_name') or 'a network'}); rebuilding it runs that code, which is "
            f"turned off here. {code.safety.HOW}")
    try:
        if code.is_code_spec(spec):
            model = code.rebuild(spec)
        else:
            if "torchvision" in spec:
                spec = {**spec, "weights": None}  # the weights come from the checkpoint itself
            model = networks.build(spec)
        model.load_state_dict(obj["state_dict"])
    except code.CodeError as e:
        raise CheckpointError(f"The checkpoint's network code does not load: {e}") from e
    except (networks.SpecError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"The checkpoint's weights do not fit its network: {e}") from e
    model.eval()
    shape = tuple(int(x) for x in obj.get("input_shape") or spec.get("input_shape", networks.DEFAULT_INPUT))
    channels = shape[0]
    return Checkpoint(
        model=model, spec=obj["spec"],
        class_names=[str(c) for c in obj.get("class_names") or []],
        input_shape=shape,  # type: ignore[arg-type]
        mean=tuple(obj.get("mean") or [0.0] * channels),
        std=tuple(obj.get("std") or [1.0] * channels),
        run=dict(obj.get("run") or {}),
    )


def republish(source: str | os.PathLike, dest: str | os.PathLike, **info: Any) -> dict[str, Any]:
    """Copy a run's checkpoint to ``dest`` (a shipped model) with ``info`` added to its run
    record; returns that record. The scripts that train the shipped models end with this."""
    ck = load_checkpoint(source)
    run = {**ck.run, **info}
    save_checkpoint(dest, ck.model, spec=ck.spec, class_names=ck.class_names,
                    input_shape=ck.input_shape, mean=ck.mean, std=ck.std, run=run)
    return run
