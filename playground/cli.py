"""``python -m playground train``: the app's training, headless (a GPU box, a script, CI).

Writes the same run folder as the app (so the run shows up there, live while it trains),
prints progress to stderr and ends with one JSON line on stdout::

    {"run_id": ..., "run_dir": ..., "status": "finished", "val_acc": 0.97, "val_loss": 0.1,
     "epochs": 5, "seconds": 42.0, "images_per_second": 1834.2, ...}

Exit status: 0 finished, 1 failed, 130 stopped (Ctrl-C stops at the next step and keeps the
checkpoints; ``--resume RUN_ID`` continues it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import data as data_mod, networks, runs, training
from .training import RunConfig

DATA_CHOICES = ("shapes", "mnist", "fashion-mnist", "cifar10")


def _data_cfg(a: argparse.Namespace) -> dict[str, Any]:
    d = a.data
    if d in DATA_CHOICES:
        cfg: dict[str, Any] = {"name": d}
        if d == "shapes":
            cfg.update(n_train=a.n_train or 8000, n_val=a.n_val or 2000, size=a.image_size or 32,
                       seed=a.seed, texture=a.texture)
            if a.shapes:
                cfg["classes"] = [c.strip() for c in a.shapes.split(",") if c.strip()]
        else:
            if a.data_root:
                cfg["root"] = a.data_root
            cfg["download"] = not a.no_download
    else:
        p = Path(d)
        if not p.exists():
            raise SystemExit(f"--data {d!r}: not one of {', '.join(DATA_CHOICES)} and no such file "
                             "or folder.")
        cfg = {"name": "folder" if p.is_dir() else "zip", "path": str(p.resolve()),
               "size": a.image_size or 64, "val_fraction": a.val_fraction, "seed": a.seed}
    if a.limit_train:
        cfg["limit_train"] = a.limit_train
    if a.limit_val:
        cfg["limit_val"] = a.limit_val
    return cfg


def _model_cfg(a: argparse.Namespace) -> dict[str, Any]:
    m = a.model
    if m in networks.PRESETS:
        return {"preset": m}
    if m.endswith(".json") or Path(m).is_file():
        try:
            spec = json.loads(Path(m).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"--model {m}: cannot read the spec file ({e}).") from e
        return {"spec": spec}
    if m in networks.TORCHVISION_MODELS or m.startswith(("resnet", "vgg", "mobilenet", "efficientnet",
                                                          "convnext", "densenet", "regnet")):
        cfg: dict[str, Any] = {"torchvision": m, "pretrained": a.pretrained, "freeze": a.freeze,
                               "image_size": a.image_size or 64}
        if a.unfreeze_epoch is not None:
            cfg["unfreeze_epoch"] = a.unfreeze_epoch
        return cfg
    raise SystemExit(f"--model {m!r}: not a preset ({', '.join(networks.PRESETS)}), a torchvision "
                     "model name, or a spec .json file.")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m playground", description="CNN Playground, headless.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network; ends by printing one JSON line")
    t.add_argument("--data", default="shapes",
                   help="shapes | mnist | fashion-mnist | cifar10 | a .zip or folder of class folders")
    t.add_argument("--data-root", help="folder with torchvision datasets in torchvision's layout")
    t.add_argument("--no-download", action="store_true", help="never try to download datasets")
    t.add_argument("--n-train", type=int, help="shapes: training images (default 8000)")
    t.add_argument("--n-val", type=int, help="shapes: validation images (default 2000)")
    t.add_argument("--shapes", help="shapes: a comma-separated subset of "
                   f"{','.join(data_mod.SHAPE_CLASSES)}")
    t.add_argument("--texture", type=float, default=1.0,
                   help="shapes: background texture and noise, 0 (plain, easy) to 1 (default)")
    t.add_argument("--limit-train", type=int, help="use only the first N training images")
    t.add_argument("--limit-val", type=int, help="use only the first N validation images")
    t.add_argument("--image-size", type=int, help="shapes / zip image side; torchvision input side")
    t.add_argument("--val-fraction", type=float, default=0.2, help="zip/folder: share for validation")
    t.add_argument("--model", default="shapes_cnn",
                   help="a preset name, a torchvision model name (resnet18 ...) or a spec .json file")
    t.add_argument("--pretrained", action="store_true", help="torchvision: ImageNet weights")
    t.add_argument("--freeze", action="store_true", help="torchvision: train only the new head")
    t.add_argument("--unfreeze-epoch", type=int, help="torchvision: unfreeze the backbone at this epoch")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--optimizer", choices=list(training.OPTIMIZERS), default="adamw")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=5e-4)
    t.add_argument("--schedule", choices=list(training.SCHEDULES), default="onecycle")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--grad-clip", type=float, default=0.0)
    t.add_argument("--crop", type=int, default=0, help="augment: random crop with this padding")
    t.add_argument("--hflip", action="store_true", help="augment: horizontal flips")
    t.add_argument("--rotate", type=float, default=0.0, help="augment: rotation range in degrees")
    t.add_argument("--jitter", type=float, default=0.0, help="augment: colour jitter strength")
    t.add_argument("--erase", type=float, default=0.0, help="augment: random erasing probability")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 | mps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument("--name", default="", help="the run's name in the app")
    t.add_argument("--runs-dir", help="runs folder (default $PLAYGROUND_RUNS_DIR or ./runs)")
    t.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted or stopped run")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    r = sub.add_parser("runs", help="list the runs in the runs folder as JSON lines")
    r.add_argument("--runs-dir")
    return ap


def _progress_line(run: training.Run) -> str:
    s = run.snapshot(since_step=max(0, len(run.steps) - 1))
    p = s["progress"]
    loss = s["steps"][-1]["loss"] if s["steps"] else float("nan")
    ips = p.get("images_per_second") or 0
    eta = p.get("eta")
    last = s["epochs"][-1] if s["epochs"] else None
    val = f"  val acc {last['val_acc']:.1%}" if last else ""
    return (f"[{s['status']}] epoch {p.get('epoch', 0):.2f}/{p.get('epochs')}  step {p.get('step')}/"
            f"{p.get('total_steps')}  loss {loss:.4f}{val}  {ips:,.0f} img/s"
            + (f"  ETA {eta:,.0f} s" if eta else "") + (f"  ({s['message']})" if s['status'] != 'running' or s['message'] != 'training' else ""))


def cmd_train(a: argparse.Namespace) -> int:
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    root = Path(a.runs_dir) if a.runs_dir else runs.runs_dir()
    reg = runs.Registry(root, max_concurrent=1)
    t0 = time.time()
    try:
        if a.resume:
            rid = reg.resume(a.resume)
        else:
            cfg = RunConfig(name=a.name, data=_data_cfg(a), model=_model_cfg(a), optimizer=a.optimizer,
                            lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay,
                            batch_size=a.batch_size, epochs=a.epochs, label_smoothing=a.label_smoothing,
                            grad_clip=a.grad_clip, seed=a.seed, schedule=a.schedule,
                            augment={"crop": a.crop, "hflip": a.hflip, "rotate": a.rotate,
                                     "jitter": a.jitter, "erase": a.erase}, device=a.device)
            rid = reg.start(cfg)
    except training.TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run = reg.get(rid)
    assert run is not None
    if not a.quiet:
        print(f"run {rid} in {run.dir}", file=sys.stderr)
    try:
        while not run.done.wait(1.0):
            if not a.quiet:
                print(_progress_line(run), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("stopping at the next step ...", file=sys.stderr)
        reg.stop(rid)
        run.done.wait()
    snap = run.snapshot(since_step=len(run.steps))
    last = snap["epochs"][-1] if snap["epochs"] else {}
    ips = [e["images_per_second"] for e in snap["epochs"]]
    out = {"run_id": rid, "run_dir": str(run.dir), "status": snap["status"],
           "val_acc": last.get("val_acc"), "val_loss": last.get("val_loss"),
           "train_loss": last.get("train_loss"), "epochs": last.get("epoch", 0),
           "seconds": round(time.time() - t0, 2),
           "images_per_second": round(sum(ips) / len(ips), 1) if ips else None,
           "device": snap["info"].get("device"), "error": snap["error"] or None,
           "best_checkpoint": str(run.dir / "best.pt") if (run.dir / "best.pt").exists() else None}
    if not a.quiet:
        for e in snap["epochs"]:
            print(f"epoch {e['epoch']}: train loss {e['train_loss']:.4f}  val loss {e['val_loss']:.4f}  "
                  f"val acc {e['val_acc']:.2%}  {e['images_per_second']:,.0f} img/s", file=sys.stderr)
        if snap["error"]:
            print(f"error: {snap['error']}", file=sys.stderr)
    print(json.dumps(out), flush=True)
    return {"finished": 0, "stopped": 130}.get(snap["status"], 1)


def cmd_runs(a: argparse.Namespace) -> int:
    for r in runs.list_runs(a.runs_dir):
        print(json.dumps({"id": r.id, "name": r.name, "status": r.status, "dir": str(r.dir),
                          **{k: v for k, v in r.summary.items() if k in ("val_acc", "val_loss", "epochs")}}))
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.command == "train":
        return cmd_train(a)
    return cmd_runs(a)
