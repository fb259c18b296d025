"""The app's training path against the course's plain loop, in one process.

Same network, same generated data, same batch size, optimizer, learning rate, augmentation
(random crop with 2 px padding + horizontal flip) and torch threads:

- app:    playground.training: the data decoded once into a uint8 tensor, each batch indexed
          from it and augmented as whole-batch tensor ops (playground.data.augment);
- course: a torchvision-style Dataset of PIL images with transforms (RandomCrop, RandomHorizontalFlip,
          ToTensor, Normalize) and a DataLoader, the loop from the course notebooks.

Prints images/s of each and the time each takes to reach a target validation accuracy, and the
ratios, both by wall clock and by CPU time (process_time: what this process computed, much less
disturbed by other programs on a shared machine than wall time). Whole runs alternate (app, course, app, course ...) so the slow phases of a shared machine
hit both alike; figures are noisy there, the ratios are the point.

    python bench/bench_training.py [--n-train 8000] [--epochs 6] [--target 0.8] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from playground import data as data_mod, networks, training  # noqa: E402
from playground.training import Run, RunConfig  # noqa: E402
from scripts.train_default_model import SPEC  # noqa: E402


class ShapesPIL(torch.utils.data.Dataset):
    """The course's way: one PIL image per item, transformed one at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def course_loop(ds: data_mod.Dataset, epochs: int, bs: int, lr: float, seed: int) -> list[dict]:
    import torchvision.transforms as T

    torch.manual_seed(seed)
    model = networks.build(networks.adapt(SPEC, ds.input_shape, ds.num_classes))
    train_tf = T.Compose([T.RandomCrop(32, padding=2, padding_mode="reflect"), T.RandomHorizontalFlip(),
                          T.ToTensor(), T.Normalize(ds.mean, ds.std)])
    val_tf = T.Compose([T.ToTensor(), T.Normalize(ds.mean, ds.std)])
    train_loader = torch.utils.data.DataLoader(ShapesPIL(ds.train_x, ds.train_y, train_tf), batch_size=bs,
                                               shuffle=True, drop_last=True)
    val_loader = torch.utils.data.DataLoader(ShapesPIL(ds.val_x, ds.val_y, val_tf), batch_size=512)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    crit = nn.CrossEntropyLoss()
    out, clock, cpu_clock = [], 0.0, 0.0
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        c0 = time.process_time()
        seen = 0
        for x, y in train_loader:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            seen += len(y)
        train_s = time.perf_counter() - t0
        train_cpu = time.process_time() - c0
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((model(x).argmax(1) == y).sum())
        clock += time.perf_counter() - t0
        cpu_clock += time.process_time() - c0
        out.append({"epoch": epoch + 1, "ips": seen / train_s, "ips_cpu": seen / train_cpu,
                     "val_acc": correct / len(ds.val_y), "clock": clock, "cpu_clock": cpu_clock})
    return out


def app_loop(ds: data_mod.Dataset, epochs: int, bs: int, lr: float, seed: int) -> list[dict]:
    cfg = RunConfig(name="bench", model={"spec": SPEC}, optimizer="adam", lr=lr, weight_decay=0.0,
                    batch_size=bs, epochs=epochs, schedule="none", seed=seed,
                    augment={"crop": 2, "hflip": True, "rotate": 0, "jitter": 0, "erase": 0})
    stamps: list[tuple[int, float]] = []   # (step, process CPU seconds) after every step
    c_start = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        run = Run("bench", Path(tmp) / "bench", cfg, dataset=ds)
        run.start_files()
        training.train(run, on_progress=lambda r: stamps.append((r.progress["step"], time.process_time())))
        c_end = time.process_time()
    if run.status != "finished":
        raise SystemExit(f"app run {run.status}: {run.error}\n{run.error_detail}")
    spe = run.info["steps_per_epoch"]
    rows = []
    for e in run.epochs:   # CPU time of an epoch's steps 2..last (the first step's start has no stamp)
        first, last = stamps[(e["epoch"] - 1) * spe], stamps[e["epoch"] * spe - 1]
        cpu_train = (last[1] - first[1]) * spe / max(spe - 1, 1)
        # cumulative CPU clock at the epoch's end: up to the next epoch's first step (validation
        # and checkpoints included), the run's end for the last epoch
        nxt = stamps[e["epoch"] * spe][1] if e["epoch"] * spe < len(stamps) else c_end
        rows.append({"epoch": e["epoch"], "ips": e["images_per_second"], "ips_cpu": spe * bs / cpu_train,
                     "val_acc": e["val_acc"], "clock": e["elapsed"], "cpu_clock": nxt - c_start})
    return rows


def first_reaching(rows: list[dict], target: float, key: str = "clock") -> float | None:
    for r in rows:
        if r["val_acc"] >= target:
            return r[key]
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="app training path vs the course's DataLoader loop")
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--target", type=float, default=0.5, help="validation accuracy to reach")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2, help="alternate app/course this many times")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = data_mod.load_data({"name": "shapes", "n_train": args.n_train, "n_val": args.n_val, "seed": 0})
    print(f"data: generated shapes, {args.n_train:,} train / {args.n_val:,} val, 32x32, {ds.num_classes} classes; "
          f"model: default Shapes CNN; batch {args.batch_size}, Adam lr {args.lr:g}, crop+flip; "
          f"{args.threads} torch threads")
    apps, courses = [], []
    for r in range(args.rounds):   # alternate whole runs so slow phases of a shared machine hit both
        apps.append(app_loop(ds, args.epochs, args.batch_size, args.lr, 0))
        courses.append(course_loop(ds, args.epochs, args.batch_size, args.lr, 0))
        a_ips = sum(e["ips_cpu"] for e in apps[-1]) / len(apps[-1])
        c_ips = sum(e["ips_cpu"] for e in courses[-1]) / len(courses[-1])
        accs = lambda run: ", ".join(format(e["val_acc"], ".0%") for e in run)  # noqa: E731
        print(f"round {r + 1}: app {a_ips:,.0f} images per CPU-second (val acc by epoch "
              f"{accs(apps[-1])}), course {c_ips:,.0f} (val acc {accs(courses[-1])})", flush=True)
    def mean(runs_, key):
        return sum(e[key] for run in runs_ for e in run) / sum(len(run) for run in runs_)

    for key, what in (("ips", "wall-clock"), ("ips_cpu", "per CPU-second")):
        a, c = mean(apps, key), mean(courses, key)
        print(f"training images/s ({what}): app {a:,.0f}, course loop {c:,.0f}, ratio app/course {a / c:.2f}x")
    for key, what in (("clock", "wall-clock"), ("cpu_clock", "CPU")):
        a_t = [first_reaching(run, args.target, key) for run in apps]
        c_t = [first_reaching(run, args.target, key) for run in courses]
        fmt = lambda ts: ", ".join("not reached" if t is None else f"{t:.1f} s" for t in ts)  # noqa: E731
        line = f"time to {args.target:.0%} val acc ({what}): app {fmt(a_t)}; course loop {fmt(c_t)}"
        ok_a, ok_c = [t for t in a_t if t is not None], [t for t in c_t if t is not None]
        if ok_a and ok_c:
            ma, mc = sorted(ok_a)[len(ok_a) // 2], sorted(ok_c)[len(ok_c) // 2]
            line += f"; ratio course/app {mc / ma:.2f}x (app faster when > 1)"
        print(line)
    print("note: shared 2-core machine; figures are noisy, the ratios measured in the same process are the point")
    return 0


if __name__ == "__main__":
    sys.exit(main())
