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
import math
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
    task: str = "classify"        # playground.tasks.TASKS: what the network's outputs mean

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


def _read(source: str | os.PathLike | bytes | BinaryIO, map_location: Any) -> Any:
    """``torch.load(weights_only=True)`` of a file of at most MAX_BYTES, errors in words."""
    if isinstance(source, (bytes, bytearray)):
        size: int | None = len(source)
        fh: Any = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise CheckpointError(f"No checkpoint file named {Path(source).name}.")
        size, fh = Path(source).stat().st_size, source
    else:
        size, fh = None, source
    if size is not None and size > MAX_BYTES:
        raise CheckpointError(f"The file is {size / 2**20:.0f} MB; the limit is "
                              f"{MAX_BYTES // 2**20} MB.")
    try:
        return torch.load(fh, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, zip errors, EOF ...
        text = str(e)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                "Refused: this file contains Python objects that would run code when loaded "
                "(a full pickle). Only weights-only checkpoints are accepted.") from e
        raise CheckpointError(f"This is not a readable PyTorch checkpoint ({type(e).__name__}).") from e


def _normalisation(obj: dict[str, Any], key: str, channels: int, default: float) -> tuple[float, ...]:
    """The checkpoint's ``mean`` or ``std``: one finite number per input channel (std > 0)."""
    values = obj.get(key)
    if values is None or (isinstance(values, list) and not values):
        return (default,) * channels
    ok = (isinstance(values, (list, tuple)) and len(values) == channels
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))
    if not ok:
        raise CheckpointError(f"The checkpoint's normalisation {key} must be {channels} number(s), "
                              f"one per input channel.")
    if not all(math.isfinite(v) for v in values) or (key == "std" and min(values) <= 0):
        raise CheckpointError(f"The checkpoint's normalisation {key} {list(values)[:8]} is unusable: "
                              f"every value must be a finite number{', above 0' if key == 'std' else ''} "
                              f"(images are divided by the std).")
    return tuple(float(v) for v in values)


def _check_network(spec: dict[str, Any], shape: tuple[int, ...], classes: int, weights: Any) -> None:
    """Refuse a spec (already validated) that cannot classify images of ``shape``: its first
    layer takes other channels, its ``weights`` (a state_dict) have other names or shapes, it
    does not run, or its output is not one score vector.
    Sized on the meta device: nothing is allocated."""
    convs: list[dict[str, Any]] = []
    if "layers" in spec:
        networks.walk(spec["layers"], lambda l: convs.append(l) if l.get("type") == "conv2d" else None)
    takes = convs[0].get("in") if convs else None
    if takes is None and "torchvision" in spec:
        with torch.device("meta"):
            net = networks.build(spec)
        takes = next((m.in_channels for m in net.modules() if hasattr(m, "in_channels")), None)
    if takes is not None and takes != shape[0]:
        raise CheckpointError(f"The checkpoint's input has {shape[0]} channel(s), but its first "
                              f"layer takes {takes}: the network cannot read its own input.")
    out = networks.cost(spec)[2]
    if out is None:
        raise CheckpointError(f"The checkpoint's network does not run on its own input "
                              f"({'x'.join(map(str, shape))}): its layer shapes do not fit.")
    if len(out) != 1:
        raise CheckpointError(f"The checkpoint's network has no classifier head: its output is "
                              f"{'x'.join(map(str, out))} per image, not one score per class.")
    if classes and out[0] != classes:
        raise CheckpointError(f"The checkpoint names {classes} classes, but its network gives "
                              f"{out[0]} scores per image.")
    with torch.device("meta"):
        net = networks.build(spec)
    need = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)} \
        if isinstance(weights, dict) else {}
    if need != have:   # refused before the real network is built (its memory allocated)
        wrong = [k for k in need if k in have and have[k] != need[k]]
        why = (f"{wrong[0]} is {'x'.join(map(str, have[wrong[0]]))} in the file but "
               f"{'x'.join(map(str, need[wrong[0]]))} in the network" if wrong else
               f"{len(set(need) - set(have))} tensor(s) missing, {len(set(have) - set(need))} unexpected")
        raise CheckpointError(f"The checkpoint's weights do not fit its network: {why}.")


def _task_of(obj: dict[str, Any]) -> str:
    """The task a checkpoint's run trained (its ``run.task``; none recorded: classify)."""
    run = obj.get("run") if isinstance(obj.get("run"), dict) else {}
    return str(run.get("task") or "classify")


