"""What the Training page keeps in its URL (ui.links): the view, the run on Watch, the runs on
Compare, and the new-run form's main fields: the task and, for a segment run, its data source,
the U-Net's knobs and the loss; for a detect run, its data source, the grid's width, the box loss
and the loss's weights. Choices come from the registries and the form."""
from __future__ import annotations

from playground import runs, training
from playground.networks.grid import DEFAULTS as GRID, WIDTH_RANGE as GRID_WIDTHS
from playground.networks.unet import DEPTH_RANGE, WIDTH_RANGE
from playground.tasks import TASKS
from playground.tasks.detect import LOSS_WEIGHTS
from ui import detect_form, run_form, segment_form
from ui.links import Param

PAGE = "train"


def link_params(views: list[str]) -> list[Param]:
    d, t = run_form.D, run_form.task_defaults    # t(): the picked task's numbers
    return [Param("view", "train_view", choices=views),
            Param("run", "train_run", choices=lambda: [r.id for r in runs.list_runs()]),
            Param("compare", "train_compare", "list",
                  choices=lambda: [r.id for r in runs.list_runs() if r.summary]),
            Param("data", "train_data", choices=run_form.PAGE_DATA, default=d.data["name"]),
            Param("opt", "train_opt", choices=list(training.OPTIMIZERS), default=lambda: t().optimizer),
            Param("lr", "train_lr", choices=run_form.LRS, default=lambda: t().lr, text=lambda v: f"{v:g}"),
            Param("batch", "train_bs", choices=run_form.BATCHES, default=lambda: t().batch_size),
            Param("schedule", "train_sched", choices=list(training.SCHEDULES), default=lambda: t().schedule),
            Param("task", "train_task", choices=list(TASKS), default=d.task),
            Param("seg_data", "train_seg_data", choices=list(segment_form.SOURCES), default="shapes"),
            Param("unet_width", "train_seg_width", "int", segment_form.UNET_START["width"],
                  lo=WIDTH_RANGE[0], hi=WIDTH_RANGE[1]),
            Param("unet_depth", "train_seg_depth", "int", segment_form.UNET_START["depth"],
                  lo=DEPTH_RANGE[0], hi=DEPTH_RANGE[1]),
            Param("skips", "train_seg_skips", "bool", segment_form.UNET_START["skips"]),
            Param("context", "train_seg_context", "bool", segment_form.UNET_START["context"]),
            Param("loss", "train_seg_loss", choices=list(TASKS["segment"].losses),
                  default=TASKS["segment"].default_loss),
            Param("det_data", "train_det_data", choices=list(detect_form.SOURCES), default="scenes"),
            Param("grid_width", "train_det_width", "int", GRID["width"], lo=GRID_WIDTHS[0], hi=GRID_WIDTHS[1]),
            Param("box_loss", "train_det_loss", choices=list(TASKS["detect"].losses),
                  default=TASKS["detect"].default_loss),
            *(Param(k, f"train_det_{k}", "float", v, lo=0.0, hi=detect_form.WEIGHT_MAX)
              for k, v in LOSS_WEIGHTS.items())]
