"""What the Training page keeps in its URL (ui.links): the view, the run on Watch, the runs on
Compare, and the new-run form's main fields: the task and, for a segment run, its data source,
the U-Net's knobs and the loss. Choices come from the registries and the form."""
from __future__ import annotations

from playground import runs, training
from playground.networks.unet import DEFAULTS as UNET, DEPTH_RANGE, WIDTH_RANGE
from playground.tasks import TASKS
from ui import run_form, segment_form
from ui.links import Param

PAGE = "train"


def link_params(views: list[str]) -> list[Param]:
    d = run_form.D
    return [Param("view", "train_view", choices=views),
            Param("run", "train_run", choices=lambda: [r.id for r in runs.list_runs()]),
            Param("compare", "train_compare", "list",
                  choices=lambda: [r.id for r in runs.list_runs() if r.summary]),
            Param("data", "train_data", choices=run_form.PAGE_DATA, default=d.data["name"]),
            Param("opt", "train_opt", choices=list(training.OPTIMIZERS), default=d.optimizer),
            Param("lr", "train_lr", choices=run_form.LRS, default=d.lr, text=lambda v: f"{v:g}"),
            Param("batch", "train_bs", choices=run_form.BATCHES, default=d.batch_size),
            Param("schedule", "train_sched", choices=list(training.SCHEDULES), default=d.schedule),
            Param("task", "train_task", choices=list(TASKS), default=d.task),
            Param("seg_data", "train_seg_data", choices=list(segment_form.SOURCES), default="shapes"),
            Param("unet_width", "train_seg_width", "int", UNET["width"], lo=WIDTH_RANGE[0], hi=WIDTH_RANGE[1]),
            Param("unet_depth", "train_seg_depth", "int", UNET["depth"], lo=DEPTH_RANGE[0], hi=DEPTH_RANGE[1]),
            Param("skips", "train_seg_skips", "bool", UNET["skips"]),
            Param("loss", "train_seg_loss", choices=list(TASKS["segment"].losses),
                  default=TASKS["segment"].default_loss)]
