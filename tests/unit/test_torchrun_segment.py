"""A segment run on two processes (``torchrun --nproc_per_node=2 -m playground train --task
segment``, gloo on this CPU): one run folder, val_miou in every epoch line, and the validation
figures those lines hold (mIoU, Dice, pixel accuracy) equal to one process evaluating the saved
network on the same images (each rank validates its slice; torchmetrics sums its states over the
ranks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground import checkpoints
from playground.runs import store
from playground.tasks import TASKS
from playground.training import evaluate

ROOT = Path(__file__).resolve().parents[2]
DATA = ["--data", "shapes", "--shapes", "circle,square", "--image-size", "32", "--texture", "0",
        "--n-train", "256", "--n-val", "64", "--batch-size", "32"]


def test_torchrun_segment_run_writes_one_run_folder_with_gathered_miou(tmp_path):
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "playground", "train", "--task", "segment", *DATA, "--epochs", "2", "--threads", "1",
           "--runs-dir", str(root), "--progress", "epochs"]
    p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout.strip().splitlines()
    assert len(out) == 1, out                                   # rank 0 alone prints its line
    line = json.loads(out[0])
    assert line["task"] == "segment" and line["status"] == "finished" and 0 < line["val_miou"] <= 1
    folders = [d for d in root.iterdir() if (d / store.CONFIG).exists()]
    assert [d.name for d in folders] == [line["run_id"]]        # one run folder
    run_dir = folders[0]
    assert store.read_status(run_dir)["world_size"] == 2
    _, epochs, _ = store.read_metrics(run_dir)
    assert [e["epoch"] for e in epochs] == [1, 2] and all("val_miou" in e and "val_dice" in e for e in epochs)

    # the gathered figures = one process evaluating the last checkpoint on the same images
    ck = checkpoints.load_checkpoint(run_dir / "last.pt", any_task=True)
    cfg = json.loads((run_dir / store.CONFIG).read_text())["config"]
    task = TASKS["segment"]
    ds = task.load_data(cfg["data"])
    s = evaluate.scores(ck.model, ds.val_x, ds.val_y, ck.mean, ck.std, task.make_loss(task.default_loss),
                        task.metrics(ds.num_classes))
    last = epochs[-1]
    assert s["images"] == 64 and s["miou"] == pytest.approx(last["val_miou"], abs=1e-6)
    assert s["dice"] == pytest.approx(last["val_dice"], abs=1e-6)
    assert s["acc"] == pytest.approx(last["val_acc"], abs=1e-9)
    # the loss alone differs a little: Dice's ratio is over a batch's pixels, and the batches
    # differ (two ranks' 32 images against one process's 64): measured 1.8376 vs 1.8396
    assert s["loss"] == pytest.approx(last["val_loss"], rel=0.02)
