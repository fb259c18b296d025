"""Where a run trains: CUDA when present, then Apple MPS, else the CPU."""
from __future__ import annotations

import torch

from .config import TrainingError


def _mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def available_devices() -> list[str]:
    """The device names a run can ask for here: "auto", "cpu", then "cuda" / "mps" if present."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if _mps() else [])


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present, then Apple MPS, else CPU (or the device named)."""
    if name and name != "auto":
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TrainingError("CUDA was asked for but no CUDA GPU is available here.")
        if dev.type == "mps" and not _mps():
            raise TrainingError("MPS was asked for but this is not an Apple-silicon Mac with MPS.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps():
        return torch.device("mps")
    return torch.device("cpu")
