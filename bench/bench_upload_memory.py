"""Memory of loading a zip of tiny images at a large input size, against its decoded size.

A 176 KB zip of 1,000 images took the server from 984 MB to 4,553 MB; a 3.5 MB zip of 19,999
8x8 PNGs at 224 px peaked at 23.7 GB. The decoded data itself is images x C x H x W bytes; the
library should hold about that once. Each measurement is a fresh process that first loads a
4-image zip the same way (so that lazy imports, e.g. torchvision's transforms on the first
resize, ~160 MB, are not counted as data), then resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``) and measures, above its RSS just before the load:

- peak: the highest RSS during the load (``VmHWM``; where the mark can't be reset, ``ru_maxrss``,
  which also counts the imports' peak: the figure is then an upper bound);
- held: the RSS after it, with the dataset alive.

Two loads: baseline, one uint8 tensor of the decoded size allocated and filled (the floor);
load, ``load_own`` on the zip at ``--size`` px (scan, decode, split, statistics). Prints both, the
ratios to the decoded size (near 1 is the goal; the peak adds the statistics' float32 working
chunk, ``STATS_CHUNK_BYTES``), then the time a zip over ``MAX_DECODED_BYTES`` takes to be refused.

    python bench/bench_upload_memory.py [--n 3000] [--size 224]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import gc, io, json, resource, sys, time, zipfile
import numpy as np, torch
from PIL import Image
from playground.data import DataError, load_own

def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) << 10 for l in fh if l.startswith(key))

def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where it can't be."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return status("VmHWM") <= status("VmRSS") + (8 << 20)
    except OSError:
        return False

def make_zip(n):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(png, "PNG")
            zf.writestr(f"c{i % 2}/{i}.png", png.getvalue())
    return buf.getvalue()

mode, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = make_zip(n)
decoded = n * 3 * size * size
load_own({"path": make_zip(4), "size": min(size, 1024)})   # lazy imports happen here
gc.collect()
exact = reset_peak()
before, t0, out = status("VmRSS"), time.time(), {}
if mode == "baseline":
    x = torch.empty((n, 3, size, size), dtype=torch.uint8)
    x.fill_(7)
else:
    try:
        ds = load_own({"path": data, "size": size})
        out["shape"] = list(ds.train_x.shape[1:])
    except DataError as e:
        out["refused"] = str(e)
held = status("VmRSS") - before
peak = status("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
out.update(growth=peak - before, held=held, exact=exact, decoded=decoded,
           seconds=time.time() - t0, zip_bytes=len(data))
print(json.dumps(out))
'''


def measure(mode: str, n: int, size: int) -> dict:
    """One fresh process: ``mode`` "baseline" or "load" on a zip of ``n`` 8x8 PNGs at ``size``."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PLAYGROUND_DATA_DIR": cache, "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": "1"}
        res = subprocess.run([sys.executable, "-c", CHILD, mode, str(n), str(size)], env=env,
                             capture_output=True, text=True, timeout=600, cwd=ROOT)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    from playground.data.dataset import STATS_CHUNK_BYTES

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    mb = lambda b: f"{b / 2**20:,.0f} MB"  # noqa: E731
    base = measure("baseline", a.n, a.size)
    load = measure("load", a.n, a.size)
    dec = load["decoded"]
    how = "VmHWM reset before the load" if load["exact"] else "ru_maxrss: an upper bound"
    print(f"{a.n:,} 8x8 PNGs ({load['zip_bytes'] / 1024:,.0f} KB zip) at {a.size} px: decoded "
          f"size {mb(dec)}; peak from {how}")
    print(f"  baseline (one tensor filled): peak {mb(base['growth'])}, held {mb(base['held'])}")
    print(f"  load_own:                     peak {mb(load['growth'])}, held {mb(load['held'])} "
          f"in {load['seconds']:.1f} s")
    print(f"  held / decoded size: {load['held'] / dec:.2f}x; peak / decoded size: "
          f"{load['growth'] / dec:.2f}x (peak - decoded: {mb(load['growth'] - dec)}, the statistics' "
          f"float32 chunk is {mb(STATS_CHUNK_BYTES)}); load peak / baseline peak: "
          f"{load['growth'] / max(base['growth'], 1):.2f}x")
    over = measure("load", a.n, 1024)
    print(f"  at 1024 px ({mb(over['decoded'])}): refused in {over['seconds']:.2f} s, peak growth "
          f"{mb(over['growth'])}: {over.get('refused', 'NOT REFUSED')[:100]}")


if __name__ == "__main__":
    main()
