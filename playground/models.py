"""The catalogue behind the one model picker: every trained model the app can look inside.

- the shipped models (:data:`SHIPPED`): the default model (``assets/default_model.pt``, trained on
  the generated shapes by ``scripts/train_default_model.py``) and the digits model
  (``assets/digits_model.pt``, trained on real handwritten MNIST digits by
  ``scripts/train_digits_model.py``),
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

from torch import nn

from . import checkpoints, networks, paths, runs
from .images import Preprocess
from .networks import zoo

RETRY_AFTER_S = 60.0   # a failed download is not retried on every rerun


class ModelUnavailable(RuntimeError):
    """A model that cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelEntry:
    key: str                  # stable id: 'default', 'digits', 'run:<id>:best', 'torchvision:resnet18', 'upload:<sha>'
    label: str                # what the picker shows
    kind: str                 # 'default' (shipped) | 'run' | 'torchvision' | 'upload'
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

    @property
    def reads_digits(self) -> bool:
        """An MNIST-style digit reader (28 x 28 grey in, classes "0".."9"): the shipped digits
        model or a run trained on MNIST. A drawn digit suits it best."""
        return self.input_shape == (1, 28, 28) and self.class_names == DIGIT_CLASSES


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shipped:
    label: str
    path: Path
    script: str               # the script that trains it with the app's own training code


# The models the package ships, first in the picker.
SHIPPED: dict[str, Shipped] = {
    "default": Shipped("Default model: shapes CNN (shipped)", paths.DEFAULT_MODEL,
                       "scripts/train_default_model.py"),
    "digits": Shipped("Digits model: handwritten 0-9, MNIST (shipped)", paths.DIGITS_MODEL,
                      "scripts/train_digits_model.py"),
}
DIGIT_CLASSES = [str(d) for d in range(10)]


def default_model_path() -> Path:
    """The shipped default model, trained by scripts/train_default_model.py."""
    return SHIPPED["default"].path


def run_entries() -> list[ModelEntry]:
    """One entry per checkpoint of every classification run on disk (best, then last), newest
    run first. Runs of other tasks (a segmenting U-Net) are not classifiers: not listed."""
    try:
        infos = runs.list_runs()
    except Exception:  # noqa: BLE001 - a broken runs folder must not break the picker
        return []
    out: list[ModelEntry] = []
    for r in infos:
        cfg = r.config if isinstance(r.config, dict) else {}
        if cfg.get("task", "classify") != "classify":
            continue
        for which, path in (("best", r.best_checkpoint), ("last", r.last_checkpoint)):
            if path and Path(path).is_file():
                out.append(ModelEntry(key=f"run:{r.id}:{which}",
                                      label=f"Run {r.name or r.id}: {which} checkpoint",
                                      kind="run", path=str(path), group="Your runs"))
    return out


def weights_path(name: str) -> Path:
    """Where torchvision's ImageNet weights for ``name`` go: torch's hub cache, torchvision's
    own file name (``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``). Offline, a file
    copied there is loaded as if downloaded."""
    return zoo.weights_file(zoo.torchvision_weights(name, "DEFAULT"))


def weights_url(name: str) -> str:
    """Where torchvision downloads ``name``'s ImageNet weights from."""
    return str(zoo.torchvision_weights(name, "DEFAULT").url)


def weights_cached(name: str) -> bool:
    """Whether torchvision's ImageNet weights for ``name`` are already in torch's hub cache."""
    return weights_path(name).is_file()


def catalogue(*, torchvision_models: list[str] | None = None) -> list[ModelEntry]:
    """Every model the picker offers, the shipped ones first; ``torchvision_models`` (default:
    the zoo's ImageNet classifiers) names the torchvision ones."""
    out = [ModelEntry(key, m.label, "default", path=str(m.path), group="Shipped")
           for key, m in SHIPPED.items() if m.path.is_file()]
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


def load(e: ModelEntry, *, allow_code: bool = False) -> LoadedModel:
    """Load a catalogue entry; raises :class:`ModelUnavailable` with a readable message.
    ``allow_code``: a run of a pasted network may rebuild it from its source (pages pass
    :func:`playground.code.code_allowed` for their server)."""
    failed = _failures.get(e.key)
    if failed and time.monotonic() - failed[0] < RETRY_AFTER_S and not _now_cached(e):
        raise ModelUnavailable(failed[1])
    try:
        if e.kind == "torchvision":
            return _load_torchvision(e)
        if not e.path:
            raise ModelUnavailable(f"{e.label} has no checkpoint file.")
        try:
            ckpt = checkpoints.load_checkpoint(e.path, allow_code=allow_code)
        except checkpoints.CheckpointError as err:
            raise ModelUnavailable(f"{e.label} could not be loaded: {err}") from err
        return from_checkpoint(ckpt, key=e.key, label=e.label, kind=e.kind, source=e.path)
    except ModelUnavailable as err:
        if e.kind == "torchvision":
            _failures[e.key] = (time.monotonic(), str(err))
        raise


def _now_cached(e: ModelEntry) -> bool:
    """A torchvision entry whose weights file has been placed since it failed: try again now."""
    return e.kind == "torchvision" and weights_cached(e.name or e.key.split(":", 1)[1])


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
            "weights_file": str(zoo.weights_file(w))}
    return LoadedModel(key=e.key, label=e.label, kind="torchvision", model=model,
                       class_names=imagenet_categories(name), preprocess=pre, info=info)


def load_upload(data: bytes, filename: str = "uploaded.pt", *, allow_code: bool = False) -> LoadedModel:
    """A checkpoint file the user uploaded. Loaded with ``weights_only=True`` only: a file that
    holds Python objects (a full pickle that could run code) is refused."""
    if not data:
        raise ModelUnavailable("The uploaded file is empty.")
    digest = hashlib.sha256(data).hexdigest()[:12]
    try:
        ckpt = checkpoints.load_checkpoint(bytes(data), allow_code=allow_code)
    except checkpoints.CheckpointError as err:
        raise ModelUnavailable(f"{filename}: {err}") from err
    return from_checkpoint(ckpt, key=f"upload:{digest}", label=f"Uploaded: {os.path.basename(filename)}",
                           kind="upload", source=filename)
