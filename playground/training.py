"""Training runs: the settings (:class:`RunConfig`), the loop that runs in a background thread
(:func:`train`), learning-rate schedules, evaluation and the coach that reads the curves.

Nothing here imports Streamlit. A :class:`Run` holds the live state of one run: its metrics in
memory under a lock (pages read :meth:`Run.snapshot`), a ``threading.Event`` to stop it (checked
every step), and its folder on disk: ``config.json``, ``status.json`` (with a heartbeat and the
pid of the process training it), ``metrics.jsonl`` appended as it trains, ``best.pt`` /
``last.pt`` (self-describing checkpoints, :mod:`playground.checkpoints`) and ``resume.pt``
(optimizer, scheduler and random state, so an interrupted run continues where it stopped).

Data is decoded once into uint8 tensors on the training device; each batch is indexed there,
augmented there as whole-batch tensor ops and normalized (:func:`playground.data.prepare`).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoints, data as data_mod, networks

OPTIMIZERS = {"sgd": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"}
SCHEDULES = {"none": "constant", "step": "StepLR (x gamma every few epochs)",
             "cosine": "cosine annealing", "onecycle": "OneCycle",
             "plateau": "ReduceLROnPlateau (on validation loss)",
             "warmup_cosine": "linear warm-up + cosine"}
STATUSES = ("queued", "running", "finished", "stopped", "failed", "interrupted")


class TrainingError(RuntimeError):
    """A run that cannot go on; the message is meant for the learner."""


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """Every setting of a run; JSON-able (``to_dict`` / ``from_dict``), saved as config.json.

    ``data`` goes to :func:`playground.data.load_data`. ``model`` is one of
    ``{"preset": "shapes_cnn"}``, ``{"spec": {...}}`` (a layer spec, e.g. the inspector's) or
    ``{"torchvision": "resnet18", "pretrained": true, "freeze": true, "unfreeze_epoch": 3,
    "image_size": 64}``. Specs are fitted to the data with :func:`playground.networks.adapt`.
    """
    name: str = ""
    data: dict[str, Any] = field(default_factory=lambda: {"name": "shapes", "n_train": 8000,
                                                          "n_val": 2000, "size": 32, "seed": 0})
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "shapes_cnn"})
    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 5
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0
    schedule: str = "onecycle"
    step_size: int = 2            # StepLR: epochs between drops
    gamma: float = 0.5            # StepLR / ReduceLROnPlateau factor
    patience: int = 1             # ReduceLROnPlateau
    warmup_epochs: float = 1.0    # linear warm-up + cosine
    augment: dict[str, Any] = field(default_factory=lambda: dict(data_mod.AUGMENT_DEFAULTS))
    device: str = "auto"
    amp: bool = True              # mixed precision (CUDA only)
    channels_last: bool = True    # memory format (CUDA and CPU)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: copy.deepcopy(v) for k, v in d.items() if k in names})

    def validate(self) -> None:
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

    def label(self) -> str:
        m = self.model
        model = m.get("preset") or m.get("torchvision") or (m.get("spec") or {}).get("name") or "network"
        return f"{model} · {self.data.get('name', 'data')} · {self.optimizer} lr {self.lr:g}"


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present, then Apple MPS, else CPU (or the device named)."""
    if name and name != "auto":
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TrainingError("CUDA was asked for but no CUDA GPU is available here.")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise TrainingError("MPS was asked for but this is not an Apple-silicon Mac with MPS.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Model, optimizer, schedule
# --------------------------------------------------------------------------------------------
@dataclass
class ModelBundle:
    model: nn.Module
    spec: dict[str, Any]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    head: str | None = None


def build_model(cfg: RunConfig, ds: data_mod.Dataset) -> ModelBundle:
    """The network a config asks for, fitted to the dataset's input shape and classes."""
    m = cfg.model
    classes = ds.num_classes
    if m.get("torchvision"):
        name = m["torchvision"]
        size = int(m.get("image_size") or max(ds.input_shape[1], 32))
        weights = "DEFAULT" if m.get("pretrained") else None
        model = networks.build_torchvision(name, weights=weights, num_classes=classes,
                                           freeze=bool(m.get("freeze")))
        spec = dict(model.spec)  # type: ignore[arg-type]
        spec["input_shape"] = [3, size, size]
        model.spec = spec  # type: ignore[assignment]
        if weights:
            mean, std = data_mod.IMAGENET_MEAN, data_mod.IMAGENET_STD
        else:
            mean, std = _match_channels(ds.mean, 3), _match_channels(ds.std, 3)
        return ModelBundle(model, spec, (3, size, size), tuple(mean), tuple(std),
                           networks._head_path(model))
    if m.get("spec"):
        base = m["spec"]
    elif m.get("preset"):
        base = networks.preset(m["preset"])
    else:
        raise TrainingError("The model settings name no preset, spec or torchvision model.")
    spec = networks.adapt(base, ds.input_shape, classes)
    model = networks.build(spec)
    out = networks.output_shape(spec)
    if out != (classes,):
        raise TrainingError(f"This network gives outputs of shape {out} for a "
                            f"{'x'.join(map(str, ds.input_shape))} image, but the data has "
                            f"{classes} classes: it must end in one score per class.")
    return ModelBundle(model, spec, ds.input_shape, tuple(ds.mean), tuple(ds.std))


def _match_channels(v: tuple[float, ...], c: int) -> tuple[float, ...]:
    v = tuple(v)
    return v if len(v) == c else (tuple(v) * c)[:c] if len(v) == 1 else v[:c]


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; the difference is frozen."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    # All parameters go in: frozen ones have no gradient and are skipped, so unfreezing later
    # needs no new parameter group.
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: RunConfig, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """(scheduler or None, when it steps: "step", "epoch" or "plateau")."""
    total = max(1, cfg.epochs * steps_per_epoch)
    s = cfg.schedule
    lrs = torch.optim.lr_scheduler
    if s == "none":
        return None, "step"
    if s == "step":
        return lrs.StepLR(opt, step_size=max(1, cfg.step_size), gamma=cfg.gamma), "epoch"
    if s == "cosine":
        return lrs.CosineAnnealingLR(opt, T_max=total), "step"
    if s == "onecycle":
        return lrs.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total + 1), "step"
    if s == "plateau":
        return lrs.ReduceLROnPlateau(opt, mode="min", factor=cfg.gamma, patience=cfg.patience), "plateau"
    if s == "warmup_cosine":
        warm = min(total - 1, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
        if warm < 1:
            return lrs.CosineAnnealingLR(opt, T_max=total), "step"
        return lrs.SequentialLR(opt, [lrs.LinearLR(opt, start_factor=0.01, total_iters=warm),
                                      lrs.CosineAnnealingLR(opt, T_max=max(1, total - warm))],
                                milestones=[warm]), "step"
    raise TrainingError(f"Unknown schedule {s!r}.")


def lr_schedule(cfg: RunConfig, steps_per_epoch: int) -> list[float]:
    """The learning rate at every step of a run, from torch's own schedulers on a dummy
    parameter (ReduceLROnPlateau depends on the validation loss: it is shown flat)."""
    p = nn.Parameter(torch.zeros(1))
    c = RunConfig.from_dict(cfg.to_dict())
    opt = {"sgd": torch.optim.SGD([p], lr=c.lr, momentum=c.momentum),
           "adam": torch.optim.Adam([p], lr=c.lr), "adamw": torch.optim.AdamW([p], lr=c.lr)}[c.optimizer]
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


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, x_uint8: torch.Tensor, mean, std, *, batch: int = 512,
            size: tuple[int, int] | None = None, channels: int | None = None,
            device: torch.device | None = None) -> torch.Tensor:
    """Logits for a uint8 image tensor, in batches."""
    model.eval()
    device = device or next(model.parameters()).device
    outs = []
    for i in range(0, x_uint8.shape[0], batch):
        xb = data_mod.prepare(x_uint8[i:i + batch].to(device), mean, std, channels=channels, size=size)
        outs.append(model(xb).float())
    return torch.cat(outs) if outs else torch.empty(0)


def analyse(logits: torch.Tensor, labels: torch.Tensor, num_classes: int, top: int = 16) -> dict[str, Any]:
    """Confusion matrix (rows: true class), per-class accuracy, the most confidently wrong."""
    labels = labels.to(logits.device)
    pred = logits.argmax(1)
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    cm.index_put_((labels.cpu(), pred.cpu()), torch.ones_like(labels.cpu()), accumulate=True)
    per_class = (cm.diag().float() / cm.sum(1).clamp_min(1).float()).tolist()
    prob = logits.softmax(1)
    conf = prob.max(1).values
    wrong = torch.nonzero(pred != labels).flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:top]
    return {"confusion": cm.tolist(), "per_class_acc": per_class,
            "accuracy": float((pred == labels).float().mean()) if len(labels) else 0.0,
            "wrong": [{"index": int(i), "true": int(labels[i]), "pred": int(pred[i]),
                       "confidence": float(conf[i])} for i in order]}


