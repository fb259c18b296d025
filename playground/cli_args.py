"""The ``train`` command's arguments: how each maps onto a :class:`~playground.training.RunConfig`
(every default is ``RunConfig.for_task(task)``'s, the data's the dataset catalogue's with the
task's own numbers) and the parser's groups. The training numbers (epochs, lr ...) default to
None, resolved against the task's RunConfig, so a task's own defaults are not overwritten."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from . import networks
from .networks import unet
from .data import DATASETS, SHAPE_CLASSES, Dataset, data_config, propose_model, shapes_val_count
from .tasks import TASKS
from .tasks.detect import LOSS_WEIGHTS
from .training import OPTIMIZERS, SCHEDULES, TORCHVISION_IMAGE_SIZE, RunConfig
from .training.speed import COMPILE_HELP, COMPILE_MODES

D = RunConfig()
NAMED_DATA = [k for k, e in DATASETS.items() if e.kind in ("generated", "torchvision")]


def data_cfg(a: argparse.Namespace) -> dict[str, Any]:
    a.task = a.task or D.task                           # --task left out: classify
    a.data = a.data or TASKS[a.task].default_data       # none named: the task's own (detect: scenes)
    if a.data in NAMED_DATA:
        task_data = RunConfig.for_task(a.task).data     # the task's own numbers (segment: 3,000 images)
        start = {k: v for k, v in task_data.items() if k != "name"} if task_data["name"] == a.data else {}
        if DATASETS[a.data].kind == "torchvision":
            return data_config(a.data, root=a.data_root, download=not a.no_download,
                               limit_train=a.limit_train, limit_val=a.limit_val)
        n_val = a.n_val or (shapes_val_count(a.n_train) if a.n_train else None)
        classes = [c.strip() for c in a.shapes.split(",") if c.strip()] if a.shapes else None
        asked = dict(n_train=a.n_train, n_val=n_val, size=a.image_size, seed=a.seed, texture=a.texture,
                     classes=classes, limit_train=a.limit_train, limit_val=a.limit_val)
        return data_config(a.data, **{**start, **{k: v for k, v in asked.items() if v is not None}})
    p = Path(a.data)
    if not p.exists():
        raise SystemExit(f"--data {a.data!r}: not one of {', '.join(NAMED_DATA)} and no such file "
                         "or folder.")
    return data_config("folder" if p.is_dir() else "zip", path=str(p.resolve()), size=a.image_size,
                       val_fraction=a.val_fraction, seed=a.seed, limit_train=a.limit_train,
                       limit_val=a.limit_val)


def model_cfg(a: argparse.Namespace, data: dict[str, Any], ds: Dataset | None = None) -> dict[str, Any]:
    m = a.model
    if a.unet and (a.task != "segment" or m is not None):
        raise SystemExit("--unet sets the knobs of a segment run's U-Net (--task segment, no --model).")
    if m is None and a.task == "segment":   # the U-Net, with the knobs given over the task's own
        base = TASKS[a.task].default_model()
        try:
            return {"unet": {**base["unet"], **unet.parse_pairs(a.unet)}}
        except unet.UNetError as e:
            raise SystemExit(str(e)) from e
    if m is None and a.task != D.task:   # another task: its own network (detect: the grid detector)
        return TASKS[a.task].default_model()
    if m is None:   # your own data: the network proposed for it (the page proposes the same)
        return propose_model(ds.input_shape, ds.num_classes) if ds is not None else dict(D.model)
    if m in networks.PRESETS:
        return {"preset": m}
    if m == networks.vit.VIT_MODEL:     # the tiny ViT; --vit KEY=VALUE sets its knobs
        try:
            return {"vit": networks.vit.parse_pairs(a.vit)}
        except networks.SpecError as e:
            raise SystemExit(f"--model {m}: {e}") from e
    if m.endswith(".json") or Path(m).is_file():
        try:
            return {"spec": json.loads(Path(m).read_text())}
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"--model {m}: cannot read the spec file ({e}).") from e
    if networks.zoo.exists(m):
        cfg: dict[str, Any] = {"torchvision": m, "pretrained": a.pretrained, "freeze": a.freeze,
                               "image_size": a.image_size or TORCHVISION_IMAGE_SIZE}
        if a.unfreeze_epoch is not None:
            cfg["unfreeze_epoch"] = a.unfreeze_epoch
        return cfg
    raise SystemExit(f"--model {m!r}: not a preset ({', '.join(networks.PRESETS)}), "
                     f"{networks.vit.VIT_MODEL}, a torchvision model name, or a spec .json file.")


def own_data(data: dict[str, Any], progress=None, task: str = D.task) -> Dataset | None:
    """A zip's or folder's Dataset (as ``task`` reads it), loaded here once: the run trains on it
    (not loading it again) and its input shape picks the proposed network. None for the named
    datasets (the run loads them)."""
    return TASKS[task].load_data(data, progress) if DATASETS[data["name"]].kind in ("zip", "folder") else None


def run_config(a: argparse.Namespace, ds: Dataset | None = None) -> RunConfig:
    """The RunConfig of ``train``'s arguments (no arguments: ``RunConfig.for_task(task)``, for
    classify ``RunConfig()`` itself; ``--config``: that file's); ``ds``: the zip's or folder's
    data, loaded (:func:`own_data`)."""
    if a.config:
        try:
            saved = json.loads(Path(a.config).read_text())
            return RunConfig.from_dict(saved.get("config", saved))   # a config.json, or RunConfig's dict
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise SystemExit(f"--config {a.config}: not a run's settings ({e}).") from e
    data = data_cfg(a)
    if ds is None:
        ds = own_data(data, task=a.task)
    model = model_cfg(a, data, ds)
    # the tiny ViT at the CNN's 3e-3 stays at chance (13% after 5 epochs): its own peak, unless given
    lr = a.lr if a.lr is not None or "vit" not in model else networks.vit.VIT_LR
    return RunConfig.for_task(a.task, name=a.name, loss=a.loss, loss_options=loss_weights(a.loss_weight),
                     data=data, model=model,
                     optimizer=a.optimizer,
                     lr=lr, momentum=a.momentum, weight_decay=a.weight_decay,
                     batch_size=a.batch_size, epochs=a.epochs, label_smoothing=a.label_smoothing,
                     grad_clip=a.grad_clip, backbone_lr_scale=a.backbone_lr_scale, seed=a.seed,
                     schedule=a.schedule,
                     augment={"crop": a.crop, "hflip": a.hflip, "rotate": a.rotate,
                              "jitter": a.jitter, "erase": a.erase}, device=a.device, compile=a.compile)


def loss_weights(pairs: list[str] | None) -> dict[str, float]:
    """``--loss-weight NAME=VALUE`` (repeatable) -> RunConfig.loss_options; the loss checks the names."""
    out = {}
    for p in pairs or []:
        name, eq, value = p.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"--loss-weight {p!r}: give NAME=NUMBER, e.g. lambda_coord=5.") from None
        if not eq:
            raise SystemExit(f"--loss-weight {p!r}: give NAME=NUMBER, e.g. lambda_coord=5.")
        if name.strip() not in LOSS_WEIGHTS:
            raise SystemExit(f"--loss-weight {p!r}: the detection loss's weights are "
                             f"{', '.join(LOSS_WEIGHTS)}.")
    return out


def add_data_args(t: argparse.ArgumentParser) -> None:
    shapes, files = DATASETS["shapes"].defaults, DATASETS["zip"].defaults
    t.add_argument("--data", default=None,
                   help=f"{' | '.join(NAMED_DATA)} | a .zip or folder of class folders (default: the "
                        "task's, " + ", ".join(f"{k}: {v.default_data}" for k, v in TASKS.items()) + ")")
    t.add_argument("--data-root", help="folder with torchvision datasets in torchvision's layout")
    t.add_argument("--no-download", action="store_true", help="never try to download datasets")
    own = [f"{k}: {c.data['n_train']:,}" for k, c in ((k, RunConfig.for_task(k)) for k in TASKS)
           if c.data.get("n_train", shapes["n_train"]) != shapes["n_train"]]      # segment: 3,000
    t.add_argument("--n-train", type=int, help=f"shapes: training images (default {shapes['n_train']:,}"
                   + (f"; {', '.join(own)})" if own else ")"))
    t.add_argument("--n-val", type=int, help="shapes: validation images (default a quarter of "
                   f"--n-train, at least 500: {shapes['n_val']:,})")
    t.add_argument("--shapes", help=f"shapes: a comma-separated subset of {','.join(SHAPE_CLASSES)}")
    t.add_argument("--texture", type=float, help="shapes: background texture and noise, 0 (plain, "
                   f"easy) to 1 (default {shapes['texture']:g})")
    t.add_argument("--limit-train", type=int, help="use only the first N training images")
    t.add_argument("--limit-val", type=int, help="use only the first N validation images")
    t.add_argument("--image-size", type=int, help=f"shapes / zip image side (default {shapes['size']} / "
                   f"from the data); torchvision input side (default {TORCHVISION_IMAGE_SIZE})")
    t.add_argument("--val-fraction", type=float,
                   help=f"zip/folder: share for validation (default {files['val_fraction']:g})")


def add_model_args(t: argparse.ArgumentParser) -> None:
    t.add_argument("--task", choices=list(TASKS), default=None, help="; ".join(
        f"{k}: {v.description}" for k, v in TASKS.items()) + f" (default {D.task})")
    t.add_argument("--model", default=None,
                   help=f"a preset name, {networks.vit.VIT_MODEL} (a tiny ViT), a torchvision model name "
                        "(resnet18 ...) or a spec .json file "
                        f"(default {D.model['preset']}; a zip/folder: the network proposed for its data)")
    t.add_argument("--loss", default=D.loss, help="the task's loss: " + "; ".join(
        f"{k}: {', '.join(v.losses)} (default {v.default_loss})" for k, v in TASKS.items()))
    t.add_argument("--vit", action="append", metavar="KEY=VALUE", help=f"{networks.vit.VIT_MODEL}: one "
                   "knob, repeatable: " + "; ".join(f"{k} ({h}, default {networks.vit.VIT_DEFAULTS[k]})"
                                                    for k, h in networks.vit.VIT_HELP.items()))
    t.add_argument("--unet", action="append", metavar="KEY=VALUE", help="segment: one of the U-Net's "
                   "knobs over the task's own, repeatable: " + "; ".join(f"{k} ({h})" for k, h in unet.HELP.items()))
    t.add_argument("--loss-weight", action="append", metavar="NAME=VALUE", help="detect: one of the "
                   "loss's weights, repeatable: " + ", ".join(f"{k} (default {v:g})" for k, v in LOSS_WEIGHTS.items()))
    t.add_argument("--pretrained", action="store_true", help="torchvision: ImageNet weights")
    t.add_argument("--freeze", action="store_true", help="torchvision: train only the new head")
    t.add_argument("--unfreeze-epoch", type=int, help="torchvision: unfreeze the backbone at this epoch")


def task_default(name: str) -> str:
    """A training number's default for ``--help``: RunConfig's, then each task's own where it differs."""
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    own = [f"{k}: {fmt(getattr(RunConfig.for_task(k), name))}" for k in TASKS
           if getattr(RunConfig.for_task(k), name) != getattr(D, name)]
    return f"default {fmt(getattr(D, name))}" + (f" ({', '.join(own)})" if own else "")


