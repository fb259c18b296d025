"""Optimizers and learning-rate schedules: each a registry entry with the label the page shows,
built from torch's own classes. The page, the CLI and the tests read these registries by key.

Transfer learning gets two parameter groups (:func:`param_groups`): the new head at the run's
learning rate, the pretrained backbone at ``lr * backbone_lr_scale``. Every schedule scales each
group's own rate (OneCycle is given one peak per group), so the ratio holds all run long."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

import torch
from torch import nn

from ..networks import zoo

if TYPE_CHECKING:
    from .config import RunConfig

lrs = torch.optim.lr_scheduler


@dataclass(frozen=True)
class OptimizerEntry:
    label: str
    build: Callable[[list[Any], "RunConfig"], torch.optim.Optimizer]   # parameters or groups


@dataclass(frozen=True)
class ScheduleEntry:
    label: str
    when: str        # when the scheduler steps: "step", "epoch" or "plateau" (on the val loss)
    build: Callable[[torch.optim.Optimizer, "RunConfig", int], Any]   # (opt, cfg, steps/epoch)


def _fused(groups: list[Any]) -> bool | None:
    """Adam's fused kernel (one call a step for all parameters instead of ~10 small ops per
    tensor) where torch has it: every parameter on the CPU or CUDA. A 5k-parameter CNN on the
    CPU: 2.6 -> 2.2 ms a training step; None elsewhere (torch's own choice)."""
    params = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    ok = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return True if ok else None


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry("SGD with momentum", lambda p, c: torch.optim.SGD(
        p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.momentum > 0)),
    "adam": OptimizerEntry("Adam", lambda p, c: torch.optim.Adam(p, lr=c.lr, weight_decay=c.weight_decay,
                                                                 fused=_fused(p))),
    "adamw": OptimizerEntry("AdamW", lambda p, c: torch.optim.AdamW(p, lr=c.lr, weight_decay=c.weight_decay,
                                                                    fused=_fused(p))),
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
                              lambda o, c, spe: lrs.OneCycleLR(o, max_lr=[g["lr"] for g in o.param_groups],
                                                               total_steps=_total(c, spe) + 1)),
    "plateau": ScheduleEntry("ReduceLROnPlateau (on validation loss)", "plateau",
                             lambda o, c, spe: lrs.ReduceLROnPlateau(o, mode="min", factor=c.gamma,
                                                                     patience=c.patience)),
    "warmup_cosine": ScheduleEntry("linear warm-up + cosine", "step", _warmup_cosine),
}


def param_groups(cfg: "RunConfig", model: nn.Module) -> list[dict[str, Any]]:
    """The optimizer's parameter groups for ``model``. A pretrained torchvision model: the head
    first (``"head"``, at ``cfg.lr``), then the backbone (``"backbone"``, at ``cfg.lr *
    cfg.backbone_lr_scale``); anything else: one group (``"all"``). Frozen parameters are in
    their group already (they have no gradient, so the optimizer skips them): unfreezing needs
    no new group."""
    m = cfg.model
    params = list(model.named_parameters())
    if not (m.get("torchvision") and m.get("pretrained")) or cfg.backbone_lr_scale == 1:
        return [{"params": [p for _, p in params], "name": "all"}]
    head = zoo.head_path(model) + "."
    return [{"params": [p for n, p in params if n.startswith(head)], "name": "head"},
            {"params": [p for n, p in params if not n.startswith(head)], "name": "backbone",
             "lr": cfg.lr * cfg.backbone_lr_scale}]


def make_optimizer(cfg: "RunConfig", params: nn.Module | Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The config's optimizer over a model (its :func:`param_groups`) or plain parameters (one
    group). ``param_groups[0]`` runs at ``cfg.lr``: the rate the curves show."""
    groups = param_groups(cfg, params) if isinstance(params, nn.Module) else list(params)
    return OPTIMIZERS[cfg.optimizer].build(groups, cfg)


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
