"""How fast the conv-arithmetic page can answer a knob, against the obvious ways to do it.

1. Output shape + parameters + MACs of one layer: `analyze` runs the real module on the `meta`
   device under `torch.utils.flop_counter`; baseline: the same module on a real CPU tensor.
2. The sliding-kernel figure (16x16 grid, 196 positions): frames as plain dicts (what the page
   does); baseline: one validated `go.Frame` per position.

Prints figures; run with `python bench/bench_arithmetic.py` (or `make bench`).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import plotly.graph_objects as go  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from playground import arithmetic as ar  # noqa: E402
from playground.figures import conv as cf  # noqa: E402


def best_of(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    torch.set_num_threads(1)
    # ------------------------------------------------------------------ 1. one layer
    layer = ar.Layer("Conv2d", 224, 224, 64, 64, 3, 1, 1, batch=8)

    def on_meta():
        ar.analyze(layer)

    def on_cpu():
        m = layer.module("cpu")
        x = torch.randn(layer.batch, layer.in_channels, layer.in_h, layer.in_w)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            y = m(x)
        return tuple(y.shape), sum(p.numel() for p in m.parameters()), fc.get_total_flops() // 2

    rep = ar.analyze(layer)
    assert (rep.output_shape, rep.params, rep.macs) == on_cpu()   # same answer both ways
    t_meta, t_cpu = best_of(on_meta), best_of(on_cpu, 3)
    print(f"layer {layer.code()} on {tuple(rep.input_shape)}: {rep.macs:,} MACs")
    print(f"  analyze on meta device : {t_meta * 1e3:8.2f} ms")
    print(f"  baseline, real CPU run : {t_cpu * 1e3:8.2f} ms   ({t_cpu / t_meta:,.0f}x slower)")

    # ------------------------------------------------------------------ 2. sliding figure
    image, kernel = ar.random_values(16, 16, 3, 3)
    s = ar.slide(image, kernel)

    def fast():
        return cf.sliding_figure(s).to_json()

    def validated():
        fig = cf.sliding_figure(s)
        d = fig.to_dict()
        return go.Figure(data=d["data"], layout=d["layout"],
                         frames=[go.Frame(**f) for f in d["frames"]]).to_json()

    t_fast, t_val = best_of(fast, 3), best_of(validated, 2)
    print(f"sliding figure, 16x16 input, {len(s.steps)} positions:")
    print(f"  raw-dict frames (page) : {t_fast * 1e3:8.1f} ms")
    print(f"  baseline, go.Frame     : {t_val * 1e3:8.1f} ms   ({t_val / t_fast:.1f}x slower)")


if __name__ == "__main__":
    main()
