"""What the Training page keeps in its URL (ui.links): the view, the run on Watch, the runs on
Compare, and the new-run form's main fields. Choices come from the registries and the form."""
from __future__ import annotations

from playground import runs, training
from ui import run_form
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
            Param("schedule", "train_sched", choices=list(training.SCHEDULES), default=d.schedule)]
