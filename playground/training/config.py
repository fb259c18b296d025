"""A run's settings: :class:`RunConfig`, the only place training defaults live (a task's own
starting numbers, ``Task.run_defaults``, are applied by :meth:`RunConfig.for_task`). The page's
widgets and the CLI's arguments both start from ``RunConfig.for_task(task)``, and these numbers
learn: ``python -m playground train --data shapes --epochs 3`` reaches >= 90% validation
accuracy (tests/unit/test_cli.py), the page's 5 epochs ~98%."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..data import AUGMENT_DEFAULTS, data_config
from ..tasks import TASKS
from .optim import OPTIMIZERS, SCHEDULES
from .speed import COMPILE_CHOICES

# A torchvision model's input side when the config names none: 64 px keeps a ResNet-18 epoch on
# a laptop CPU in minutes; ImageNet's 224 is ~12x the work for small class-folder datasets.
TORCHVISION_IMAGE_SIZE = 64


class TrainingError(RuntimeError):
    """A run that cannot go on; the message is meant for the learner."""


@dataclass
class RunConfig:
    """Every setting of a run; JSON-able (``to_dict`` / ``from_dict``), saved as config.json.

    ``data`` goes to :func:`playground.data.load_data`. ``model`` is one of
    ``{"preset": "shapes_cnn"}``, ``{"spec": {...}}`` (a layer spec, e.g. the inspector's) or
    ``{"code": "<pasted PyTorch source>", "class_name": "SimpleCNN", "input_shape": [1, 28, 28]}``
    (built by :func:`playground.code.build_for_data`) or
    ``{"torchvision": "resnet18", "pretrained": true, "freeze": true, "unfreeze_epoch": 3,
    "image_size": 64}``. Specs are fitted to the data with :func:`playground.networks.adapt`.
    """
    name: str = ""
    # what the network learns (playground.tasks.TASKS): one label per image, or a class per pixel
    task: str = "classify"
    # the task's loss (TASKS[task].losses; "" = the task's default) and its options (detection:
    # the loss's weights), so the page's and the CLI's loss knobs reach the loop the same way
    loss: str = ""
    loss_options: dict[str, Any] = field(default_factory=dict)
    # The offline generated shapes with the catalogue's defaults (8,000 training images).
    data: dict[str, Any] = field(default_factory=lambda: data_config("shapes"))
    # The course-style CNN the shipped default model is trained from.
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "shapes_cnn"})
    # AdamW, OneCycle to a 3e-3 peak, batches of 32 (250 steps per epoch of 8,000 shapes), measured
    # on the CPU for seeds 0-4: 3 epochs reach 89.8-94.9% (seed 0: 92.7%), 5 epochs 98.0-98.3%;
    # with AdamW's fused kernel (optim.py), seed 0: 93.0% in 3 epochs, 98.0% in 5.
    # Batches of 128 give a quarter of the steps: 3 epochs ended at 48-50% (peak 1e-2 or 3e-3),
    # 5 epochs at 94%; peaks of 2e-2 and more stalled at chance.
    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9         # SGD only: the usual heavy-ball value
    # Pretrained torchvision models: the backbone learns at lr x this, the new head at lr (two
    # parameter groups). Pretrained features need small corrections, not a new start: the
    # course's "lower learning rate for the backbone" after unfreezing, by the usual factor of 10.
    backbone_lr_scale: float = 0.1
    weight_decay: float = 5e-4    # a light regulariser; the shapes do not overfit in 5 epochs
    batch_size: int = 32
    epochs: int = 5               # ~98% on the shapes; a minute on a laptop CPU
    label_smoothing: float = 0.0  # off: the coach reads the plain cross-entropy against ln(classes)
    grad_clip: float = 0.0        # off: the default learning rate does not blow up
    seed: int = 0
    schedule: str = "onecycle"    # warm-up then anneal: the fastest to learn in a few epochs
    step_size: int = 2            # StepLR: epochs between drops
    gamma: float = 0.5            # StepLR / ReduceLROnPlateau factor
    patience: int = 1             # ReduceLROnPlateau: epochs without improvement before a drop
    warmup_epochs: float = 1.0    # linear warm-up + cosine
    augment: dict[str, Any] = field(default_factory=lambda: dict(AUGMENT_DEFAULTS))
    device: str = "auto"          # CUDA, then Apple MPS, else CPU
    amp: bool = True              # mixed precision (CUDA only)
    channels_last: bool = True    # memory format: faster convolutions on CUDA and CPU (~1.4x here)
    # the training step in CUDA graphs (torch.compile): "auto" = on for CUDA runs long enough to
    # pay for the compile (speed.py: 2.2x a tuned eager loop on an H100, ~10 s of compile)
    compile: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: copy.deepcopy(v) for k, v in d.items() if k in names})

    @classmethod
    def for_task(cls, task: str = "classify", **overrides: Any) -> "RunConfig":
        """The defaults of a ``task`` run, which the CLI and the page's form both start from:
        RunConfig's own, the task's data (its catalogue defaults) and network, then the task's
        ``run_defaults`` (a "data" entry updates the data config), then ``overrides`` (fields;
        None values skipped). ``for_task("classify") == RunConfig()``."""
        if task not in TASKS:
            raise TrainingError(f"Unknown task {task!r}; choose {', '.join(TASKS)}.")
        t = TASKS[task]
        own = copy.deepcopy(t.run_defaults)
        fields = {"task": task, "data": data_config(t.default_data, **own.pop("data", {})),
                  "model": t.default_model(), **own}
        return cls(**{**fields, **{k: v for k, v in overrides.items() if v is not None}})

    def validate(self) -> None:
        if self.task not in TASKS:
            raise TrainingError(f"Unknown task {self.task!r}; choose {', '.join(TASKS)}.")
        if not TASKS[self.task].augments and any(self.augment.get(k) for k in AUGMENT_DEFAULTS):
            raise TrainingError(f"A {self.task} run takes no augmentation yet (crop, flips, rotation, "
                                "jitter and erasing move or change the image but not its mask): turn them off.")
        if self.loss and self.loss not in TASKS[self.task].losses:
            raise TrainingError(f"A {self.task} run has no loss {self.loss!r}; choose "
                                f"{', '.join(TASKS[self.task].losses)}.")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"Unknown optimizer {self.optimizer!r}; choose {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"Unknown schedule {self.schedule!r}; choose {', '.join(SCHEDULES)}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError("The learning rate must be a positive number.")
        if self.batch_size < 1 or self.epochs < 1:
            raise TrainingError("Batch size and epochs must be at least 1.")
        if not 0 <= self.label_smoothing < 1:
            raise TrainingError("Label smoothing must be between 0 and 1.")
        if not 0 < self.backbone_lr_scale <= 1:
            raise TrainingError("The backbone's learning-rate scale must be above 0 and at most 1.")
        if self.compile not in COMPILE_CHOICES:
            raise TrainingError(f"Unknown compiled mode {self.compile!r}; choose {', '.join(COMPILE_CHOICES)}.")

    def label(self) -> str:
        m = self.model
        model = m.get("preset") or m.get("torchvision") or (m.get("spec") or {}).get("name") \
            or m.get("class_name") or ("unet" if "unet" in m else "vit-tiny" if "vit" in m else "grid" if "grid" in m else "network")
        return f"{model} · {self.data.get('name', 'data')} · {self.optimizer} lr {self.lr:g}"
