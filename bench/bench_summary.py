"""How long the inspector's summary takes, against a plain forward of the same model in the
same process.

For each model: ``summarize`` (meta device: hooks, the receptive-field tracer and
FlopCounterMode) against (a) a plain meta forward with no instrumentation and (b) a real CPU
forward of one image (what a summary tool that runs the model for real would pay, before any
instrumentation). Median of a few runs each.

    .venv/bin/python bench/bench_summary.py [--repeat 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402

from playground import networks  # noqa: E402
from playground.summary import summarize  # noqa: E402


def median_time(fn, repeat: int) -> float:
    fn()                                   # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = [(name, (3, 224, 224)) for name in
             ["resnet18", "resnet50", "vgg16", "mobilenet_v2", "efficientnet_b0", "convnext_tiny"]]
    cases += [(f"preset:{k}", tuple(networks.PRESETS[k]["input_shape"]))
              for k in ("simple_cnn_cifar10", "small_resnet")]
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), median of {args.repeat}")
    print(f"{'model':28s} {'rows':>5s} {'summarize':>10s} {'meta fwd':>9s} {'CPU fwd':>9s} "
          f"{'vs meta':>8s} {'vs CPU':>7s}")
    for name, shape in cases:
        if name.startswith("preset:"):
            spec = networks.preset(name.split(":", 1)[1])
            cpu_model = networks.build(spec).eval()
            with torch.device("meta"):
                meta_model = networks.build(spec).eval()
        else:
            spec = {"torchvision": name, "input_shape": list(shape)}
            with torch.device("meta"):
                meta_model = torchvision.models.get_model(name).eval()
            cpu_model = torchvision.models.get_model(name).eval()
        x_meta = torch.empty((1, *shape), device="meta")
        x_cpu = torch.randn((1, *shape))
        rows = len(summarize(meta_model, shape).rows)
        t_sum = median_time(lambda: summarize(meta_model, shape), args.repeat)
        with torch.no_grad():
            t_meta = median_time(lambda: meta_model(x_meta), args.repeat)
            t_cpu = median_time(lambda: cpu_model(x_cpu), args.repeat)
        print(f"{name:28s} {rows:5d} {t_sum * 1e3:8.1f}ms {t_meta * 1e3:7.1f}ms {t_cpu * 1e3:7.1f}ms "
              f"{t_sum / t_meta:7.1f}x {t_sum / t_cpu:6.2f}x")


if __name__ == "__main__":
    main()
