"""What the model says about a photo: class probabilities and the top classes."""
from __future__ import annotations

import torch
from torch import nn

from .arrays import as_tensor, check_image


def probabilities(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Class probabilities (softmax of the logits) for a (1, C, H, W) input, shape (classes,)."""
    check_image(image)
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(image).float(), dim=1)[0]


def top_class(model: nn.Module, image: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(image).argmax(dim=1)[0])


def topk(probs, class_names: list[str], k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes of ``probs`` (a tensor or numpy array) as (index, name,
    probability), best first."""
    p = as_tensor(probs)
    k = max(1, min(int(k), p.numel()))
    values, idx = p.topk(k)
    return [(int(i), class_name(class_names, int(i)), float(v)) for v, i in zip(values, idx)]


def class_name(class_names: list[str], i: int) -> str:
    return str(class_names[i]) if 0 <= i < len(class_names) else f"class {i}"
