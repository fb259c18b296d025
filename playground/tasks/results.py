"""What a run's results are called and how they read, once: the metrics each task reports after
every validation (``val_<name>`` in the run's epoch lines; the first is the one a run is judged
by: its best checkpoint, its label in lists, the CLI's ``runs`` line), and every epoch metric's
words for the pages. Plain data (no torch): the run list and the pages read it."""
from __future__ import annotations

from typing import Any

# task -> what its metrics object's compute() reports (the first: the headline)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classify": ("acc",),
    "segment": ("miou", "dice"),
    "detect": ("map50", "map"),
}

# epoch metric -> (words, short words, format); "%": a share shown as a percentage
LABELS: dict[str, tuple[str, str, str]] = {
    "val_acc": ("validation accuracy", "val accuracy", "%"),
    "val_loss": ("validation loss", "val loss", ".3f"),
    "train_loss": ("training loss", "train loss", ".3f"),
    "train_acc": ("training accuracy", "train accuracy", "%"),
    "val_miou": ("validation mIoU (mean intersection over union of the masks)", "val mIoU", ".3f"),
    "val_dice": ("validation Dice", "val Dice", ".3f"),
    "val_map50": ("validation mAP@0.5 (mean average precision of the boxes at IoU 0.5)", "val mAP@0.5", ".3f"),
    "val_map": ("validation mAP (COCO, IoU 0.5 to 0.95)", "val mAP", ".3f"),
}


def headline(task: str | None) -> str:
    """The epoch metric a run of ``task`` is judged by (``val_acc`` for an unknown task)."""
    return "val_" + TASK_METRICS.get(task or "classify", TASK_METRICS["classify"])[0]


def task_results(task: str | None) -> tuple[str, ...]:
    """Every ``val_<name>`` a run of ``task`` reports, headline first."""
    return tuple("val_" + m for m in TASK_METRICS.get(task or "classify", TASK_METRICS["classify"]))


def words(metric: str) -> str:
    """``validation mIoU``: an axis title (the long words without their explanation)."""
    return LABELS[metric][0].split(" (")[0] if metric in LABELS else metric.replace("_", " ")


def explain(metric: str) -> str | None:
    """What the metric measures, when its words say (the parenthesis of its long words)."""
    long = LABELS.get(metric, ("",))[0]
    return long[long.index("(") + 1:-1] if "(" in long else None


def is_share(metric: str) -> bool:
    """A score between 0 and 1 (accuracy, IoU, Dice, mAP), not a loss."""
    return metric in LABELS and "loss" not in metric


def short(metric: str) -> str:
    """``val mIoU``, ``train loss``: a column or a curve's name."""
    return LABELS[metric][1] if metric in LABELS else metric.replace("_", " ")


def fmt(metric: str, value: Any) -> str:
    """``value`` as ``metric`` reads (``93.8%``, ``0.913``); ``–`` for a missing or odd value."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    spec = LABELS.get(metric, ("", "", ".3f"))[2]
    return f"{value:.1%}" if spec == "%" else format(value, spec)