# The training numbers: None = the task's RunConfig.for_task value (a task may start from its own)
TASK_NUMBERS = {"epochs": int, "batch_size": int, "lr": float, "momentum": float, "weight_decay": float,
                "label_smoothing": float, "grad_clip": float}


def add_optim_args(t: argparse.ArgumentParser) -> None:
    for name, kind in TASK_NUMBERS.items():
        t.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=task_default(name))
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None, help=task_default("optimizer"))
    t.add_argument("--schedule", choices=list(SCHEDULES), default=None, help=task_default("schedule"))
    t.add_argument("--backbone-lr-scale", type=float, default=None,
                   help="pretrained torchvision: the backbone's learning rate after unfreezing, x lr "
                        f"({task_default('backbone_lr_scale')})")
    aug = D.augment
    t.add_argument("--crop", type=int, default=aug["crop"], help="augment: random crop with this padding")
    t.add_argument("--hflip", action="store_true", default=aug["hflip"], help="augment: horizontal flips")
    t.add_argument("--rotate", type=float, default=aug["rotate"], help="augment: rotation range in degrees")
    t.add_argument("--jitter", type=float, default=aug["jitter"], help="augment: colour jitter strength")
    t.add_argument("--erase", type=float, default=aug["erase"], help="augment: random erasing probability")
    t.add_argument("--device", default=D.device, help="auto | cpu | cuda | cuda:1 | mps")
    t.add_argument("--compile", choices=list(COMPILE_MODES), default=D.compile,
                   help=f"the compiled mode: {'; '.join(COMPILE_MODES.values())}. {COMPILE_HELP}")
    t.add_argument("--seed", type=int, default=D.seed)


__all__ = ["D", "NAMED_DATA", "add_data_args", "loss_weights", "add_model_args", "add_optim_args", "data_cfg",
           "model_cfg", "own_data", "run_config"]
