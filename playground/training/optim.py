"""Optimizers and learning-rate schedules: each a registry entry with the label the page shows,
built from torch's own classes. The page, the CLI and the tests read these registries by key."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

import torch
from torch import nn

if TYPE_CHECKING:
    from .config import RunConfig

lrs = torch.optim.lr_scheduler


@dataclass(frozen=True)
class OptimizerEntry:
    label: str
    build: Callable[[list[nn.Parameter], "RunConfig"], torch.optim.Optimizer]


@dataclass(frozen=True)
class ScheduleEntry:
    label: str
    when: str        # when the scheduler steps: "step", "epoch" or "plateau" (on the val loss)
    build: Callable[[torch.optim.Optimizer, "RunConfig", int], Any]   # (opt, cfg, steps/epoch)


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry("SGD with momentum", lambda p, c: torch.optim.SGD(
        p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.momentum > 0)),
    "adam": OptimizerEntry("Adam", lambda p, c: torch.optim.Adam(p, lr=c.lr, weight_decay=c.weight_decay)),
    "adamw": OptimizerEntry("AdamW", lambda p, c: torch.optim.AdamW(p, lr=c.lr, weight_decay=c.weight_decay)),
}


def _total(cfg: "RunConfig", spe: int) -> int:
    return max(1, cfg.epochs * spe)


def _warmup_cosine(opt: torch.optim.Optimizer, cfg: "RunConfig", spe: int):
    total = _total(cfg, spe)
    warm = min(total - 1, max(1, round(cfg.warmup_epochs * spe)))
    if warm < 1:   # a one-step run has no room to warm up
        return lrs.CosineAnnealingLR(opt, T_max=total)
    return lrs.SequentialLR(opt, [lrs.LinearLR(opt, start_factor=0.01, total_iters=warm),
                                  lrs.CosineAnnealingLR(opt, T_max=max(1, total - warm))],
                            milestones=[warm])


SCHEDULES: dict[str, ScheduleEntry] = {
    "none": ScheduleEntry("constant", "step", lambda o, c, spe: None),
    "step": ScheduleEntry("StepLR (x gamma every few epochs)", "epoch",
                          lambda o, c, spe: lrs.StepLR(o, step_size=max(1, c.step_size), gamma=c.gamma)),
    "cosine": ScheduleEntry("cosine annealing", "step",
                            lambda o, c, spe: lrs.CosineAnnealingLR(o, T_max=_total(c, spe))),
    # one step more than the run takes: OneCycleLR raises when stepped past its total
    "onecycle": ScheduleEntry("OneCycle", "step",
                              lambda o, c, spe: lrs.OneCycleLR(o, max_lr=c.lr, total_steps=_total(c, spe) + 1)),
    "plateau": ScheduleEntry("ReduceLROnPlateau (on validation loss)", "plateau",
                             lambda o, c, spe: lrs.ReduceLROnPlateau(o, mode="min", factor=c.gamma,
                                                                     patience=c.patience)),
    "warmup_cosine": ScheduleEntry("linear warm-up + cosine", "step", _warmup_cosine),
}


def make_optimizer(cfg: "RunConfig", params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    # All parameters go in: frozen ones have no gradient and are skipped, so unfreezing later
    # needs no new parameter group.
    return OPTIMIZERS[cfg.optimizer].build(list(params), cfg)


def make_scheduler(cfg: "RunConfig", opt: torch.optim.Optimizer, steps_per_epoch: int):
    """(scheduler or None, when it steps: "step", "epoch" or "plateau")."""
    entry = SCHEDULES[cfg.schedule]
    return entry.build(opt, cfg, steps_per_epoch), entry.when


def lr_schedule(cfg: "RunConfig", steps_per_epoch: int) -> list[float]:
    """The learning rate at every step of a run, from torch's own schedulers on a dummy
    parameter (ReduceLROnPlateau depends on the validation loss: it is shown flat)."""
    c = copy.deepcopy(cfg)
    opt = make_optimizer(c, [nn.Parameter(torch.zeros(1))])
    sched, when = make_scheduler(c, opt, steps_per_epoch)
    out = []
    for step in range(c.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None and when == "step":
            sched.step()
        elif sched is not None and when == "epoch" and (step + 1) % steps_per_epoch == 0:
            sched.step()
    return out
