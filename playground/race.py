"""The data-efficiency race: do transformers need more data? A tiny CNN and a tiny ViT get the
same wall-clock budget each, on 10, 30, 100 ... images per class of the shapes, and are scored on
one fixed validation set.

    >>> rows = run_race(budget_s=10, per_class=[10, 100, 1000])      # blocking
    >>> race = start_race(budget_s=10, on_row=print); race.stop()     # a background thread

Each row: ``{"images_per_class", "model", "val_acc", "steps", "seconds"}``. Both models train the
way a run does (RunConfig's optimiser, weight decay and batch size, each at its own peak
learning rate: the CNN RunConfig's 3e-3, the ViT VIT_LR's 1e-3; the data's own normalisation, no
augmentation), with a warm-up and cosine decay stretched over the *time* budget
rather than over epochs, so each gets a full schedule whatever its speed. Smaller training sets
are the first images of each class of the larger ones (nested), drawn once; batches are sampled
with replacement, so ten images per class still fill every batch.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .data import Dataset, DataError, load_data
from .networks.vit import VIT_LABEL, VIT_LR
from .training import RunConfig
from .training.model import build_network

# The race's defaults, once: the page and the CLI start from them.
RACE_PER_CLASS = (10, 30, 100, 300, 1000)
# 30 s per model and size (5 sizes x 2 models: the whole race 303 s): on a 2-core CPU (2 torch
# threads, bench_race) the CNN got ~1,900 steps and the ViT ~5,000 per row; val accuracy at 10,
# 30, 100, 300, 1,000 per class: CNN 19, 25, 63, 94, 99 %, ViT 14, 16, 15, 19, 25 %. (Last
# round's 20 s under heavy contention gave 6-16 steps: every row at chance.)
RACE_BUDGET_S = 30.0
RACE_VAL = 1000               # validation images (one fixed set for every row)
RACE_WARMUP = 0.1             # share of the budget spent warming the learning rate up
# key: (label, model settings, peak learning rate): each at its own measured rate
MODELS: dict[str, tuple[str, dict[str, Any], float]] = {
    "cnn": ("Tiny CNN", dict(RunConfig().model), RunConfig().lr),   # the default preset, shapes_cnn
    "vit": (VIT_LABEL, {"vit": {}}, VIT_LR),                       # VIT_DEFAULTS; 3e-3 keeps it at chance
}
Row = dict[str, Any]


def race_data(per_class: list[int], seed: int = 0, n_val: int = RACE_VAL) -> Dataset:
    """The shapes with the largest size's images per class and ``n_val`` validation images."""
    from .data import DATASETS

    classes = DATASETS["shapes"].num_classes
    return load_data({"name": "shapes", "n_train": max(per_class) * classes, "n_val": n_val,
                      "seed": seed})


def subset(ds: Dataset, k: int) -> torch.Tensor:
    """Indices of the first ``k`` training images of each class (nested: k < k' is a subset)."""
    picks = [torch.nonzero(ds.train_y == c).flatten()[:k] for c in range(ds.num_classes)]
    if min(len(p) for p in picks) < k:
        raise DataError(f"The data has fewer than {k} images of some class.")
    return torch.cat(picks)


def _lr(peak: float, frac: float) -> float:
    """Warm-up, then cosine decay to zero, over the share ``frac`` of the budget spent."""
    if frac < RACE_WARMUP:
        return peak * max(frac / RACE_WARMUP, 0.01)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - RACE_WARMUP) / (1 - RACE_WARMUP))))


def _normalise(x: torch.Tensor, ds: Dataset) -> torch.Tensor:
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    return (x.float() / 255 - mean) / std


@torch.no_grad()
def accuracy(model: torch.nn.Module, ds: Dataset, batch: int = 500) -> float:
    """Validation accuracy on the whole validation set."""
    model.eval()
    right = 0
    for i in range(0, len(ds.val_y), batch):
        right += int((model(_normalise(ds.val_x[i:i + batch], ds)).argmax(1) == ds.val_y[i:i + batch]).sum())
    return right / len(ds.val_y)


