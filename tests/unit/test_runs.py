"""playground.runs: run folders survive a killed process; a run trained by another process is
seen live, then marked interrupted when that process dies, and resumes from its checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from playground import runs
from tests.unit.test_training import tiny_spec, wait_for

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, epochs: int, *extra: str) -> subprocess.Popen:
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec()))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "playground", "train", "--data", "shapes", "--shapes", "circle,cross",
         "--texture", "0", "--n-train", "1200", "--n-val", "300", "--model", str(spec),
         "--optimizer", "adam", "--lr", "3e-3", "--schedule", "none", "--weight-decay", "0",
         "--batch-size", "16", "--epochs", str(epochs), "--threads", "1",
         "--runs-dir", str(tmp_path / "runs"), "--quiet", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_run_is_interrupted_then_resumes(tmp_path):
    proc = _cli(tmp_path, epochs=3)
    root = tmp_path / "runs"
    try:
        def one_epoch_done():
            found = runs.list_runs(root)
            return bool(found) and found[0].last_checkpoint is not None and found[0].summary.get("epochs")
        assert wait_for(one_epoch_done, timeout=240, every=0.2), proc.stderr.read() if proc.poll() is not None else ""
        info = runs.list_runs(root)[0]
        # trained by another process: seen as running, live through its heartbeat
        assert info.status == "running" and info.remote and info.pid == proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    steps_before, epochs_before, _ = runs.read_metrics(info.dir)
    assert epochs_before and len(steps_before) >= epochs_before[-1]["step"]
    after = runs.list_runs(root)
    assert [r.id for r in after] == [info.id]
    r = after[0]
    assert r.status == "interrupted" and not r.remote and r.can_resume
    assert json.loads((r.dir / "status.json").read_text())["status"] == "interrupted"
    assert r.summary["epochs"] == epochs_before[-1]["epoch"]  # metrics intact
    # a new process (here: this one) resumes it from last.pt / resume.pt
    reg = runs.Registry(root)
    reg.resume(r.id)
    run = reg.get(r.id)
    assert run.done.wait(180) and run.status == "finished", run.error_detail
    steps, epochs, events = runs.read_metrics(r.dir)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [s["step"] for s in steps] == list(range(1, 3 * (1200 // 16) + 1))
    assert runs.find_run(r.id, root).status == "finished"


def test_dead_process_status_is_interrupted(tmp_path):
    d = tmp_path / "20260101-000000-x-abcd"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"id": d.name, "created": 1.0, "config": {"name": "x"}}))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (d / "status.json").write_text(json.dumps({"status": "running", "pid": sleeper.pid,
                                                   "heartbeat": time.time()}))
        info = runs.list_runs(tmp_path)[0]
        assert info.status == "running" and info.remote
        # a stale heartbeat means the process is not training any more (hung or pid reused)
        (d / "status.json").write_text(json.dumps({"status": "running", "pid": sleeper.pid,
                                                   "heartbeat": time.time() - 600}))
        assert runs.list_runs(tmp_path)[0].status == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()
    (d / "status.json").write_text(json.dumps({"status": "running", "pid": sleeper.pid,
                                               "heartbeat": time.time()}))
    info = runs.list_runs(tmp_path)[0]
    assert info.status == "interrupted" and info.name == "x" and info.summary == {}
    assert json.loads((d / "status.json").read_text())["status"] == "interrupted"


def test_runs_dir_and_default_model_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert runs.runs_dir() == tmp_path / "elsewhere"
    assert runs.list_runs() == []
    assert runs.registry().root == tmp_path / "elsewhere"
    from playground import models, paths
    assert models.default_model_path() == paths.DEFAULT_MODEL == ROOT / "playground" / "assets" / "default_model.pt"