# --------------------------------------------------------------------------------------------
# The coach
# --------------------------------------------------------------------------------------------
@dataclass
class Advice:
    kind: str          # nan, not_learning, overfitting, unstable, good
    level: str         # error, warning, info, success
    title: str
    text: str
    step: int | None = None
    epoch: int | None = None


def smooth(values: list[float], alpha: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = alpha * avg + (1 - alpha) * v
        out.append(avg / (1 - alpha ** (i + 1)))
    return out


def diagnose(steps: list[dict], epochs: list[dict], num_classes: int, *, status: str = "",
             error: str = "", steps_per_epoch: int | None = None) -> list[Advice]:
    """Read the curves like a teacher would. ``steps``: [{"step", "loss", ...}],
    ``epochs``: [{"epoch", "train_loss", "val_loss", "val_acc", ...}]."""
    advice: list[Advice] = []
    losses = [s["loss"] for s in steps]
    if status == "failed" and "NaN" in (error or "") or any(not math.isfinite(v) for v in losses):
        bad = next((s["step"] for s in steps if not math.isfinite(s["loss"])), steps[-1]["step"] if steps else None)
        advice.append(Advice("nan", "error", "The loss became NaN / infinite: training stopped",
                             "The numbers blew up, usually because the learning rate is too high "
                             "for this network. Lower the learning rate (try 10x smaller), turn on "
                             "gradient clipping (e.g. 1.0), or use a warm-up schedule.", step=bad))
        return advice
    finite = [v for v in losses if math.isfinite(v)]
    chance = math.log(max(num_classes, 2))
    window = max(20, (steps_per_epoch or 50) // 2)
    # A plateau at chance during the first epoch is normal (warm-up, BatchNorm settling): judge
    # "not learning" only after a whole epoch and two windows of steps.
    if len(finite) >= max(2 * window, steps_per_epoch or 0):
        recent = finite[-window:]
        early = finite[:window]
        mean_recent = sum(recent) / len(recent)
        if abs(mean_recent - chance) < 0.1 * chance and mean_recent > 0.9 * min(sum(early) / len(early), chance):
            advice.append(Advice(
                "not_learning", "warning", "Not learning: the loss is stuck at chance level",
                f"The loss stays near ln({num_classes}) = {chance:.2f}, what a model that guesses "
                "every class equally gets. Try a different learning rate (often 10x larger or "
                "smaller), check the network has activations between layers, or use Adam.",
                step=steps[-1]["step"]))
        else:
            sm = smooth(recent, 0.8)
            diffs = [abs(recent[i] - recent[i - 1]) for i in range(1, len(recent))]
            level = sum(sm[-window // 2:]) / (window // 2)
            swing = sum(diffs) / len(diffs)
            if level > 0.05 and swing > 0.6 * level and level > 0.3 * chance:
                advice.append(Advice(
                    "unstable", "warning", "Wild swings: the learning rate looks too high",
                    f"From one step to the next the loss jumps by {swing:.2f} on average, about "
                    f"{swing / level:.0%} of its level. Lower the learning rate, raise the batch "
                    "size, or add gradient clipping.", step=steps[-1]["step"]))
    if len(epochs) >= 3:
        val = [e["val_loss"] for e in epochs]
        tr = [e["train_loss"] for e in epochs]
        best = min(range(len(val)), key=val.__getitem__)
        if best <= len(val) - 2 and val[-1] > val[best] * 1.05 and tr[-1] < tr[best]:
            advice.append(Advice(
                "overfitting", "warning", "Overfitting: validation loss rises while training loss falls",
                f"The validation loss was lowest after epoch {epochs[best]['epoch']} "
                f"({val[best]:.3f}) and is {val[-1]:.3f} now, while the training loss keeps "
                "falling: the network memorises the training images. Add dropout or "
                "augmentation, use a smaller network, or stop at the best epoch (best.pt keeps it).",
                epoch=epochs[best]["epoch"]))
    if not advice and epochs and status == "finished":
        e = epochs[-1]
        chance_acc = 1 / max(num_classes, 2)
        if e["val_acc"] < 1.5 * chance_acc:
            advice.append(Advice(
                "not_learning", "warning", "Barely better than guessing",
                f"Validation accuracy is {e['val_acc']:.1%}; guessing gives {chance_acc:.1%}. The run "
                "was too short or the learning rate does not suit it: train longer (more images or "
                "epochs) or try another learning rate.", epoch=e["epoch"]))
        else:
            advice.append(Advice("good", "success", "Healthy run",
                                 f"Loss fell and validation accuracy reached {e['val_acc']:.1%}.",
                                 epoch=e["epoch"]))
    return advice


# --------------------------------------------------------------------------------------------
# A run: live state, files, the loop
# --------------------------------------------------------------------------------------------
def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


class Run:
    """One run's live state. Pages read :meth:`snapshot`; the training thread writes under
    ``lock``. ``stop_event`` stops it at the next step."""

    HEARTBEAT_S = 1.0

    def __init__(self, run_id: str, run_dir: Path, config: RunConfig, *, created: float | None = None):
        self.id = run_id
        self.dir = Path(run_dir)
        self.config = config
        self.created = created or time.time()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.status = "queued"
        self.error = ""
        self.error_detail = ""
        self.message = "waiting for a free slot"
        self.steps: list[dict] = []
        self.epochs: list[dict] = []
        self.events: list[dict] = []
        self.progress: dict[str, Any] = {"step": 0, "total_steps": 0, "epoch": 0,
                                         "epochs": config.epochs, "elapsed": 0.0, "eta": None,
                                         "images_per_second": None}
        self.info: dict[str, Any] = {}
        self.resume_from: bool = False
        self.thread: threading.Thread | None = None
        self._last_status_write = 0.0

    # -- reading -------------------------------------------------------------------------------
    def snapshot(self, since_step: int = 0) -> dict[str, Any]:
        with self.lock:
            return {"id": self.id, "status": self.status, "error": self.error,
                    "error_detail": self.error_detail, "message": self.message,
                    "steps": [s for s in self.steps[since_step:]], "epochs": list(self.epochs),
                    "events": list(self.events), "progress": dict(self.progress),
                    "info": dict(self.info), "config": self.config.to_dict()}

    # -- writing -------------------------------------------------------------------------------
    def write_status(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_status_write < self.HEARTBEAT_S:
            return
        self._last_status_write = now
        with self.lock:
            obj = {"id": self.id, "status": self.status, "error": self.error,
                   "error_detail": self.error_detail[-4000:], "message": self.message,
                   "pid": os.getpid(), "heartbeat": now, "created": self.created,
                   "progress": self.progress, "info": self.info}
        _atomic_json(self.dir / "status.json", obj)

    def set_status(self, status: str, message: str = "", error: str = "", detail: str = "") -> None:
        with self.lock:
            self.status = status
            if message:
                self.message = message
            if error:
                self.error, self.error_detail = error, detail
        self.write_status(force=True)

    def start_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_json(self.dir / "config.json", {"id": self.id, "created": self.created,
                                                "config": self.config.to_dict()})
        self.write_status(force=True)


class _MetricsWriter:
    """Appends JSON lines to metrics.jsonl, flushing at most every ``every`` seconds."""

    def __init__(self, path: Path, every: float = 0.5):
        self.fh = open(path, "a", buffering=1 << 16)
        self.every = every
        self.last = time.time()

    def write(self, obj: dict, flush: bool = False) -> None:
        self.fh.write(json.dumps(obj) + "\n")
        now = time.time()
        if flush or now - self.last > self.every:
            self.fh.flush()
            self.last = now

    def close(self) -> None:
        self.fh.flush()
        self.fh.close()


def read_metrics(run_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(steps, epochs, events) from a run folder's metrics.jsonl; a half-written last line
    (a process killed mid-write) is ignored."""
    steps, epochs, events = [], [], []
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return steps, epochs, events
    with open(path) as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = obj.get("type")
            (steps if kind == "step" else epochs if kind == "epoch" else events).append(obj)
    return steps, epochs, events


def train(run: Run, *, dataset: data_mod.Dataset | None = None,
          on_progress: Callable[[Run], None] | None = None) -> Run:
    """Run the training loop to its end (call it in a thread). Never raises: failures end in
    status "failed" with a message for the learner and the detail."""
    writer: _MetricsWriter | None = None
    try:
        writer = _train(run, dataset, on_progress)
    except TrainingError as e:
        run.set_status("failed", str(e), error=str(e))
    except (data_mod.DataError, networks.SpecError, networks.WeightsUnavailable,
            checkpoints.CheckpointError) as e:
        run.set_status("failed", str(e), error=str(e), detail=traceback.format_exc())
    except torch.OutOfMemoryError as e:  # type: ignore[attr-defined]
        run.set_status("failed", "Out of memory: use a smaller batch size or image size.",
                       error="Out of memory: use a smaller batch size or image size.", detail=str(e))
    except Exception as e:  # noqa: BLE001 - the thread must always leave a final status
        run.set_status("failed", f"Training crashed: {type(e).__name__}: {e}",
                       error=f"Training crashed: {type(e).__name__}: {e}", detail=traceback.format_exc())
    finally:
        if writer is not None:
            writer.close()
        run.done.set()
    return run


def _train(run: Run, dataset: data_mod.Dataset | None, on_progress) -> _MetricsWriter | None:
    cfg = run.config
    cfg.validate()
    run.set_status("running", "loading data")
    device = pick_device(cfg.device)
    gen_cpu = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    ds = dataset if dataset is not None else data_mod.load_data(
        cfg.data, progress=lambda msg, frac: run.set_status("running", msg))
    if ds.num_classes < 2:
        raise TrainingError("The data has fewer than two classes: nothing to learn.")
    run.set_status("running", "building the network")
    bundle = build_model(cfg, ds)
    model = bundle.model
    chans, size = bundle.input_shape[0], tuple(bundle.input_shape[1:])
    size_arg = size if size != tuple(ds.input_shape[1:]) else None
    ch_arg = chans if chans != ds.input_shape[0] else None
    gpu = device.type == "cuda"
    model.to(device)
    # channels-last: faster convolutions on CUDA (tensor cores) and on CPU (oneDNN), ~1.4x here
    cl = cfg.channels_last and device.type in ("cuda", "cpu")
    if cl:
        model.to(memory_format=torch.channels_last)
    ds = ds.to(device)
    n = ds.train_x.shape[0]
    bs = min(cfg.batch_size, n)
    steps_per_epoch = max(1, n // bs)  # drop the last partial batch (BatchNorm needs > 1)
    opt = make_optimizer(cfg, model)
    sched, when = make_scheduler(cfg, opt, steps_per_epoch)
    use_amp = gpu and cfg.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    gen_dev = torch.Generator(device=device).manual_seed(cfg.seed + 1) if device.type != "mps" else None
    total, trainable = param_counts(model)
    with run.lock:
        run.info = {"device": str(device), "params": total, "trainable": trainable,
                    "frozen": total - trainable, "classes": ds.class_names,
                    "input_shape": list(bundle.input_shape), "n_train": n,
                    "n_val": int(ds.val_x.shape[0]), "steps_per_epoch": steps_per_epoch,
                    "amp": use_amp, "dataset": ds.name, "mean": list(bundle.mean),
                    "std": list(bundle.std), "source": ds.source}
        run.progress.update(total_steps=steps_per_epoch * cfg.epochs, epochs=cfg.epochs)

    start_epoch, step, best_acc = 0, 0, -1.0
    elapsed_before = 0.0
    if run.resume_from and (run.dir / "resume.pt").exists():
        state = torch.load(run.dir / "resume.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        if state.get("scaler") and use_amp:
            scaler.load_state_dict(state["scaler"])
        gen_cpu.set_state(state["rng"])
        start_epoch, step, best_acc = int(state["epoch"]), int(state["step"]), float(state["best_acc"])
        elapsed_before = float(state.get("elapsed", 0.0))
        steps, epochs, events = read_metrics(run.dir)
        steps = [s for s in steps if s["step"] <= step]
        epochs = [e for e in epochs if e["epoch"] <= start_epoch]
        # Rewrite the log without what happened after the checkpoint, then carry on appending.
        with open(run.dir / ".metrics.jsonl.tmp", "w") as fh:
            for obj in [*events, *steps, *epochs]:
                fh.write(json.dumps(obj) + "\n")
        os.replace(run.dir / ".metrics.jsonl.tmp", run.dir / "metrics.jsonl")
        with run.lock:
            run.steps, run.epochs, run.events = steps, epochs, events
    writer = _MetricsWriter(run.dir / "metrics.jsonl")
    if run.resume_from:
        ev = {"type": "event", "event": "resumed", "epoch": start_epoch, "step": step, "time": time.time()}
        writer.write(ev, flush=True)
        with run.lock:
            run.events.append(ev)

    head = bundle.head
    unfreeze = cfg.model.get("unfreeze_epoch")
    t0 = time.time()
    recent: list[tuple[float, int]] = []  # (time, images) for the live images/s
    run.set_status("running", "training")
    stopped = False
    for epoch in range(start_epoch, cfg.epochs):
        if head and unfreeze is not None and cfg.model.get("freeze") and epoch >= int(unfreeze):
            if trainable < total:
                networks.freeze_backbone(model, head, frozen=False)
                total, trainable = param_counts(model)
                ev = {"type": "event", "event": "unfreeze", "epoch": epoch, "step": step, "time": time.time()}
                writer.write(ev, flush=True)
                with run.lock:
                    run.events.append(ev)
                    run.info.update(trainable=trainable, frozen=total - trainable)
        model.train()
        perm = torch.randperm(n, generator=gen_cpu).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        epoch_t0 = time.time()
        for i in range(steps_per_epoch):
            if run.stop_event.is_set():
                stopped = True
                break
            idx = perm[i * bs:(i + 1) * bs]
            xb = data_mod.prepare(ds.train_x[idx], bundle.mean, bundle.std, cfg.augment, gen_dev,
                                  channels=ch_arg, size=size_arg)
            yb = ds.train_y[idx]
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                out = model(xb)
                loss = criterion(out.float(), yb)
            lv = float(loss.detach())
            if not math.isfinite(lv):
                rec = {"type": "step", "step": step + 1, "epoch": epoch + i / steps_per_epoch,
                       "loss": lv, "lr": opt.param_groups[0]["lr"], "time": time.time()}
                writer.write(rec, flush=True)
                with run.lock:
                    run.steps.append(rec)
                msg = (f"The loss became {'NaN' if math.isnan(lv) else 'infinite'} at step {step + 1} "
                       f"(epoch {epoch + 1}), so training stopped. The learning rate "
                       f"({opt.param_groups[0]['lr']:.3g}) is probably too high: lower it or turn on "
                       "gradient clipping.")
                raise TrainingError(msg)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip and cfg.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            lr_now = opt.param_groups[0]["lr"]
            if sched is not None and when == "step":
                sched.step()
            step += 1
            seen += yb.shape[0]
            loss_sum += loss.detach() * yb.shape[0]
            correct += (out.detach().argmax(1) == yb).sum()
            now = time.time()
            recent.append((now, yb.shape[0]))
            while len(recent) > 2 and now - recent[0][0] > 3.0:
                recent.pop(0)
            ips = sum(b for _, b in recent[1:]) / max(now - recent[0][0], 1e-6) if len(recent) > 1 else None
            elapsed = elapsed_before + now - t0
            done_steps = step - start_epoch * steps_per_epoch
            remaining = steps_per_epoch * cfg.epochs - step
            eta = (now - t0) / max(done_steps, 1) * remaining
            rec = {"type": "step", "step": step, "epoch": round(epoch + (i + 1) / steps_per_epoch, 4),
                   "loss": lv, "lr": lr_now, "time": now}
            writer.write(rec)
            with run.lock:
                run.steps.append(rec)
                run.progress.update(step=step, epoch=epoch + (i + 1) / steps_per_epoch,
                                    elapsed=elapsed, eta=eta, images_per_second=ips)
            run.write_status()
            if on_progress:
                on_progress(run)
        if stopped:
            break
        # -- end of epoch: validate, log, checkpoint --------------------------------------------
        train_time = time.time() - epoch_t0
        run.set_status("running", f"validating epoch {epoch + 1}")
        logits = predict(model, ds.val_x, bundle.mean, bundle.std, size=size_arg, channels=ch_arg)
        val_loss = float(F.cross_entropy(logits, ds.val_y))
        val_acc = float((logits.argmax(1) == ds.val_y).float().mean())
        train_loss = float(loss_sum) / max(seen, 1)
        rec = {"type": "epoch", "epoch": epoch + 1, "step": step, "train_loss": train_loss,
               "train_acc": float(correct) / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc,
               "lr": opt.param_groups[0]["lr"], "images_per_second": seen / max(train_time, 1e-6),
               "elapsed": elapsed_before + time.time() - t0, "time": time.time()}
        if sched is not None and when == "epoch":
            sched.step()
        elif sched is not None and when == "plateau":
            sched.step(val_loss)
        writer.write(rec, flush=True)
        with run.lock:
            run.epochs.append(rec)
        is_best = val_acc > best_acc
        best_acc = max(best_acc, val_acc)
        _save(run, model, bundle, ds, rec, "last.pt")
        if is_best:
            _save(run, model, bundle, ds, rec, "best.pt")
        checkpoints.atomic_save({
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "scaler": scaler.state_dict() if use_amp else None,
            "rng": gen_cpu.get_state(), "epoch": epoch + 1, "step": step, "best_acc": best_acc,
            "elapsed": rec["elapsed"]}, run.dir / "resume.pt")
        run.set_status("running", "training")
    # -- the end -------------------------------------------------------------------------------
    if stopped:
        run.set_status("stopped", f"stopped at step {step}")
        return writer
    run.set_status("running", "analysing the validation set")
    logits = predict(model, ds.val_x, bundle.mean, bundle.std, size=size_arg, channels=ch_arg)
    result = analyse(logits, ds.val_y, ds.num_classes)
    result["class_names"] = ds.class_names
    _atomic_json(run.dir / "analysis.json", result)
    wrong_idx = torch.tensor([w["index"] for w in result["wrong"]], dtype=torch.int64)
    checkpoints.atomic_save({"images": ds.val_x[wrong_idx.to(ds.val_x.device)].cpu()}, run.dir / "wrong.pt")
    with run.lock:
        run.progress.update(eta=0.0)
    run.set_status("finished", "finished")
    return writer


def _save(run: Run, model: nn.Module, bundle: ModelBundle, ds: data_mod.Dataset, rec: dict, name: str) -> None:
    checkpoints.save_checkpoint(
        run.dir / name, model, spec=bundle.spec, class_names=ds.class_names,
        input_shape=bundle.input_shape, mean=bundle.mean, std=bundle.std,
        run={"id": run.id, "name": run.config.name or run.id, "epoch": rec["epoch"],
             "val_acc": rec["val_acc"], "val_loss": rec["val_loss"], "config": run.config.to_dict()})
