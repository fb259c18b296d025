"""Where things live: the shipped assets, the runs folder, the dataset cache.

The assets (the default model, the sample photos) sit inside the package, so an installed wheel
carries them. Runs and downloaded datasets are the user's: in a source checkout they go beside
``app.py`` (git-ignored), in an installed package under the current folder; both can be moved with
an environment variable.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
SAMPLES = ASSETS / "samples"
DEFAULT_MODEL = ASSETS / "default_model.pt"
DIGITS_MODEL = ASSETS / "digits_model.pt"     # scripts/train_digits_model.py

_CHECKOUT = PACKAGE.parent
IS_CHECKOUT = (_CHECKOUT / "app.py").is_file() and (_CHECKOUT / "pyproject.toml").is_file()


def workspace() -> Path:
    """The folder that holds ``runs/`` and ``data-cache/`` by default: the repository in a
    source checkout, else the current working folder."""
    return _CHECKOUT if IS_CHECKOUT else Path.cwd()


def runs_dir() -> Path:
    """The runs folder: ``$PLAYGROUND_RUNS_DIR``, default ``<workspace>/runs``."""
    return Path(os.environ.get("PLAYGROUND_RUNS_DIR") or workspace() / "runs")


def data_dir() -> Path:
    """Where torchvision datasets live: ``$PLAYGROUND_DATA_DIR``, default ``<workspace>/data-cache``."""
    return Path(os.environ.get("PLAYGROUND_DATA_DIR") or workspace() / "data-cache")


def sample_photos() -> list[Path]:
    """The shipped sample photos, sorted by name."""
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
