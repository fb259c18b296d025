"""Your own data, end to end: ``python -m playground train --data digits.zip`` with no other flags
against the course's plain loop on the same zip, each timed as a whole process (a subprocess:
interpreter start, imports, reading the zip, training, validating).

- digits.zip: the 10,000 real MNIST test digits (``$MNIST_RAW`` or /work/shared/data/MNIST/raw,
  or ``../shared/data/MNIST/raw`` beside the repository) written as 28x28 gray PNGs, one folder
  per class (``0/`` ... ``9/``), the way a learner's zip of class folders looks;
- app: the CLI's defaults (the data's inferred shape, the proposed network, RunConfig's numbers);
- course: the course notebook's loop: the zip extracted, ``torchvision.datasets.ImageFolder`` with
  Grayscale + ToTensor + Normalize, a random 80/20 split, ``DataLoader`` batch 64, its 5k-param
  SimpleCNN (conv 1->8, conv 8->16, 2x2 max-pools, fc 400 -> 10), Adam 1e-3, 5 epochs.

Prints validation accuracy and seconds of each, and the ratio course / app (the goal: the app
reaches >= 97% in at most half the course's time, i.e. a ratio >= 2). A second app run on the
same zip shows the decode cache (the decoded tensors are kept by the zip's content hash).

    python bench/bench_own_data.py [--repeat 1]
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW_CANDIDATES = [os.environ.get("MNIST_RAW") or "", "/work/shared/data/MNIST/raw",
                  str(ROOT.parent / "shared" / "data" / "MNIST" / "raw")]

COURSE = r'''
import sys, time, zipfile, tempfile
t0 = time.time()
import torch, torchvision.transforms as T
from torch import nn
from torchvision.datasets import ImageFolder
torch.manual_seed(0)
root = tempfile.mkdtemp()
zipfile.ZipFile(sys.argv[1]).extractall(root)
tf = T.Compose([T.Grayscale(), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
ds = ImageFolder(root, transform=tf)
n_val = len(ds) // 5
train, val = torch.utils.data.random_split(ds, [len(ds) - n_val, n_val])
tl = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
vl = torch.utils.data.DataLoader(val, batch_size=256)

class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16 * 5 * 5, 10)
    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))

model = SimpleCNN()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(5):
    model.train()
    for x, y in tl:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in vl:
            correct += int((model(x).argmax(1) == y).sum()); total += len(y)
    print(f"epoch {epoch + 1}: val acc {correct / total:.4f}", file=sys.stderr)
print(f"RESULT {correct / total:.4f} {time.time() - t0:.2f}")
'''


def raw_dir() -> Path:
    for c in RAW_CANDIDATES:
        if c and (Path(c) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(c)
    raise SystemExit("MNIST test digits not found: set MNIST_RAW to a folder holding "
                     "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")


def make_digits_zip(path: Path) -> int:
    """The MNIST test digits as PNGs in class folders; returns the number of images."""
    import numpy as np
    from PIL import Image

    raw = raw_dir()
    images = np.frombuffer(gzip.open(raw / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(raw / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    images = images.reshape(-1, 28, 28)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i, (img, lab) in enumerate(zip(images, labels)):
            buf = io.BytesIO()
            Image.fromarray(img, "L").save(buf, "PNG")
            zf.writestr(f"{lab}/{i:05d}.png", buf.getvalue())
    return len(labels)


CPU: list[float] = []     # CPU seconds (user + system) of the last subprocess


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of a subprocess; its CPU seconds appended to CPU (what it
    computed: much less disturbed than wall time by other programs on a shared machine)."""
    cpu0, t0 = _children_cpu(), time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.time() - t0
    CPU.append(_children_cpu() - cpu0)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{out.stderr[-3000:]}")
    return seconds, out.stdout


def run_app(zip_path: Path, env: dict[str, str], runs: Path) -> tuple[float, float]:
    seconds, stdout = timed([sys.executable, "-m", "playground", "train", "--data", str(zip_path),
                             "--runs-dir", str(runs), "--quiet"], env)
    result = json.loads(stdout.strip().splitlines()[-1])
    return float(result["val_acc"]), seconds


def run_course(zip_path: Path, env: dict[str, str]) -> tuple[float, float]:
    seconds, stdout = timed([sys.executable, "-c", COURSE, str(zip_path)], env)
    acc = float(stdout.split("RESULT")[-1].split()[0])
    return acc, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="alternate app/course runs this many times")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        zip_path = tmp / "digits.zip"
        n = make_digits_zip(zip_path)
        print(f"digits.zip: {n:,} PNG digits, {zip_path.stat().st_size / 2**20:.1f} MB")
        # a fresh decode cache, so the first app run decodes the zip like a learner's first run
        env = {**os.environ, "PLAYGROUND_DATA_DIR": str(tmp / "data-cache"), "PYTHONPATH": str(ROOT)}
        cache = tmp / "data-cache"
        for r in range(a.repeat):
            if r:   # later repeats start cold again
                subprocess.run(["rm", "-rf", str(cache)])
            if cache.exists():
                raise SystemExit(f"{cache} exists: the first app run would not decode the zip")
            app_acc, app_s = run_app(zip_path, env, tmp / "runs")
            app_cpu = CPU[-1]
            made = sorted(p.name for p in cache.rglob("*") if p.is_file())
            if not made:
                raise SystemExit(f"the first app run left nothing in {cache}: did it decode there?")
            print(f"decode cache: none before the first app run; after it: {', '.join(made)}")
            course_acc, course_s = run_course(zip_path, env)
            course_cpu = CPU[-1]
            warm_acc, warm_s = run_app(zip_path, env, tmp / "runs")
            warm_cpu = CPU[-1]
            print(f"app    (CLI defaults, first run):  val acc {app_acc:.2%}  {app_s:6.1f} s "
                  f"({app_cpu:5.1f} CPU s)")
            print(f"app    (second run, cached decode): val acc {warm_acc:.2%}  {warm_s:6.1f} s "
                  f"({warm_cpu:5.1f} CPU s)")
            print(f"course (ImageFolder + DataLoader):  val acc {course_acc:.2%}  {course_s:6.1f} s "
                  f"({course_cpu:5.1f} CPU s)")
            print(f"ratio course / app, wall: {course_s / app_s:.2f}x (first run), "
                  f"{course_s / warm_s:.2f}x (cached); CPU: {course_cpu / app_cpu:.2f}x, "
                  f"{course_cpu / warm_cpu:.2f}x; goal >= 2x at >= 97%: "
                  f"{'met' if app_acc >= 0.97 and course_s / app_s >= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
