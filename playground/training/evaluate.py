"""A trained network on the validation images: its logits in batches, the loss and accuracy of
an epoch, and the report after a run (confusion matrix, per-class accuracy, worst mistakes)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import to_model_input


@torch.no_grad()
def logits(model: nn.Module, x_uint8: torch.Tensor, mean, std, *, batch: int = 512,
           size: tuple[int, int] | None = None, channels: int | None = None,
           device: torch.device | None = None) -> torch.Tensor:
    """Logits (N, classes) of a uint8 image tensor (N, C, H, W), in batches. (Probabilities
    for a learner's photo are :func:`playground.explain.probabilities`.)"""
    model.eval()
    device = device or next(model.parameters()).device
    outs = []
    for i in range(0, x_uint8.shape[0], batch):
        xb = to_model_input(x_uint8[i:i + batch].to(device), mean, std, channels=channels, size=size)
        outs.append(model(xb).float())
    return torch.cat(outs) if outs else torch.empty(0)


@torch.no_grad()
def scores(model: nn.Module, x_uint8: torch.Tensor, y: torch.Tensor, mean, std, loss_fn, metrics, *,
           batch: int = 256, right=None, **input_args: Any) -> dict[str, Any]:
    """Any task's validation in batches: ``loss`` (the mean of the batches' losses, weighted by
    their images), ``acc`` (the share of targets right: labels, or pixels of masks; ``right``, the
    task's count of [right, counted], for other targets) and what the task's ``metrics`` compute
    (mIoU, Dice, mAP ...), with nothing but a batch's outputs in memory."""
    loss_sum, hits, n, seen = 0.0, 0, 0, 0
    for i in range(0, x_uint8.shape[0], batch):
        out = logits(model, x_uint8[i:i + batch], mean, std, **input_args)
        yb = y[i:i + batch].to(out.device)
        loss_sum += float(loss_fn(out, yb)) * yb.shape[0]
        r, c = right(out, yb).tolist() if right is not None else (int((out.argmax(1) == yb).sum()), yb.numel())
        hits, n, seen = hits + r, n + c, seen + yb.shape[0]
        metrics.update(out, yb)
    return {"loss": loss_sum / max(seen, 1), "acc": hits / max(n, 1), "images": seen, "counted": n,
            **metrics.compute()}


def loss_and_accuracy(out: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of logits (N, classes) against labels (N,)."""
    return float(F.cross_entropy(out, labels)), float((out.argmax(1) == labels).float().mean())


def confusion_report(out: torch.Tensor, labels: torch.Tensor, num_classes: int, top: int = 16) -> dict[str, Any]:
    """Confusion matrix (rows: true class), per-class accuracy, and the ``top`` most
    confidently wrong images of logits ``out`` (N, classes) against ``labels`` (N,)."""
    labels = labels.to(out.device)
    pred = out.argmax(1)
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    cm.index_put_((labels.cpu(), pred.cpu()), torch.ones_like(labels.cpu()), accumulate=True)
    per_class = (cm.diag().float() / cm.sum(1).clamp_min(1).float()).tolist()
    conf = out.softmax(1).max(1).values
    wrong = torch.nonzero(pred != labels).flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:top]
    return {"confusion": cm.tolist(), "per_class_acc": per_class,
            "accuracy": float((pred == labels).float().mean()) if len(labels) else 0.0,
            "wrong": [{"index": int(i), "true": int(labels[i]), "pred": int(pred[i]),
                       "confidence": float(conf[i])} for i in order]}
