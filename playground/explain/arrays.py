"""Tensors or numpy arrays in, the same kind out, and the checks every method shares.

Pages hand the library numpy arrays (they import no torch); notebooks and tests hand it
tensors. Functions that take a map, a kernel or weights accept either and answer in kind.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def as_tensor(x: Any) -> torch.Tensor:
    """A float32 tensor of ``x`` (a tensor, detached; or a numpy array / nested list, copied,
    so a read-only cached array can be used)."""
    if isinstance(x, torch.Tensor):
        return x.detach().float()
    return torch.tensor(np.asarray(x), dtype=torch.float32)


def like(y: torch.Tensor, x: Any) -> torch.Tensor | np.ndarray:
    """``y`` as the kind ``x`` was: a tensor for a tensor, else a numpy array."""
    return y if isinstance(x, torch.Tensor) else y.numpy()


def check_image(image: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"Expected a normalized (1, C, H, W) tensor, got shape {tuple(image.shape)}.")


def unit_range(a: torch.Tensor) -> torch.Tensor:
    """Scale a non-negative map into [0, 1] (all zeros stays zeros)."""
    a = torch.nan_to_num(a.detach().float()).clamp(min=0)
    top = a.max()
    return a / top if top > 0 else a
