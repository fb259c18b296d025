"""Every dataset the app, the CLI and the tests can train on, once: its label, what it is, the
defaults of its data config and what is known before loading it. :func:`load_data` turns a
JSON-able data config into a :class:`Dataset` through this catalogue."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .dataset import DataError, Dataset
from .folders import load_image_folder
from .shapes import DEFAULT_SHAPES, load_shapes
from .torchvision_sets import load_torchvision

Progress = Callable[[str, float], None] | None


@dataclass(frozen=True)
class DatasetEntry:
    key: str
    label: str                                  # the page's picker
    description: str                            # one line: what the images are
    kind: str                                   # generated | torchvision | zip | folder
    load: Callable[[dict[str, Any], Progress], Dataset]
    defaults: dict[str, Any] = field(default_factory=dict)   # the data config's defaults
    input_shape: tuple[int, int, int] | None = None           # (C, H, W) when known before loading
    num_classes: int | None = None
    n_train: int | None = None                  # training images when fixed by the dataset
    aliases: tuple[str, ...] = ()


def _torchvision(key: str) -> Callable[[dict[str, Any], Progress], Dataset]:
    return lambda cfg, progress: load_torchvision(key, cfg.get("root"), download=bool(cfg["download"]),
                                                  progress=progress)


def _folder(cfg: dict[str, Any], progress: Progress) -> Dataset:
    if not cfg.get("path"):
        raise DataError("Give the path of the zip or folder of class folders.")
    return load_image_folder(cfg["path"], size=int(cfg["size"]), val_fraction=float(cfg["val_fraction"]),
                             seed=int(cfg["seed"]), progress=progress)


# A learner's own images are resized to 64 px: big enough to tell cats from dogs, small enough
# to train on a laptop's CPU in minutes; a fifth of them are held out for validation.
_FILES = {"size": 64, "val_fraction": 0.2, "seed": 0}
_TV = {"download": True}

DATASETS: dict[str, DatasetEntry] = {e.key: e for e in [
    # 8,000 shapes: RunConfig's defaults reach ~98% in 5 epochs on a laptop CPU; 4,000 ended at
    # 36% (git log: "Training page defaults that learn"). 2,000 validation images: a quarter.
    DatasetEntry("shapes", "Shapes (generated)", "Generated shapes (8 classes, offline, 32x32 colour)",
                 "generated", lambda cfg, progress: load_shapes(cfg),
                 {"n_train": 8000, "n_val": 2000, "size": 32, "seed": 0, "texture": 1.0},
                 (3, 32, 32), len(DEFAULT_SHAPES)),
    DatasetEntry("mnist", "MNIST digits", "MNIST handwritten digits (28x28 grey)", "torchvision",
                 _torchvision("mnist"), _TV, (1, 28, 28), 10, 60_000),
    DatasetEntry("fashion-mnist", "FashionMNIST", "FashionMNIST clothing (28x28 grey)", "torchvision",
                 _torchvision("fashion-mnist"), _TV, (1, 28, 28), 10, 60_000, aliases=("fashionmnist",)),
    DatasetEntry("cifar10", "CIFAR-10", "CIFAR-10 photos (32x32 colour)", "torchvision",
                 _torchvision("cifar10"), _TV, (3, 32, 32), 10, 50_000, aliases=("cifar-10",)),
    DatasetEntry("zip", "Your zip of class folders", "Your zip of class folders", "zip", _folder, _FILES),
    DatasetEntry("folder", "A folder of class folders", "A folder of class folders", "folder", _folder,
                 _FILES),
]}


def entry(name: str) -> DatasetEntry:
    """The catalogue entry of a dataset name or alias (any case)."""
    key = str(name).lower()
    for e in DATASETS.values():
        if key == e.key or key in e.aliases:
            return e
    raise DataError(f"Unknown dataset {name!r}. Known: {', '.join(DATASETS)}.")


def data_config(name: str, **overrides: Any) -> dict[str, Any]:
    """A dataset's full data config: its defaults, then ``overrides`` (None values skipped)."""
    e = entry(name)
    return {"name": e.key, **e.defaults, **{k: v for k, v in overrides.items() if v is not None}}


def shapes_val_count(n_train: int) -> int:
    """Validation images for ``n_train`` generated shapes: a quarter, at least 500 (so that one
    image is at most 0.2% of the accuracy)."""
    return max(500, n_train // 4)


def load_data(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """A :class:`Dataset` from a JSON-able config, e.g. ``{"name": "shapes", "n_train": 8000}``,
    ``{"name": "mnist", "root": "data"}``, ``{"name": "zip", "path": "cats_dogs.zip", "size": 64}``;
    what the config leaves out comes from the dataset's catalogue defaults. ``limit_train`` /
    ``limit_val`` take the first images only (quick experiments)."""
    e = entry(cfg.get("name", "shapes"))
    ds = e.load({**e.defaults, **cfg}, progress)
    lt, lv = cfg.get("limit_train"), cfg.get("limit_val")
    return ds.head(lt or None, lv or None) if lt or lv else ds
