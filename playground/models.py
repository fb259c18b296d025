"""The catalogue behind the one model picker: every trained model the app can look inside.

- the shipped default model (``assets/default_model.pt``, trained on the generated shapes by
  ``scripts/train_default_model.py``),
- every run's best and last checkpoint (from :mod:`playground.runs`),
- torchvision's ImageNet classifiers, weights downloaded once into torch's hub cache (offline:
  :class:`ModelUnavailable` says what to do),
- a checkpoint file the user uploads, loaded only with ``weights_only=True``.

``catalogue()`` lists :class:`ModelEntry` items by name; ``load(entry)`` /
``load_upload(data)`` give a :class:`LoadedModel`: the ``nn.Module`` in eval mode, its class
names and the exact preprocessing it expects.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoints, networks, paths, runs
from .images import Preprocess
from .networks import zoo

RETRY_AFTER_S = 60.0   # a failed download is not retried on every rerun


class ModelUnavailable(RuntimeError):
    """A model that cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelEntry:
    key: str                  # stable id: 'default', 'run:<id>:best', 'torchvision:resnet18', 'upload:<sha>'
    label: str                # what the picker shows
    kind: str                 # 'default' | 'run' | 'torchvision' | 'upload'
    path: str | None = None   # checkpoint file, when there is one
    name: str | None = None   # torchvision model name
    group: str = ""           # picker section


@dataclass
class LoadedModel:
    key: str
    label: str
    kind: str
    model: nn.Module
    class_names: list[str]
    preprocess: Preprocess
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.preprocess.channels, *self.preprocess.crop)

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------
def default_model_path() -> Path:
    """The shipped default model, trained by scripts/train_default_model.py."""
    return paths.DEFAULT_MODEL


def run_entries() -> list[ModelEntry]:
    """One entry per checkpoint of every run on disk (best, then last), newest run first."""
    try:
        infos = runs.list_runs()
    except Exception:  # noqa: BLE001 - a broken runs folder must not break the picker
        return []
    out: list[ModelEntry] = []
    for r in infos:
        for which, path in (("best", r.best_checkpoint), ("last", r.last_checkpoint)):
            if path and Path(path).is_file():
                out.append(ModelEntry(key=f"run:{r.id}:{which}",
                                      label=f"Run {r.name or r.id}: {which} checkpoint",
                                      kind="run", path=str(path), group="Your runs"))
    return out


def weights_cached(name: str) -> bool:
    """Whether torchvision's ImageNet weights for ``name`` are already in torch's hub cache."""
    w = zoo.torchvision_weights(name, "DEFAULT")
    fname = w.url.rsplit("/", 1)[-1]
    return (Path(torch.hub.get_dir()) / "checkpoints" / fname).is_file()


def catalogue(*, torchvision_models: list[str] | None = None) -> list[ModelEntry]:
    """Every model the picker offers, default model first; ``torchvision_models`` (default:
    the zoo's ImageNet classifiers) names the torchvision ones."""
    out: list[ModelEntry] = []
    path = default_model_path()
    if path.is_file():
        out.append(ModelEntry("default", "Default model: shapes CNN (shipped)", "default",
                              path=str(path), group="Shipped"))
    out += run_entries()
    for name in (zoo.names("imagenet") if torchvision_models is None else torchvision_models):
        note = "" if weights_cached(name) else " (downloads weights once)"
        label = zoo.ZOO[name].label if name in zoo.ZOO else name
        out.append(ModelEntry(f"torchvision:{name}", f"{label}, ImageNet{note}", "torchvision",
                              name=name, group="torchvision, ImageNet"))
    return out


def entry(key: str, entries: list[ModelEntry] | None = None) -> ModelEntry:
    for e in entries if entries is not None else catalogue():
        if e.key == key:
            return e
    raise ModelUnavailable(f"No model {key!r} (the run may have been deleted).")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
_failures: dict[str, tuple[float, str]] = {}


def imagenet_categories(name: str) -> list[str]:
    """ImageNet's 1000 class names from torchvision's weights metadata (no download needed)."""
    return list(zoo.torchvision_weights(name, "DEFAULT").meta["categories"])