def train_one(model_key: str, ds: Dataset, idx: torch.Tensor, budget_s: float, *, seed: int = 0,
              stop: threading.Event | None = None) -> Row | None:
    """Train one model on the images ``idx`` for ``budget_s`` seconds; its row, or None when
    stopped before the budget was spent."""
    cfg = RunConfig()
    torch.manual_seed(seed)
    model, _, _ = build_network(MODELS[model_key][1], ds.input_shape, ds.num_classes)
    peak = MODELS[model_key][2]
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    # one untimed forward and backward (no update): the first step's one-off set-up (kernel
    # selection, allocations) is not the model's speed
    F.cross_entropy(model(_normalise(ds.train_x[idx[:cfg.batch_size]], ds)), ds.train_y[idx[:cfg.batch_size]]).backward()
    opt.zero_grad(set_to_none=True)
    steps, start = 0, time.perf_counter()
    while (spent := time.perf_counter() - start) < budget_s:
        if stop is not None and stop.is_set():
            return None
        for group in opt.param_groups:
            group["lr"] = _lr(peak, spent / budget_s)
        b = idx[torch.randint(len(idx), (cfg.batch_size,), generator=gen)]
        loss = F.cross_entropy(model(_normalise(ds.train_x[b], ds)), ds.train_y[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    seconds = time.perf_counter() - start
    return {"images_per_class": int(len(idx) // ds.num_classes), "model": MODELS[model_key][0],
            "val_acc": accuracy(model, ds), "steps": steps, "seconds": round(seconds, 2)}


def check(budget_s: float, per_class: list[int]) -> list[int]:
    """The sizes, sorted; bad knobs refused in words (DataError)."""
    if not (isinstance(budget_s, (int, float)) and 0 < budget_s <= 3600):
        raise DataError(f"The budget must be from 0 to 3,600 seconds per model, got {budget_s!r}.")
    sizes = sorted({int(k) for k in per_class})
    if not sizes or sizes[0] < 1 or sizes[-1] > 5000:
        raise DataError("Images per class must be whole numbers from 1 to 5,000, e.g. 10,30,100.")
    return sizes


def run_race(budget_s: float = RACE_BUDGET_S, per_class: list[int] | tuple[int, ...] = RACE_PER_CLASS, *,
             on_row: Callable[[Row], None] | None = None, stop: threading.Event | None = None,
             seed: int = 0, data: Dataset | None = None) -> list[Row]:
    """Every size, smallest first, both models each (CNN first); ``on_row`` gets each row as it
    is done. ``stop`` set: returns the rows finished so far. ``data``: made already (tests)."""
    sizes = check(budget_s, list(per_class))
    ds = data or race_data(sizes, seed)
    rows: list[Row] = []
    for k in sizes:
        idx = subset(ds, k)
        for key in MODELS:
            row = train_one(key, ds, idx, budget_s, seed=seed, stop=stop)
            if row is None:
                return rows
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


@dataclass
class Race:
    """A race running in a background thread; pages read :meth:`snapshot`."""
    budget_s: float
    per_class: list[int]
    rows: list[Row] = field(default_factory=list)
    status: str = "running"           # running | done | stopped | failed
    error: str = ""
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def stop(self) -> None:
        self.stop_event.set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"rows": list(self.rows), "status": self.status, "error": self.error,
                    "budget_s": self.budget_s, "per_class": list(self.per_class),
                    "total": len(self.per_class) * len(MODELS)}


def start_race(budget_s: float = RACE_BUDGET_S, per_class: list[int] | tuple[int, ...] = RACE_PER_CLASS, *,
               on_row: Callable[[Row], None] | None = None, seed: int = 0,
               data: Dataset | None = None) -> Race:
    """:func:`run_race` in a daemon thread; knobs checked here, before it starts."""
    race = Race(float(budget_s), check(budget_s, list(per_class)))

    def keep(row: Row) -> None:
        with race.lock:
            race.rows.append(row)
        if on_row is not None:
            on_row(row)

    def work() -> None:
        try:
            run_race(race.budget_s, race.per_class, on_row=keep, stop=race.stop_event, seed=seed, data=data)
            status, error = ("stopped" if race.stop_event.is_set() else "done"), ""
        except Exception as e:  # noqa: BLE001 - the page shows the reason; the thread must end
            status, error = "failed", f"{type(e).__name__}: {e}"
        with race.lock:
            race.status, race.error = status, error

    race.thread = threading.Thread(target=work, name="race", daemon=True)
    race.thread.start()
    return race


__all__ = ["MODELS", "RACE_BUDGET_S", "RACE_PER_CLASS", "RACE_VAL", "Race", "accuracy", "race_data",
           "run_race", "start_race", "subset", "train_one"]
