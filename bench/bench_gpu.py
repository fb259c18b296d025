"""The app's training loop against a tuned eager reference loop, on the same model, data and batch.

- app:       playground.training (a real run, its folder in a temporary directory), compile "off";
- reference: the lean loop a GPU engineer writes: the uint8 data on the device, each batch indexed
             there, channels-last, fused AdamW, cudnn.benchmark, bf16 autocast where the GPU has it
             (else fp16 with a grad scaler; none on the CPU), OneCycle like the app;
- compiled:  both again with the step's forward in torch.compile (mode "reduce-overhead": CUDA
             graphs; the app through RunConfig(compile="on")).

The shapes network at 32 px, 50,000 generated images, batch 512 by default. Images/s are over
the epochs after the first (the first holds cudnn's search and the compile), and each row's ratio
is against the eager reference measured in the same process.

    python bench/bench_gpu.py                       # CUDA: the figure issue 12 asks for
    python bench/bench_gpu.py --device cpu --quick  # proves it runs; CPU figures mean little
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
from torch import nn  # noqa: E402

from playground import networks  # noqa: E402
from playground.data import Dataset, data_config, load_data, normalize  # noqa: E402
from playground.training import Run, RunConfig, train  # noqa: E402


def app_loop(ds: Dataset, device: str, epochs: int, bs: int, compiled: bool) -> float:
    """Images/s of the app's loop over epochs 2..last."""
    cfg = RunConfig(name="bench", data=data_config("shapes"), batch_size=bs, epochs=epochs, device=device,
                    compile="on" if compiled else "off")
    with tempfile.TemporaryDirectory() as tmp:
        run = Run("bench", Path(tmp) / "bench", cfg, dataset=ds)
        run.start_files()
        train(run)
    if run.status != "finished":
        raise SystemExit(f"app run {run.status}: {run.error}\n{run.error_detail}")
    if "failed" in run.message or any("failed" in str(e) for e in run.events):
        print(f"  note: {run.message}")
    later = run.epochs[1:]
    return sum(e["images_per_second"] for e in later) / len(later)


def reference_loop(ds: Dataset, device: str, epochs: int, bs: int, compiled: bool) -> float:
    """Images/s of the tuned eager (or compiled) loop over epochs 2..last."""
    dev = torch.device(device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    spec = networks.adapt(networks.preset("shapes_cnn"), ds.input_shape, ds.num_classes)
    model = networks.build(spec).to(dev, memory_format=torch.channels_last)
    fwd = torch.compile(model, mode="reduce-overhead" if dev.type == "cuda" else None) if compiled else model
    x_all, y_all = ds.train_x.to(dev), ds.train_y.to(dev)          # uint8 (N, C, H, W), int64 (N,)
    spe = x_all.shape[0] // bs
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * spe + 1)
    bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    amp_dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda" and not bf16)
    crit = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        perm = torch.randperm(x_all.shape[0], device=dev)
        t0 = time.perf_counter()
        for i in range(spe):
            idx = perm[i * bs:(i + 1) * bs]
            xb = normalize(x_all[idx].float().div_(255), ds.mean, ds.std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=dev.type == "cuda"):
                loss = crit(fwd(xb).float(), y_all[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    later = times[1:]
    return spe * bs * len(later) / sum(later)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="app loop vs a tuned eager reference loop (GPU speed)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n-train", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=3, help="at least 2: the first is warm-up")
    ap.add_argument("--no-compile", action="store_true", help="leave out the compiled rows")
    ap.add_argument("--quick", action="store_true", help="4,096 images, batch 128, 2 epochs: a check that it runs")
    a = ap.parse_args(argv)
    if a.quick:
        a.n_train, a.batch_size, a.epochs = 4096, 128, 2
    a.epochs = max(2, a.epochs)
    t = time.perf_counter()
    ds = load_data(data_config("shapes", n_train=a.n_train, n_val=1000))
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "CPU"
    print(f"{name}: shapes network, {a.n_train:,} images of 32x32, batch {a.batch_size}, "
          f"{a.epochs} epochs (data made in {time.perf_counter() - t:.1f} s)")
    rows = [("reference, eager", reference_loop(ds, a.device, a.epochs, a.batch_size, False)),
            ("app, eager", app_loop(ds, a.device, a.epochs, a.batch_size, False))]
    if not a.no_compile:
        rows += [("reference, compiled", reference_loop(ds, a.device, a.epochs, a.batch_size, True)),
                 ("app, compiled", app_loop(ds, a.device, a.epochs, a.batch_size, True))]
    base = rows[0][1]
    for label, ips in rows:
        print(f"  {label:<22} {ips:>12,.0f} images/s   {ips / base:5.2f}x the eager reference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
