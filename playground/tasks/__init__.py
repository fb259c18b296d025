"""What a run learns to do, each task one entry that training, runs, the CLI and the pages look
up (DESIGN.md: "a task is an entry, not a branch"): its data, default network, losses, metrics
and prediction format. ``classify`` is the loop's task today, described as it is; ``segment``
(a class per pixel: the shapes' exact masks or a zip of images/ and masks/, a small U-Net,
cross-entropy and Dice, torchmetrics' mIoU and Dice) is the second; ``detect`` (every object's box
and class: the generated scenes or a zip of images/ and YOLO labels/, a grid detector, YOLOv1's
loss, batched NMS, torchmetrics' mAP) the third.

Every hook has one signature across tasks:

- ``load_data(cfg, progress) -> Dataset`` (``train_y``: (N,) labels, (N, H, W) masks or
  (N, K, 5) boxes ``class, x1, y1, x2, y2``);
- ``build_network(model_cfg, input_shape, num_classes) -> (module, spec, input_shape)``;
- ``make_loss(name, **options) -> loss(outputs, targets)``, names in ``losses``;
- ``metrics(num_classes, device)`` -> an object with ``update(outputs, targets)`` and
  ``compute() -> {name: value}``;
- ``predict(outputs, class_names) -> [one JSON-able dict per image]``;
- ``epoch_view(outputs) -> {name: numpy array}`` (optional): after each validation the loop runs
  the network on a fixed strip of validation images (:mod:`playground.training.views`, the
  first 6) and saves what this returns for the Training page (segment: ``{"pred": uint8 (K, H,
  W)}``, the predicted class of every pixel; detect: ``{"raw": float16 (K, S, S, 5 + classes)}``,
  the grid's outputs, re-decoded on the page at any threshold). ``outputs``:
  the network's output on the strip (K, ...); keep the arrays small (they are saved per epoch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..data import DataError
from .results import TASK_METRICS
from . import classify, detect, segment


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
    metric_names: tuple[str, ...]     # what compute() reports, the run's val_<name> (the first: best;
    # results.py names them)
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
    # the Training page's picture of each epoch (see the module's docstring); None: no picture
    epoch_view: Callable[..., dict[str, Any]] | None = None
    # the loop's train_acc: right(outputs, targets) -> int64 tensor [right, counted]; classify and
    # segment: top class == target (labels, pixels); detect: each cell's objectness
    right: Callable[..., Any] = classify.right
    # the data a run of this task trains on when none is named (the CLI's --data)
    default_data: str = "shapes"
    # RunConfig fields this task starts from instead of RunConfig's own (RunConfig.for_task: the
    # CLI and the page's form); a "data" entry updates the data's catalogue defaults
    run_defaults: dict[str, Any] = field(default_factory=dict)


TASKS: dict[str, Task] = {t.key: t for t in [
    Task("classify", "Classify", "one label per image", classify.load_data, classify.default_model,
         classify.build_network, classify.LOSSES, classify.DEFAULT_LOSS, classify.make_loss,
         classify.metrics, TASK_METRICS["classify"], classify.predict),
    Task("segment", "Segment", "a class for every pixel (background 0)", segment.load_data,
         lambda: dict(segment.DEFAULT_MODEL), segment.build_network, segment.LOSSES,
         segment.DEFAULT_LOSS, segment.make_loss, segment.metrics, TASK_METRICS["segment"], segment.predict,
         augments=False, per_image=False, channels_last_cpu=False, epoch_view=segment.epoch_view,
         right=segment.right, run_defaults=segment.RUN_DEFAULTS),
    Task("detect", "Detect", "a box and a class for every object", detect.load_data,
         lambda: dict(detect.DEFAULT_MODEL), detect.build_network, detect.LOSSES, detect.DEFAULT_LOSS,
         detect.make_loss, detect.metrics, TASK_METRICS["detect"], detect.predict, augments=False,
         per_image=False, channels_last_cpu=False, epoch_view=detect.epoch_view, right=detect.right,
         default_data="scenes"),
]}


def task(key: str) -> Task:
    """The task called ``key`` (any case); DataError naming the known ones otherwise."""
    k = str(key).lower()
    if k not in TASKS:
        raise DataError(f"Unknown task {key!r}; choose {', '.join(TASKS)}.")
    return TASKS[k]


__all__ = ["TASKS", "Task", "task"]
