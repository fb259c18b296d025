"""Classification, the first task: one label per image. Described by what the training loop does
today (its data catalogue, networks, cross-entropy with label smoothing, accuracy), so that when
the loop reads :data:`playground.tasks.TASKS` a classify run behaves exactly as before."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataError, Dataset
from ..data import load_data as catalogue_load

Progress = Callable[[str, float], None] | None


def load_data(cfg: dict[str, Any], progress: Progress = None) -> Dataset:
    """Any dataset of the catalogue (:func:`playground.data.load_data`): labels int64 (N,)."""
    return catalogue_load(cfg, progress)


def default_model() -> dict[str, Any]:
    """RunConfig's model (the shapes CNN): the one place training defaults live."""
    from ..training.config import RunConfig

    return RunConfig().model


def build_network(m: dict[str, Any], input_shape: tuple[int, int, int],
                  num_classes: int) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, spec, input shape it takes): :func:`playground.training.model.build_network`."""
    from ..training.model import build_network as build

    return build(m, input_shape, num_classes)


# name -> (label, factory of the loss module); the loop's nn.CrossEntropyLoss(label_smoothing)
LOSSES: dict[str, tuple[str, Callable[..., Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]]] = {
    "ce": ("Cross-entropy", lambda label_smoothing=0.0: nn.CrossEntropyLoss(label_smoothing=label_smoothing)),
}
DEFAULT_LOSS = "ce"


def make_loss(name: str = DEFAULT_LOSS, **options: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss called ``name`` with its options (``label_smoothing``)."""
    if name not in LOSSES:
        raise DataError(f"Unknown classification loss {name!r}; choose {', '.join(LOSSES)}.")
    return LOSSES[name][1](**options)


def right(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """int64 [targets right, targets]: the top class against the label (or each pixel's class
    against the mask's), the loop's train_acc."""
    return torch.stack([(out.argmax(1) == target).sum(), torch.tensor(target.numel(), device=target.device)])


class ClassifyMetrics:
    """Validation accuracy over batches (torchmetrics' micro-averaged multiclass accuracy: the
    share of images whose top class is right, what the loop's ``val_acc`` has always been)."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        from torchmetrics.classification import MulticlassAccuracy

        self.acc = MulticlassAccuracy(int(num_classes), average="micro").to(device)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        self.acc.update(logits.argmax(1) if logits.dim() == 2 else logits, target)

    def compute(self) -> dict[str, Any]:
        return {"acc": float(self.acc.compute())}


def metrics(num_classes: int, device: torch.device | str = "cpu") -> ClassifyMetrics:
    return ClassifyMetrics(num_classes, device)


def predict(logits: torch.Tensor, class_names: list[str], top: int = 5) -> list[dict[str, Any]]:
    """Per image of logits (N, classes): ``{"top": [{"label", "p"}]}``, the ``top`` most likely
    classes with their softmax probabilities, most likely first."""
    p = F.softmax(logits.float(), dim=1)
    vals, idx = p.topk(min(top, p.shape[1]), dim=1)
    return [{"top": [{"label": class_names[int(i)], "p": float(v)} for v, i in zip(vr, ir)]}
            for vr, ir in zip(vals, idx)]
