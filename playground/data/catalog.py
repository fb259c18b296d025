"""Every dataset the app, the CLI and the tests can train on, once: its label, what it is, the
defaults of its data config and what is known before loading it. :func:`load_data` turns a
JSON-able data config into a :class:`Dataset` through this catalogue."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .dataset import DataError, Dataset
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
    from .inspection import load_own   # imported here: it reads OWN_DATA below

    if not cfg.get("path"):
        raise DataError("Give the path of the zip or folder of class folders.")
    return load_own(cfg, progress)


def _scenes_not_labels() -> Dataset:
    raise DataError("Scenes hold several shapes each, every one with its box: they are the detect "
                    "task's data (train --task detect), not one label per image.")


# A learner's own images (a zip or folder of class folders), defaults and limits, once.
OWN_DATA: dict[str, Any] = {
    # None: from the data. size: all images one size within [min_side, max_side] -> that size
    # (H x W) exactly; otherwise a square of the median shorter side clamped to
    # [min_side, max_side]. channels: 1 when every image is gray, else 3.
    "size": None,
    "channels": None,
    # 64 px: big enough to tell cats from dogs, small enough to train on a laptop CPU in
    # minutes; 28x28 digits stay 28x28. 16 px: below it a conv net has nothing left to pool.
    "max_side": 64,
    "min_side": 16,
    # a fifth of each class held out for validation when the data has no val/ folder
    "val_fraction": 0.2,
    "seed": 0,
    # 20,000 images: 20k x 3x64x64 bytes is 250 MB decoded, an epoch a few minutes on a CPU
    "max_images": 20_000,
}
_FILES = OWN_DATA

# The network proposed for a learner's data, first match wins: (largest side, channels or
# None for any, preset). Small gray images (digits): the course's 5k-param MNIST SimpleCNN,
# 97.5-97.7% on 8,000 MNIST digits in 5 epochs with RunConfig's numbers (seeds 0-3), ~5 s of
# CPU; the 113k-param shapes CNN reaches 99% there but trains ~10x slower. Everything else:
# the shapes CNN (global average pooling: any size and aspect), the shipped default's network.
PROPOSALS: list[tuple[int, int | None, str]] = [
    (32, 1, "mnist_simple_cnn"),
    (1 << 30, None, "shapes_cnn"),
]
_TV = {"download": True}

DATASETS: dict[str, DatasetEntry] = {e.key: e for e in [
    # 8,000 shapes: RunConfig's defaults reach ~98% in 5 epochs on a laptop CPU; 4,000 ended at
    # 36% (git log: "Training page defaults that learn"). 2,000 validation images: a quarter.
    DatasetEntry("shapes", "Shapes (generated)", "Generated shapes (8 classes, offline, 32x32 colour)",
                 "generated", lambda cfg, progress: load_shapes(cfg),
                 {"n_train": 8000, "n_val": 2000, "size": 32, "seed": 0, "texture": 1.0},
                 (3, 32, 32), len(DEFAULT_SHAPES)),
    # Scenes: detection's data (1 to 4 shapes each, with boxes), 64 px: 8 x 8 cells of the grid
    # detector. 8,000 training scenes: with RunConfig's 5 epochs (OneCycle) val mAP@0.5 0.86 in
    # 131 s on 2 CPU cores (seed 0); 4,000 ended at 0.68 (64 s), 1,000 in 12 epochs at 0.23 (overfit)
    DatasetEntry("scenes", "Scenes (generated, for detection)",
                 "Generated scenes of 1 to 4 shapes with their boxes (detection, 64x64 colour)",
                 "generated", lambda cfg, progress: _scenes_not_labels(),
                 {"n_train": 8000, "n_val": 1000, "size": 64, "seed": 0, "texture": 1.0,
                  "min_shapes": 1, "max_shapes": 4}, (3, 64, 64), len(DEFAULT_SHAPES)),
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
