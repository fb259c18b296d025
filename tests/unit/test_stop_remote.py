"""Stop on a run another process trains: SIGINT, then SIGTERM when the run is still going a few
seconds later (a CLI run started in the background ignores SIGINT), and it says what happened."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from playground import runs

CHILD = """
import signal, sys, time
for name in sys.argv[1:]:
    signal.signal(getattr(signal, name), signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def _remote_run(tmp_path, *ignored: str):
    """A run folder 'trained' by a child process that ignores the named signals."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *ignored], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    d = tmp_path / "20260101-000000-bg-abcd"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"id": d.name, "created": 1.0, "config": {"name": "bg"}}))
    (d / "status.json").write_text(json.dumps({"status": "running", "pid": proc.pid,
                                               "heartbeat": time.time()}))
    info = runs.find_run(d.name, tmp_path)
    assert info.status == "running" and info.remote and info.pid == proc.pid
    return proc, info


@pytest.fixture
def cleanup():
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def test_stop_escalates_when_sigint_is_ignored(tmp_path, cleanup):
    proc, info = _remote_run(tmp_path, "SIGINT")
    cleanup.append(proc)
    t0 = time.monotonic()
    said = runs.stop_remote(info, grace_s=0.5)
    assert proc.wait(5) == -15                  # ended by SIGTERM, not left running
    assert time.monotonic() - t0 < 5
    assert "didn't answer Stop" in said and "interrupted" in said and "/" not in said


def test_stop_that_is_heard_says_so(tmp_path, cleanup):
    proc, info = _remote_run(tmp_path)            # default SIGINT: KeyboardInterrupt, exits
    cleanup.append(proc)
    said = runs.stop_remote(info, grace_s=2.0)
    assert proc.wait(5) != 0 and said.startswith("Stopped")


def test_stop_that_fails_says_so(tmp_path, cleanup):
    proc, info = _remote_run(tmp_path, "SIGINT", "SIGTERM")
    cleanup.append(proc)
    said = runs.stop_remote(info, grace_s=0.3)
    assert proc.poll() is None and "didn't stop" in said and str(proc.pid) in said


def test_stop_of_a_run_nobody_trains(tmp_path):
    d = tmp_path / "20260101-000000-done-abcd"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"id": d.name, "created": 1.0, "config": {"name": "x"}}))
    (d / "status.json").write_text(json.dumps({"status": "finished"}))
    said = runs.stop_remote(runs.find_run(d.name, tmp_path))
    assert "nothing to stop" in said


def test_lr_chart_of_steps_without_a_learning_rate():
    """A run folder's step records may lack "lr" (read, never trusted): the chart has a gap."""
    from playground.figures.training import live_lr
    fig = live_lr([{"type": "step", "step": 1, "loss": 0.9},
                  {"type": "step", "step": 2, "loss": 0.8, "lr": "high"},
                  {"type": "step", "step": 3, "loss": 0.7, "lr": 1e-3}])
    assert list(fig.data[0].y) == [None, None, 1e-3]