def from_checkpoint(ckpt: checkpoints.Checkpoint, *, key: str, label: str, kind: str,
                    source: str) -> LoadedModel:
    """A loaded checkpoint as a :class:`LoadedModel` (eval mode, class names, preprocessing)."""
    spec = ckpt.spec or {}
    shape = tuple(ckpt.input_shape or (zoo.IMAGENET_INPUT if "torchvision" in spec else ()))
    pre = Preprocess.for_input(shape, ckpt.mean, ckpt.std)
    if "torchvision" in spec and shape[-1] >= 128:  # torchvision convention: resize 256, crop 224
        pre = Preprocess(resize=int(round(shape[-1] * 256 / 224)), crop=(shape[1], shape[2]),
                         mean=pre.mean, std=pre.std, channels=pre.channels)
    ckpt.model.eval()
    n_out = _num_outputs(ckpt.model, shape)
    names = list(ckpt.class_names) or [f"class {i}" for i in range(n_out or 0)]
    info = {"source": source, "spec_name": spec.get("name", ""), "run": ckpt.run,
            "classes": len(names)}
    return LoadedModel(key=key, label=label, kind=kind, model=ckpt.model, class_names=names,
                       preprocess=pre, info=info)


def _num_outputs(model: nn.Module, shape) -> int | None:
    """Scores per image (None when the output is not one vector per image)."""
    out = networks.probe(model, tuple(shape))
    return int(out[0]) if out is not None and len(out) == 1 else None


def load(e: ModelEntry) -> LoadedModel:
    """Load a catalogue entry; raises :class:`ModelUnavailable` with a readable message."""
    failed = _failures.get(e.key)
    if failed and time.monotonic() - failed[0] < RETRY_AFTER_S:
        raise ModelUnavailable(failed[1])
    try:
        if e.kind == "torchvision":
            return _load_torchvision(e)
        if not e.path:
            raise ModelUnavailable(f"{e.label} has no checkpoint file.")
        try:
            ckpt = checkpoints.load_checkpoint(e.path)
        except checkpoints.CheckpointError as err:
            raise ModelUnavailable(f"{e.label} could not be loaded: {err}") from err
        return from_checkpoint(ckpt, key=e.key, label=e.label, kind=e.kind, source=e.path)
    except ModelUnavailable as err:
        if e.kind == "torchvision":
            _failures[e.key] = (time.monotonic(), str(err))
        raise


def _load_torchvision(e: ModelEntry) -> LoadedModel:
    name = e.name or e.key.split(":", 1)[1]
    try:
        model = zoo.build_torchvision(name, weights="DEFAULT")
    except zoo.WeightsUnavailable as err:
        raise ModelUnavailable(str(err)) from err
    model.eval()
    w = zoo.torchvision_weights(name, "DEFAULT")
    pre = Preprocess.from_torchvision(w.transforms())
    meta = w.meta
    info = {"source": f"torchvision {name}, {w}", "classes": len(meta["categories"]),
            "acc@1": meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1"),
            "weights_file": w.url.rsplit("/", 1)[-1]}
    return LoadedModel(key=e.key, label=e.label, kind="torchvision", model=model,
                       class_names=imagenet_categories(name), preprocess=pre, info=info)


def load_upload(data: bytes, filename: str = "uploaded.pt") -> LoadedModel:
    """A checkpoint file the user uploaded. Loaded with ``weights_only=True`` only: a file that
    holds Python objects (a full pickle that could run code) is refused."""
    if not data:
        raise ModelUnavailable("The uploaded file is empty.")
    digest = hashlib.sha256(data).hexdigest()[:12]
    try:
        ckpt = checkpoints.load_checkpoint(bytes(data))
    except checkpoints.CheckpointError as err:
        raise ModelUnavailable(f"{filename}: {err}") from err
    return from_checkpoint(ckpt, key=f"upload:{digest}", label=f"Uploaded: {os.path.basename(filename)}",
                           kind="upload", source=filename)
