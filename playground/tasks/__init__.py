"""What a run learns to do, each task one entry that training, runs, the CLI and the pages look
up (DESIGN.md: "a task is an entry, not a branch"): its data, default network, losses, metrics
and prediction format. ``classify`` is the loop's task today, described as it is; ``segment``
(a class per pixel: the shapes' exact masks or a zip of images/ and masks/, a small U-Net,
cross-entropy and Dice, torchmetrics' mIoU and Dice) is the second.

Every hook has one signature across tasks:

- ``load_data(cfg, progress) -> Dataset`` (``train_y``: (N,) labels or (N, H, W) masks);
- ``build_network(model_cfg, input_shape, num_classes) -> (module, spec, input_shape)``;
- ``make_loss(name, **options) -> loss(outputs, targets)``, names in ``losses``;
- ``metrics(num_classes, device)`` -> an object with ``update(outputs, targets)`` and
  ``compute() -> {name: value}``;
- ``predict(outputs, class_names) -> [one JSON-able dict per image]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..data import DataError
from . import classify, segment


@dataclass(frozen=True)
class Task:
    key: str
    label: str                        # the page's picker
    description: str                  # one line: what the network learns
    load_data: Callable[..., Any]
    default_model: Callable[[], dict[str, Any]]
    build_network: Callable[..., Any]
    losses: dict[str, tuple[str, Callable]]     # name -> (label, loss or its factory)
    default_loss: str
    make_loss: Callable[..., Callable]
    metrics: Callable[..., Any]
    metric_names: tuple[str, ...]     # what compute() reports, the run's val_<name> (the first: best)
    predict: Callable[..., list[dict[str, Any]]]
    # the loop's image-only augmentations (crop, flip, rotate, jitter, erase); segment: none yet,
    # a flipped image beside its unflipped mask would teach wrong pixels
    augments: bool = True
    # one label per image: the loop's accuracy over torchrun's shards and the report after a run
    # (confusion matrix, worst mistakes); False: a target per pixel, validated by the task's metrics
    per_image: bool = True
    # the loop's channels-last memory format on the CPU; the U-Net: off, a training step at 32 px
    # took 1.5 s channels-last against 0.10 s without (its BatchNorms, torch 2.14 / oneDNN)
    channels_last_cpu: bool = True


TASKS: dict[str, Task] = {t.key: t for t in [
    Task("classify", "Classify", "one label per image", classify.load_data, classify.default_model,
         classify.build_network, classify.LOSSES, classify.DEFAULT_LOSS, classify.make_loss,
         classify.metrics, ("acc",), classify.predict),
    Task("segment", "Segment", "a class for every pixel (background 0)", segment.load_data,
         lambda: dict(segment.DEFAULT_MODEL), segment.build_network, segment.LOSSES,
         segment.DEFAULT_LOSS, segment.make_loss, segment.metrics, ("miou", "dice"), segment.predict,
         augments=False, per_image=False, channels_last_cpu=False),
]}


def task(key: str) -> Task:
    """The task called ``key`` (any case); DataError naming the known ones otherwise."""
    k = str(key).lower()
    if k not in TASKS:
        raise DataError(f"Unknown task {key!r}; choose {', '.join(TASKS)}.")
    return TASKS[k]


__all__ = ["TASKS", "Task", "task"]
