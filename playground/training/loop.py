"""The training thread: :func:`train` runs a :class:`~.run.Run` (its live state, its stop event,
its folder on disk, written through :mod:`playground.runs.store`) to its end and never raises: a
failure ends in status "failed" with a message for the learner. The same loop runs under
torchrun: :mod:`.distributed` shards the data, sums the metrics and agrees on a stop, and is a
no-op with one process.

Data is decoded once into uint8 tensors on the training device; each batch is indexed there,
augmented there as whole-batch tensor ops and normalized (:func:`playground.data.to_model_input`).
"""
from __future__ import annotations

import math
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import checkpoints, networks
from ..data import DataError, Dataset, to_model_input
from ..runs import store
from ..tasks import Task, task as task_of
from . import distributed, views
from .config import RunConfig, TrainingError
from .device import gpus_of, pick_device
from .evaluate import confusion_report, logits, loss_and_accuracy
from .metrics import StepRecords, blew_up_message
from .model import ModelBundle, build_model, param_counts
from .optim import make_optimizer, make_scheduler
from .run import Run
from .speed import AUTOCAST_DTYPES, Forward, pick_precision, use_compile


def train(run: Run, *, on_progress: Callable[[Run], None] | None = None) -> Run:
    """Run the training loop to its end (call it in a thread). Never raises: failures end in
    status "failed" with a message for the learner and the detail."""
    loop: _Loop | None = None
    try:
        loop = _Loop.start(run)
        loop.run_epochs(on_progress)
    except TrainingError as e:
        run.fail(str(e))
    except (DataError, networks.SpecError, networks.WeightsUnavailable, checkpoints.CheckpointError) as e:
        run.fail(str(e), traceback.format_exc())
    except store.RunWriteError as e:   # read-only folder, disk full: said in words
        run.fail(f"Training stopped: {e}", traceback.format_exc())
    except torch.OutOfMemoryError as e:  # type: ignore[attr-defined]
        run.fail("Out of memory: use a smaller batch size or image size.", str(e))
    except Exception as e:  # noqa: BLE001 - the thread must always leave a final status
        run.fail(f"Training crashed: {type(e).__name__}: {e}", traceback.format_exc())
    finally:
        if loop is not None and loop.log is not None:
            loop.log.close()
        run.dataset = None   # the images can be GBs; a finished run keeps only its metrics
        run.done.set()
    return run