def _load_task_network(obj: dict[str, Any], task: str) -> Checkpoint:
    """A checkpoint of another task than classify (a segmenting U-Net ...): rebuilt by that
    task's own ``build_network`` from the spec it wrote (:mod:`playground.tasks`), its weights
    loaded; CheckpointError in words for an unknown task or weights that do not fit."""
    from .data import DataError
    from .tasks import TASKS

    spec, names = dict(obj["spec"]), obj.get("class_names") or []
    if task not in TASKS:
        raise CheckpointError(f"The checkpoint is of a task this version does not know ({task[:40]!r}); "
                              f"it knows {', '.join(TASKS)}.")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(c, (str, int)) for c in names):
        raise CheckpointError("The checkpoint's class names must be a list of at least two names.")
    try:
        shape = tuple(int(v) for v in (obj.get("input_shape") or spec.get("input_shape")))
        model, _, shape = TASKS[task].build_network(spec, shape, len(names))
        model.load_state_dict(obj["state_dict"])
    except (DataError, TypeError, ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"The checkpoint's {task} network cannot be rebuilt from it: {e}") from e
    model.eval()
    return Checkpoint(model=model, spec=obj["spec"], class_names=[str(c) for c in names],
                      input_shape=shape, mean=_normalisation(obj, "mean", shape[0], 0.0),  # type: ignore[arg-type]
                      std=_normalisation(obj, "std", shape[0], 1.0), run=dict(obj["run"]), task=task)


def load_checkpoint(source: str | os.PathLike | bytes | BinaryIO, *,
                    map_location: str | torch.device = "cpu", allow_code: bool = False,
                    any_task: bool = False) -> Checkpoint:
    """Load and rebuild a checkpoint; raises :class:`CheckpointError` for anything unusable
    (not a checkpoint, a pickle that wants to run code, a spec over the budgets of
    :func:`playground.networks.validate` (checked before anything is built), normalisation
    that divides by zero, an input the first layer cannot take, no classifier head, weights
    that do not fit the spec, a pasted network's source without ``allow_code``). ``any_task``:
    a network of another task (segment, detect) is rebuilt by its task; otherwise refused, so a
    page that classifies never gets a U-Net."""
    obj = _read(source, map_location)
    if not isinstance(obj, dict):
        raise CheckpointError("This file holds a bare object, not a CNN Playground checkpoint.")
    if "state_dict" not in obj or "spec" not in obj:
        raise CheckpointError(
            "This looks like a plain state_dict, not a CNN Playground checkpoint: it has no "
            "network spec, so the network cannot be rebuilt. Save it from a run in this app "
            "or with playground.checkpoints.save_checkpoint.")
    if not isinstance(obj["spec"], dict):
        raise CheckpointError("The checkpoint's network spec is not a network description.")
    if _task_of(obj) != "classify":
        if not any_task:
            raise CheckpointError(f"This checkpoint is a {_task_of(obj)[:40]} network, not a classifier: "
                                  "use it with `python -m playground predict RUN IMAGE`.")
        return _load_task_network(obj, _task_of(obj))
    spec = dict(obj["spec"])
    is_code = code.is_code_spec(spec)
    if is_code and not allow_code:
        raise CheckpointError(
            f"This checkpoint's network is Python code pasted into the inspector "
            f"({str(spec.get('class_name') or 'a network')[:80]}); rebuilding it runs that code, "
            f"which is turned off here. {code.safety.HOW}")
    names = obj.get("class_names") or []
    if not isinstance(names, list) or not all(isinstance(c, (str, int)) for c in names):
        raise CheckpointError("The checkpoint's class names must be a list of names.")
    given = obj.get("input_shape") or spec.get("input_shape")
    try:   # the same checks as any spec text, before anything is built
        if is_code:   # only the input shape is data; the network is code the caller allowed
            shape = tuple(networks.parse_spec({"input_shape": given, "layers": []})["input_shape"])
        else:
            if "torchvision" in spec:
                spec = {**spec, "weights": None}  # the weights come from the checkpoint itself
            spec = networks.validate({**spec, **({"input_shape": given} if given else {})})
            shape = tuple(spec["input_shape"])
            _check_network(spec, shape, len(names), obj["state_dict"])
    except networks.SpecError as e:
        raise CheckpointError(f"The checkpoint's network is refused: {e.message}") from e
    mean = _normalisation(obj, "mean", shape[0], 0.0)
    std = _normalisation(obj, "std", shape[0], 1.0)
    try:
        model = code.rebuild(spec) if is_code else networks.build(spec)
        model.load_state_dict(obj["state_dict"])
    except code.CodeError as e:
        raise CheckpointError(f"The checkpoint's network code does not load: {e}") from e
    except (networks.SpecError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"The checkpoint's weights do not fit its network: {e}") from e
    model.eval()
    return Checkpoint(
        model=model, spec=obj["spec"],
        class_names=[str(c) for c in names],
        input_shape=shape,  # type: ignore[arg-type]
        mean=mean, std=std,
        run=dict(obj["run"]) if isinstance(obj.get("run"), dict) else {},
    )


def republish(source: str | os.PathLike, dest: str | os.PathLike, **info: Any) -> dict[str, Any]:
    """Copy a run's checkpoint to ``dest`` (a shipped model) with ``info`` added to its run
    record; returns that record. The scripts that train the shipped models end with this."""
    ck = load_checkpoint(source)
    run = {**ck.run, **info}
    save_checkpoint(dest, ck.model, spec=ck.spec, class_names=ck.class_names,
                    input_shape=ck.input_shape, mean=ck.mean, std=ck.std, run=run)
    return run
