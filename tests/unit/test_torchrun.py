"""One run on two processes: ``torchrun --nproc_per_node=2 -m playground train`` on this CPU
(gloo), started the way the app starts it (runs/launch.py) and from a terminal; stopped with
SIGINT to the torchrun group and resumed under torchrun."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from playground import checkpoints, runs
from playground.data import data_config, load_data
from playground.runs import launch, store
from playground.training import RunConfig, logits, loss_and_accuracy

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ["circle", "square", "triangle", "cross"]
# 2,000 plain shapes of 4 classes, batches of 32 (16 a rank), 3 epochs: measured 75.2% under
# torchrun with 2 processes, 75.8% in one process (same settings, same 62 steps an epoch).
DATA = data_config("shapes", n_train=2000, n_val=500, texture=0.0, classes=SHAPES)
FLOOR = 0.6


def _wait(job: launch.Job, timeout: float) -> int:
    deadline = time.time() + timeout
    while job.returncode is None and time.time() < deadline:
        time.sleep(0.2)
    assert job.returncode is not None, "torchrun did not end"
    return job.returncode


def _records(run_dir: Path) -> tuple[list[dict], list[dict]]:
    lines = [json.loads(x) for x in (run_dir / store.METRICS).read_text().splitlines()]
    return [r for r in lines if r["type"] == "step"], [r for r in lines if r["type"] == "epoch"]


def test_torchrun_two_processes_train_one_run_from_the_apps_launcher(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    ln = launch.Launcher(root, gpu_count=0, per_gpu=1)     # this CPU: gloo
    rid = ln.submit(RunConfig(name="two ranks", data=DATA, epochs=3), 2)
    job = ln.get(rid)
    assert job.where == "CPU"
    assert _wait(job, 240) == 0, (job.dir / launch.LOG).read_text()[-3000:]
    assert [d.name for d in root.iterdir() if (d / store.CONFIG).exists()] == [rid]   # one run folder
    cfg, status = store.read_config(job.dir), store.read_status(job.dir)
    assert cfg["world_size"] == 2 and status["world_size"] == 2 and status["info"]["world_size"] == 2
    assert status["status"] == "finished" and status["info"]["gpus"] == []
    steps, epochs = _records(job.dir)
    numbers = [s["step"] for s in steps]
    assert numbers == list(range(1, 3 * 62 + 1))        # each step once, the same steps as 1 process
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and epochs[-1]["val_acc"] >= FLOOR
    info = runs.find_run(rid, root)                      # the app lists it like any CLI run
    assert info.status == "finished" and info.name == "two ranks" and not info.remote
    # validation gathered over the ranks = one process evaluating the last checkpoint
    ck = checkpoints.load_checkpoint(job.dir / "last.pt")
    ds = load_data(cfg["config"]["data"])
    loss, acc = loss_and_accuracy(logits(ck.model, ds.val_x, ck.mean, ck.std), ds.val_y)
    assert abs(acc - epochs[-1]["val_acc"]) < 1e-6 and abs(loss - epochs[-1]["val_loss"]) < 1e-4
    assert "epoch 3/3" in (job.dir / launch.LOG).read_text()


def _torchrun(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "playground", "train", *args, "--progress", "epochs"]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_torchrun_stops_on_sigint_and_resumes(tmp_path):
    root = tmp_path / "runs"
    args = ["--data", "shapes", "--n-train", "1000", "--n-val", "500", "--texture", "0",
            "--shapes", ",".join(SHAPES), "--epochs", "30", "--runs-dir", str(root)]
    p = _torchrun(*args)
    deadline, run_dir = time.time() + 120, None
    while time.time() < deadline and run_dir is None:       # one epoch done: resume.pt written
        found = [d for d in root.glob("*") if (d / store.METRICS).exists()] if root.exists() else []
        if found and '"type": "epoch"' in (found[0] / store.METRICS).read_text():
            run_dir = found[0]
        time.sleep(0.1)
    assert run_dir is not None, p.stderr.read() if p.poll() is not None else "no epoch in 120 s"
    os.killpg(p.pid, signal.SIGINT)                         # Ctrl-C in torchrun's terminal
    out, err = p.communicate(timeout=90)
    line = json.loads(out.strip().splitlines()[-1])         # rank 0 alone prints its line
    assert line["status"] == "stopped" and len(out.strip().splitlines()) == 1, err
    info = runs.find_run(run_dir.name, root)
    assert info.status == "stopped" and info.can_resume and not info.remote
    assert not (run_dir / "lock.json").exists() and (run_dir / "resume.pt").exists()
    stopped_at = store.read_status(run_dir)["progress"]["step"]

    r = _torchrun("--resume", run_dir.name, "--runs-dir", str(root))
    time.sleep(0)
    deadline = time.time() + 120
    while time.time() < deadline:                           # a few steps after the resume point
        steps, _ = _records(run_dir)
        if any(s["step"] > stopped_at + 5 for s in steps) and (run_dir / "lock.json").exists():
            break
        time.sleep(0.1)
    info = runs.find_run(run_dir.name, root)
    assert info.status == "running" and info.remote         # the app follows it, trained elsewhere
    assert "Stopped" in runs.stop_remote(info)              # the app's Stop: SIGINT to rank 0 only
    out, err = r.communicate(timeout=90)
    assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped", err
    steps, epochs = _records(run_dir)
    numbers = [s["step"] for s in steps]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers[-1] > stopped_at   # cut back, once each
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    assert store.read_status(run_dir)["world_size"] == 2
    assert torch.load(run_dir / "resume.pt", weights_only=True)["epoch"] >= 1
