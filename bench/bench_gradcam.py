"""Grad-CAM's cost against one forward pass of the same model, on the CPU.

    python bench/bench_gradcam.py [--model resnet18] [--size 224] [--repeats 10] [--all]

resnet18 (random weights: the arithmetic is the same as with ImageNet's) on one 224 x 224 image.
The baseline is one plain forward pass in eval mode under torch.no_grad(), measured in the same
process. Grad-CAM (playground.explain.grad_cam: captum's LayerGradCam at layer4, then
LayerAttribution.interpolate) needs a forward and a backward pass with gradients kept, plus the
top-class forward when no target is given; the ratio says what that costs. ``--all`` adds the
other attribution methods of the Inside page.
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

from playground import explain  # noqa: E402


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turns (one round = each once) so that a busy
    machine slows baseline and contenders alike."""
    for fn in fns.values():
        fn()  # warm-up (allocations, captum imports, oneDNN kernels)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="also time the other attribution methods")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model, weights=None).eval()
    x = torch.randn(1, 3, args.size, args.size)
    layer = explain.default_cam_layer(model, tuple(x.shape[1:]))
    target = explain.top_class(model, x)

    def forward():
        with torch.no_grad():
            model(x)

    fns = {"forward pass (no_grad)": forward,
           "Grad-CAM, given class": lambda: explain.grad_cam(model, x, target, layer),
           "Grad-CAM, top class (default)": lambda: explain.grad_cam(model, x)}
    res = interleaved(fns, args.repeats)
    base = res["forward pass (no_grad)"]
    print(f"{args.model} on one {args.size}x{args.size} image, CPU, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} interleaved rounds; Grad-CAM at {layer}")
    for name, t in res.items():
        print(f"  {name:<31} {t * 1000:8.1f} ms   {t / base:5.2f}x forward")
    if args.all:
        slow = {m: (lambda m=m: explain.attribute(m, model, x, target, layer))
                for m in ("Guided Grad-CAM", "Saliency", "Integrated Gradients", "Occlusion")}
        slow = {"forward pass (no_grad)": forward, **slow}
        res = interleaved(slow, max(1, args.repeats // 5))
        base = res["forward pass (no_grad)"]
        for name, t in list(res.items())[1:]:
            print(f"  {name:<31} {t * 1000:8.1f} ms   {t / base:5.2f}x forward")


if __name__ == "__main__":
    main()
