"""A segment run through the app's one training loop, from the CLI: the U-Net on 32 px shapes
learns well beyond predicting background everywhere, writes the same run folder as a classify
run (config with its task, step and epoch lines with val_miou and val_dice, checkpoints that
record the task), stops on Ctrl-C and resumes to its end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from playground import export, models, runs
from playground.runs import store
from playground.tasks import task
from playground.tasks.segment import SegmentMetrics
from playground.training import RunConfig, TrainingError

ROOT = Path(__file__).resolve().parents[2]
DATA = ["--data", "shapes", "--shapes", "circle,square", "--image-size", "32", "--texture", "0",
        "--n-train", "768", "--n-val", "128", "--batch-size", "16"]


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "playground", "train", "--threads", "2", *args],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _background_miou() -> float:
    """The mIoU of a network that says "background" for every pixel of the same validation set."""
    cfg = {"name": "shapes", "classes": ["circle", "square"], "size": 32, "texture": 0.0,
           "n_train": 768, "n_val": 128, "seed": 0}
    ds = task("segment").load_data(cfg)
    m = SegmentMetrics(ds.num_classes)
    m.update(torch.zeros_like(ds.val_y), ds.val_y)
    return m.compute()["miou"]


def test_segment_run_from_the_cli_learns_stops_and_resumes(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    p = _cli("--task", "segment", *DATA, "--epochs", "4", "--runs-dir", str(root), "--progress", "epochs")
    deadline, run_dir = time.time() + 60, None
    while time.time() < deadline and run_dir is None:       # one epoch done: resume.pt written
        found = [d for d in root.glob("*") if (d / store.METRICS).exists()] if root.exists() else []
        if found and '"type": "epoch"' in (found[0] / store.METRICS).read_text():
            run_dir = found[0]
        time.sleep(0.1)
    assert run_dir is not None, p.stderr.read() if p.poll() is not None else "no epoch in 60 s"
    p.send_signal(signal.SIGINT)                            # Ctrl-C: stops at the next step
    out, err = p.communicate(timeout=60)
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["status"] == "stopped" and stopped["task"] == "segment", err
    assert runs.find_run(run_dir.name, root).can_resume

    r = _cli("--resume", run_dir.name, "--runs-dir", str(root), "--progress", "epochs")
    out, err = r.communicate(timeout=120)
    assert r.returncode == 0, err
    line = json.loads(out.strip().splitlines()[-1])
    assert line["status"] == "finished" and line["epochs"] == 4 and line["task"] == "segment"
    base = _background_miou()
    assert line["val_miou"] > base + 0.3, (line["val_miou"], base)
    assert 0 < line["val_dice"] <= 1 and "val mIoU" in err

    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["task"] == "segment" and "unet" in config["model"]
    steps, epochs, events = store.read_metrics(run_dir)
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4] and "resumed" in [ev["event"] for ev in events]
    assert all(0 <= e["val_miou"] <= 1 and 0 <= e["val_dice"] <= 1 and 0 <= e["train_acc"] <= 1 for e in epochs)
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))    # no step twice, none lost
    ck = torch.load(runs.checkpoint_path(run_dir, "best"), weights_only=True)
    assert ck["run"]["task"] == "segment" and ck["run"]["val_miou"] == max(e["val_miou"] for e in epochs)
    assert "unet" in ck["spec"]
    assert not (run_dir / store.ANALYSIS).exists()         # no classification report for masks
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(root))   # Classify / Look inside offer classifiers only
    assert runs.list_runs() and not [e for e in models.run_entries() if run_dir.name in e.key]
    with pytest.raises(export.ExportError, match="segment run"):
        export.export_run(run_dir, tmp_path / "export")


def test_a_task_is_validated_and_segment_refuses_image_only_augmentation():
    try:
        RunConfig(task="track").validate()
    except TrainingError as e:
        assert "classify, segment, detect" in str(e)
    else:
        raise AssertionError("an unknown task passed")
    cfg = RunConfig(task="segment", model={"unet": {}})
    cfg.validate()
    cfg.augment["hflip"] = True
    try:
        cfg.validate()
    except TrainingError as e:
        assert "mask" in str(e)
    else:
        raise AssertionError("a flipped image without its flipped mask passed")


def test_the_coach_judges_a_segment_run_by_miou_not_pixel_accuracy():
    """Pixel accuracy flatters a segmenter (background is most pixels): a finished segment run's
    verdict names mIoU and never calls the run healthy on its pixel accuracy."""
    from playground.training import diagnose
    steps = [{"step": i, "loss": 2.0 - i / 100} for i in range(1, 101)]
    epochs = [{"epoch": 1, "step": 100, "train_loss": 1.2, "val_loss": 1.1, "val_acc": 0.88,
               "val_miou": 0.37, "val_dice": 0.44}]
    advice = diagnose(steps, epochs, 9, status="finished")
    assert [a.kind for a in advice] == ["segment_done"]
    assert "mIoU 0.37" in advice[0].text and "Healthy" not in advice[0].title
    classify = diagnose(steps, [{k: v for k, v in epochs[0].items() if k not in ("val_miou", "val_dice")}],
                        9, status="finished")
    assert [a.kind for a in classify] == ["good"]
