"""The data-efficiency race's plot data: a tiny CNN (the baseline) and a tiny ViT, the same
training time each, on a range of images per class of the shapes (playground.race).

    python bench/bench_race.py [--budget 30] [--per-class 10,30,100,300,1000] [--quick]

Prints one row per model and size as it finishes, then the plot's data as one JSON line (the
budget included) and, per size, the ViT's accuracy as a ratio of the CNN's measured in the same
run. ``--quick``: 5 s each on 10, 100 and 1,000 per class. Models run in turns (CNN, then ViT,
per size), so a busy machine slows both alike; each row also says how many steps it managed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground import race  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=race.RACE_BUDGET_S)
    ap.add_argument("--per-class", default=",".join(map(str, race.RACE_PER_CLASS)))
    ap.add_argument("--quick", action="store_true", help="5 s each on 10, 100 and 1,000 per class")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    budget, sizes = (5.0, [10, 100, 1000]) if a.quick else (a.budget, [int(v) for v in a.per_class.split(",")])
    print(f"race: {budget:g} s per model and size, sizes {sizes}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    t0 = time.perf_counter()
    rows = race.run_race(budget, sizes, seed=a.seed, on_row=lambda r: print(
        f"{r['images_per_class']:>5} per class  {r['model']:<9} val_acc {r['val_acc']:.3f}  "
        f"{r['steps']:>5} steps in {r['seconds']:.1f} s", flush=True))
    print(f"whole race: {time.perf_counter() - t0:.0f} s")
    print(json.dumps({"budget_s": budget, "rows": rows}))
    by = {(r["images_per_class"], r["model"]): r for r in rows}
    for k in sizes:
        cnn, vit = by[(k, "Tiny CNN")], by[(k, "Tiny ViT")]
        print(f"{k:>5} per class: ViT / CNN accuracy {vit['val_acc'] / max(cnn['val_acc'], 1e-9):.2f}x, "
              f"steps {vit['steps'] / max(cnn['steps'], 1):.2f}x")


if __name__ == "__main__":
    main()
