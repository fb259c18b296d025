"""Where a run trains: CUDA when present, then Apple MPS, else the CPU."""
from __future__ import annotations

import os

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


def gpu_count() -> int:
    """CUDA GPUs this process sees (0 without CUDA): the app offers runs on several of them."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpus_of(device: torch.device, world: int = 1) -> list[int]:
    """The GPUs a run trains on, by the machine's numbering (through ``CUDA_VISIBLE_DEVICES``,
    which the app sets for the runs it places): ``device`` is rank 0's, the ranks of a torchrun
    run on one machine take the next ones. [] on the CPU or MPS."""
    if device.type != "cuda":
        return []
    first = device.index if device.index is not None else torch.cuda.current_device()
    local = range(first, first + world)
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible):
        return [int(visible[i]) for i in local if i < len(visible)]
    return list(local)