@dataclass
class _Loop:
    """Everything one run's loop holds: the data and network on the device, the optimizer,
    the metrics log and the counters that resume.pt carries."""
    run: Run
    ds: Dataset
    bundle: ModelBundle
    device: torch.device
    opt: torch.optim.Optimizer
    sched: Any
    when: str
    steps_per_epoch: int
    gen_cpu: torch.Generator            # the batch order; its state is saved in resume.pt
    gen_dev: torch.Generator | None     # augmentation, on the device (MPS has no device generators)
    scaler: torch.amp.GradScaler
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # the task's loss
    task: Task                          # what the network learns (playground.tasks)
    log: store.MetricsLog | distributed.NullLog | None = None
    group: distributed.Group = field(default_factory=distributed.Group)   # torchrun's ranks, or one
    forward: Forward | None = None      # the training step's forward: compiled or eager (speed.py)
    precision: str = "fp32"             # bf16 / fp16 autocast on CUDA (speed.pick_precision)
    records: StepRecords | None = None  # the step lines: read each step, or in batches on CUDA
    epoch: int = 0                      # epochs done
    step: int = 0                       # steps done
    start_step: int = 0                 # steps done when this process took over (resume)
    best_acc: float = -1.0              # the best val_<task's first metric> (accuracy, mIoU)
    elapsed_before: float = 0.0         # seconds trained before a resume
    t0: float = field(default_factory=time.time)
    recent: deque[tuple[float, int]] = field(default_factory=deque)  # (time, images) for images/s
    recent_images: int = 0              # images in ``recent`` after its first entry

    @classmethod
    def start(cls, run: Run) -> "_Loop":
        """Data loaded, network built, both on the device; resumed from resume.pt if asked."""
        cfg = run.config
        cfg.validate()
        run.set_status("running", "loading data")
        group = distributed.current()
        device = group.device(pick_device(cfg.device))
        gen_cpu = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        tk = task_of(cfg.task)
        ds = run.dataset if run.dataset is not None else tk.load_data(
            cfg.data, progress=lambda msg, frac: run.set_status("running", msg))
        if ds.num_classes < 2:
            raise TrainingError("The data has fewer than two classes: nothing to learn.")
        run.set_status("running", "building the network")
        bundle = build_model(cfg, ds)
        bundle.model.to(device)
        if cls.channels_last(cfg, device):
            bundle.model.to(memory_format=torch.channels_last)
        ds = ds.to(device)
        n = ds.train_x.shape[0]   # each rank: its shard (n / world) in batches of batch_size / world
        steps_per_epoch = max(1, n // group.world // group.batch(min(cfg.batch_size, n)))
        opt = make_optimizer(cfg, bundle.model)   # transfer learning: head and backbone groups
        sched, when = make_scheduler(cfg, opt, steps_per_epoch)
        gen_dev = torch.Generator(device=device).manual_seed(cfg.seed + 1 + group.rank) if device.type != "mps" else None
        precision = pick_precision(device.type, cfg.amp, device.type == "cuda"
                                   and torch.cuda.is_bf16_supported(including_emulation=False))
        scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")   # bf16 needs none
        loop = cls(run, ds, bundle, device, opt, sched, when, steps_per_epoch, gen_cpu, gen_dev, scaler,
                   tk.make_loss(cfg.loss or tk.default_loss, label_smoothing=cfg.label_smoothing, **cfg.loss_options), tk, group=group,
                   precision=precision, records=StepRecords(device))
        loop.forward = Forward(group.wrap(bundle.model, device), use_compile(cfg.compile, device.type, steps_per_epoch * cfg.epochs),
                               lambda phase: run.set_status("running", phase))
        loop.publish_info()
        loop.restore()
        return loop

    # -- settings that follow from the config and the device ------------------------------------
    @staticmethod
    def channels_last(cfg: RunConfig, device: torch.device) -> bool:
        # channels-last: faster convolutions on CUDA (tensor cores) and on CPU (oneDNN), ~1.4x here
        return cfg.channels_last and (device.type == "cuda" or device.type == "cpu"
                                      and task_of(cfg.task).channels_last_cpu)

    @property
    def amp(self) -> bool:
        return self.precision != "fp32"

    @property
    def batch_size(self) -> int:
        return self.group.batch(min(self.run.config.batch_size, self.ds.train_x.shape[0]))   # per rank

    def input_args(self) -> dict[str, Any]:
        """Resize / channel-match only where the network's input differs from the data."""
        c, size = self.bundle.input_shape[0], tuple(self.bundle.input_shape[1:])
        return {"size": size if size != tuple(self.ds.input_shape[1:]) else None,
                "channels": c if c != self.ds.input_shape[0] else None}

    def publish_info(self) -> None:
        total, trainable = param_counts(self.bundle.model)
        run, ds, b = self.run, self.ds, self.bundle
        with run.lock:
            run.info = {"task": run.config.task, "device": str(self.device), "params": total, "trainable": trainable,
                        "frozen": total - trainable, "classes": ds.class_names,
                        "input_shape": list(b.input_shape), "n_train": int(ds.train_x.shape[0]),
                        "n_val": int(ds.val_x.shape[0]), "steps_per_epoch": self.steps_per_epoch,
                        "n_test": int(ds.test_x.shape[0]) if ds.has_test else 0,
                        "amp": self.amp, "precision": self.precision, "dataset": ds.name, "mean": list(b.mean),
                        "std": list(b.std), "source": ds.source, "world_size": self.group.world,
                        "gpus": gpus_of(self.device, self.group.world)}
            run.progress.update(total_steps=self.steps_per_epoch * run.config.epochs,
                                epochs=run.config.epochs)

    def event(self, name: str) -> None:
        ev = {"type": "event", "event": name, "epoch": self.epoch, "step": self.step, "time": time.time()}
        self.log.write(ev, flush=True)
        with self.run.lock:
            self.run.events.append(ev)

    # -- resume ----------------------------------------------------------------------------------
    def restore(self) -> None:
        """Continue from resume.pt when resuming (model, optimizer, scheduler, random state,
        counters; the metrics log cut back to the checkpoint), then open the log."""
        run = self.run
        state = store.load_resume(run.dir) if run.resume_from else None
        if state is not None:
            self.bundle.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            if self.sched is not None and state.get("scheduler") is not None:
                self.sched.load_state_dict(state["scheduler"])
            if state.get("scaler") and self.scaler.is_enabled():
                self.scaler.load_state_dict(state["scaler"])
            self.gen_cpu.set_state(state["rng"])
            self.epoch, self.step = int(state["epoch"]), int(state["step"])
            self.best_acc, self.elapsed_before = float(state["best_acc"]), float(state.get("elapsed", 0.0))
            self.start_step = self.step
        if run.resume_from:   # lines past the resume point go (none saved yet: killed before the
            # first resume.pt, so the run starts over and its first epoch's line must not stay twice)
            kept = store.truncate_metrics(run.dir, self.step, self.epoch) if run.writes else ([], [], [])
            if run.writes:
                views.truncate(run.dir, self.epoch)
            with run.lock:
                run.steps, run.epochs, run.events = kept
        self.log = store.MetricsLog(run.dir) if run.writes else distributed.NullLog()
        if run.resume_from:
            self.event("resumed")

    def save_resume(self, elapsed: float) -> None:
        if not self.run.writes:
            return
        store.save_resume(self.run.dir, {
            "model": {k: v.detach().cpu() for k, v in self.bundle.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "rng": self.gen_cpu.get_state(), "epoch": self.epoch, "step": self.step,
            "best_acc": self.best_acc, "elapsed": elapsed})

    # -- the loop --------------------------------------------------------------------------------
    def run_epochs(self, on_progress: Callable[[Run], None] | None) -> None:
        run, cfg = self.run, self.run.config
        self.t0 = time.time()
        run.set_status("running", "training")
        while self.epoch < cfg.epochs:
            self.maybe_unfreeze()
            totals = self.train_epoch(on_progress)
            if totals is None:
                run.set_status("stopped", f"stopped at step {self.step}")
                return
            self.end_epoch(*totals)
        self.finish()

    def maybe_unfreeze(self) -> None:
        """Transfer learning: the frozen backbone of a torchvision model trains from
        ``unfreeze_epoch`` on."""
        m = self.run.config.model
        unfreeze = m.get("unfreeze_epoch")
        if not (m.get("torchvision") and m.get("freeze") and unfreeze is not None and self.epoch >= int(unfreeze)):
            return
        total, trainable = param_counts(self.bundle.model)
        if trainable < total:
            networks.freeze_backbone(self.bundle.model, frozen=False)
            self.event("unfreeze")
            with self.run.lock:
                self.run.info.update(trainable=total, frozen=0)

    def train_epoch(self, on_progress) -> tuple[float, torch.Tensor, torch.Tensor, int] | None:
        """One epoch of steps; (seconds, loss sum, [targets right, targets counted] (labels,
        pixels or cells: the task's ``right``), images seen), None when stopped."""
        model, ds, bs = self.bundle.model, self.ds, self.batch_size
        networks.zoo.train_mode(model)   # train(), but a frozen backbone's BatchNorms stay frozen
        perm = self.group.shard(torch.randperm(ds.train_x.shape[0], generator=self.gen_cpu)).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros(2, device=self.device, dtype=torch.int64)
        seen, t0 = 0, time.time()
        for i in range(self.steps_per_epoch):
            if self.group.stopping(self.run.stop_event.is_set(), i, self.device):
                self.write_lines(self.records.drain())
                return None
            idx = perm[i * bs:(i + 1) * bs]
            yb = ds.train_y[idx]
            out, loss = self.train_step(ds.train_x[idx], yb, i)
            seen += yb.shape[0]
            loss_sum += loss.detach() * yb.shape[0]
            correct += self.task.right(out.detach(), yb)
            if on_progress:
                on_progress(self.run)
        self.write_lines(self.records.drain())   # every step's line before the epoch's
        return time.time() - t0, loss_sum, correct, seen

    def train_step(self, x_uint8: torch.Tensor, yb: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a uint8 batch (B, C, H, W); (logits, loss)."""
        cfg, opt = self.run.config, self.opt
        xb = to_model_input(x_uint8, self.bundle.mean, self.bundle.std, cfg.augment, self.gen_dev,
                            **self.input_args())
        if self.channels_last(cfg, self.device):
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES.get(self.precision), enabled=self.amp):
            out = self.forward(xb)
            loss = self.criterion(out.float(), yb)
        # eager (CPU, MPS): the loss read now, a NaN stops before its step; deferred (CUDA): no
        # host sync here, the loss is read with the next batch of lines (metrics.py)
        lv = None if self.records.deferred else float(loss.detach())
        if lv is not None and not math.isfinite(lv):
            self.blew_up(lv, i)
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip and cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(self.bundle.model.parameters(), cfg.grad_clip)
        self.scaler.step(opt)
        self.scaler.update()
        lr_now = opt.param_groups[0]["lr"]
        if self.sched is not None and self.when == "step":
            self.sched.step()
        self.step += 1
        self.record_step(loss if lv is None else lv, lr_now, yb.shape[0] * self.group.world, i)
        return out, loss

    def blew_up(self, lv: float, i: int) -> None:
        """Log the non-finite step and stop with what to do about it."""
        lr = self.opt.param_groups[0]["lr"]
        rec = {"type": "step", "step": self.step + 1, "epoch": self.epoch + i / self.steps_per_epoch,
               "loss": lv, "lr": lr, "time": time.time()}
        self.log.write(rec, flush=True)
        with self.run.lock:
            self.run.steps.append(rec)
        raise TrainingError(blew_up_message(lv, self.step + 1, self.epoch + 1, lr))

    def write_lines(self, lines: list[dict]) -> None:
        """Step lines that are ready (:class:`StepRecords`) into metrics.jsonl and the live view;
        a non-finite loss among them (the deferred mode's check) stops the run."""
        for rec in lines:
            self.log.write(rec)
        if lines:
            with self.run.lock:
                self.run.steps.extend(lines)
        blown = self.records.blown
        if blown is not None:   # pending lines never span an epoch: it is this epoch's
            raise TrainingError(blew_up_message(blown["loss"], blown["step"], self.epoch + 1, blown["lr"]))

    def record_step(self, loss: torch.Tensor | float, lr: float, images: int, i: int) -> None:
        """The step's line (metrics.jsonl and the live view, when its loss is read: :class:`StepRecords`)
        and the live progress: images/s over the last ~3 s, elapsed time and the time left."""
        run, now = self.run, time.time()
        self.recent.append((now, images))   # a running sum: summing ~600 steps each step was
        if len(self.recent) > 1:             # 0.2 s of a 3 s run
            self.recent_images += images
        while len(self.recent) > 2 and now - self.recent[0][0] > 3.0:
            self.recent.popleft()
            self.recent_images -= self.recent[0][1]
        span = max(now - self.recent[0][0], 1e-6)
        ips = self.recent_images / span if len(self.recent) > 1 else None
        done = self.step - self.start_step
        eta = (now - self.t0) / max(done, 1) * (self.steps_per_epoch * run.config.epochs - self.step)
        epoch = self.epoch + (i + 1) / self.steps_per_epoch
        rec = {"type": "step", "step": self.step, "epoch": round(epoch, 4), "loss": None, "lr": lr, "time": now}
        self.write_lines(self.records.add(rec, loss))
        with run.lock:
            run.progress.update(step=self.step, epoch=epoch, elapsed=self.elapsed_before + now - self.t0,
                                eta=eta, images_per_second=ips)
        run.write_status()

    def end_epoch(self, seconds: float, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> None:
        """Validate, log the epoch, step an epoch-wise schedule, save the checkpoints."""
        run = self.run
        run.set_status("running", f"validating epoch {self.epoch + 1}")
        val = self.validate()
        self.group.sum(loss_sum, correct)   # the epoch's training figures over every rank
        seen *= self.group.world
        self.epoch += 1
        rec = {"type": "epoch", "epoch": self.epoch, "step": self.step,
               "train_loss": float(loss_sum) / max(seen, 1), "train_acc": float(correct[0]) / max(float(correct[1]), 1),
               **val, "lr": self.opt.param_groups[0]["lr"],
               "images_per_second": seen / max(seconds, 1e-6),
               "elapsed": self.elapsed_before + time.time() - self.t0, "time": time.time()}
        if self.sched is not None and self.when == "epoch":
            self.sched.step()
        elif self.sched is not None and self.when == "plateau":
            self.sched.step(val["val_loss"])
        self.log.write(rec, flush=True)
        with run.lock:
            run.epochs.append(rec)
        self.save_checkpoint("last", rec)
        self.write_view()
        best = val[f"val_{self.task.metric_names[0]}"]
        if best > self.best_acc:
            self.save_checkpoint("best", rec)
        self.best_acc = max(self.best_acc, best)
        self.save_resume(rec["elapsed"])
        run.set_status("running", "training")

    def validate(self) -> dict[str, float]:
        """val_loss, val_acc and, beyond one label per image, the task's metrics (val_miou ...)."""
        b, ds = self.bundle, self.ds
        if self.task.per_image:   # (loss, accuracy) over torchrun's shards
            loss, acc = self.group.evaluate(b.model, ds.val_x, ds.val_y, b.mean, b.std, **self.input_args())
            return {"val_loss": loss, "val_acc": acc}
        s = self.group.scores(b.model, ds.val_x, ds.val_y, b.mean, b.std, self.criterion,   # over the ranks
                              self.task.metrics(ds.num_classes, self.device), right=self.task.right, **self.input_args())
        return {"val_loss": s["loss"], "val_acc": s["acc"], **{f"val_{k}": s[k] for k in self.task.metric_names},
                **({"val_iou_per_class": s["iou_per_class"]} if "iou_per_class" in s else {})}

    def write_view(self) -> None:
        """The task's picture of this epoch on the fixed validation strip (rank 0): views.py."""
        if self.run.writes and self.task.epoch_view is not None:
            b = self.bundle
            views.write_epoch(self.run.dir, self.epoch, self.task, b.model, self.ds.val_x, self.ds.val_y,
                              b.mean, b.std, **self.input_args())

    def save_checkpoint(self, which: str, rec: dict) -> None:
        run, b = self.run, self.bundle
        if not run.writes:
            return
        checkpoints.save_checkpoint(
            store.checkpoint_path(run.dir, which), b.model, spec=b.spec, class_names=self.ds.class_names,
            input_shape=b.input_shape, mean=b.mean, std=b.std,
            run={"id": run.id, "name": run.config.name or run.id, "epoch": rec["epoch"],
                 "val_acc": rec["val_acc"], "val_loss": rec["val_loss"], "config": run.config.to_dict(),
                 "task": run.config.task, **{f"val_{k}": rec[f"val_{k}"] for k in self.task.metric_names}})

    def finish(self) -> None:
        """The report after the run: confusion matrix, per-class accuracy, worst mistakes."""
        run, b, ds = self.run, self.bundle, self.ds
        if not run.writes:      # torchrun's ranks > 0: rank 0 writes the report
            return run.set_status("finished", "finished")
        if self.task.per_image:     # a mask per image: its metrics are the epoch lines' (no report yet)
            run.set_status("running", "analysing the validation set")
            out = logits(b.model, ds.val_x, b.mean, b.std, **self.input_args())
            report = confusion_report(out, ds.val_y, ds.num_classes)
            report["class_names"] = ds.class_names
            wrong = torch.tensor([w["index"] for w in report["wrong"]], dtype=torch.int64)
            store.write_analysis(run.dir, report, ds.val_x[wrong.to(ds.val_x.device)])
            if ds.has_test:
                self.evaluate_test()
        with run.lock:
            run.progress.update(eta=0.0)
        run.set_status("finished", "finished")

    def evaluate_test(self) -> None:
        """The held-out test/ split, evaluated once with the final network, recorded apart."""
        run, b, ds = self.run, self.bundle, self.ds
        run.set_status("running", "evaluating the held-out test split")
        test_loss, test_acc = loss_and_accuracy(
            logits(b.model, ds.test_x, b.mean, b.std, **self.input_args()), ds.test_y)
        result = {"test_loss": test_loss, "test_acc": test_acc, "n_test": int(ds.test_x.shape[0]),
                  "epoch": self.epoch, "model": "last"}
        store.write_test(run.dir, result)
        with run.lock:
            run.info["test"] = result
