"""Run folders that survive anything: hostile files make a run "damaged" (never a crash of the
listing, the page's reads or the CLI), failed writes end a run as failed with no temporary file
left, and one live process owns a run through its lock file."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground import cli, runs, training
from playground.runs import lock, store
from tests.unit.test_training import quick_config, wait_for

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
GOOD_EPOCH = {"type": "epoch", "epoch": 1, "step": 5, "val_acc": 0.5, "val_loss": 0.7,
              "train_loss": 0.8, "train_acc": 0.5}


def make_run(root: Path, name: str, status: str = "finished", created: float = 1.0, **files) -> Path:
    """A run folder with good files, any of them replaced by ``files`` (name -> bytes, or None
    to leave it out, or "DIR" for a directory in its place)."""
    d = root / name
    d.mkdir(parents=True)
    good = {"config.json": json.dumps({"id": name, "created": created, "config": {"name": name}}).encode(),
            "status.json": json.dumps({"status": status, "pid": 1, "heartbeat": 0.0}).encode(),
            "metrics.jsonl": (json.dumps({"type": "step", "step": 1, "loss": 0.9}) + "\n" +
                              json.dumps(GOOD_EPOCH) + "\n").encode()}
    for fname, content in {**good, **{k.replace("_", "."): v for k, v in files.items()}}.items():
        if content == "DIR":
            (d / fname).mkdir()
        elif content is not None:
            (d / fname).write_bytes(content)
    return d


def cli_runs(root: Path, capsys) -> list[dict]:
    assert cli.main(["runs", "--runs-dir", str(root)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


HOSTILE = {
    "status is a list": {"status_json": b"[1,2,3]"},
    "config's config is a list": {"config_json": json.dumps({"id": "x", "created": 2.0, "config": [1]}).encode()},
    "config's name is a number": {"config_json": json.dumps({"created": 2.0, "config": {"name": 5}}).encode()},
    "binary garbage in metrics": {"metrics_jsonl": b'{"type": "step", "step": 1, "loss": 1.0}\n\xff\xfe\x00garbage\n'},
    "a step whose loss is text": {"metrics_jsonl": b'{"type": "step", "step": 1, "loss": "low"}\n'},
    "status missing": {"status_json": None},
    "config is a directory": {"config_json": "DIR"},
    "metrics is a directory": {"metrics_jsonl": "DIR"},
    "status is binary": {"status_json": os.urandom(256)},
    "progress holds text": {"status_json": json.dumps({"status": "stopped", "progress": {"epoch": "x"}}).encode()},
    "status unknown": {"status_json": json.dumps({"status": "exploded"}).encode()},
    "config nested 100,000 deep": {"config_json": b"[" * 100_000 + b"]" * 100_000},
    "a 5,000-digit created": {"config_json": b'{"created": ' + b"9" * 5000 + b', "config": {}}'},
}


@pytest.mark.parametrize("files", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_file_makes_a_damaged_run_and_the_rest_works(tmp_path, capsys, files):
    good = make_run(tmp_path, "20260101-000000-good-aaaa", created=10.0)
    bad = make_run(tmp_path, "20260101-000001-bad-bbbb", created=5.0, **files)
    found = {r.id: r for r in runs.list_runs(tmp_path)}
    assert set(found) == {good.name, bad.name}
    assert found[good.name].status == "finished" and found[good.name].summary["val_acc"] == 0.5
    info = found[bad.name]
    assert info.status == "damaged" and info.problem and not info.can_resume and not info.remote
    assert str(tmp_path) not in info.problem                     # words, no server paths
    assert runs.STATUSES["damaged"].going is False
    assert runs.read_run(bad).status == "damaged"
    view = runs.load_view(info)                                   # the Training page's reads
    assert view["status"] == "damaged" and view["error"] == info.problem and isinstance(view["config"], dict)
    runs.read_metrics(bad)
    assert runs.read_analysis(bad) == (None, None)
    listed = {r["id"]: r for r in cli_runs(tmp_path, capsys)}
    assert listed[bad.name]["status"] == "damaged" and listed[bad.name]["problem"] == info.problem
    assert listed[good.name]["status"] == "finished"
    with pytest.raises(training.TrainingError, match="damaged"):
        runs.Registry(tmp_path).resume(bad.name)


def test_a_half_written_last_line_is_no_damage(tmp_path):
    d = make_run(tmp_path, "r", metrics_jsonl=(json.dumps(GOOD_EPOCH) + '\n{"type": "st').encode())
    info = runs.read_run(d)
    assert info.status == "finished" and info.summary["epochs"] == 1
    assert runs.read_metrics(d)[1] == [GOOD_EPOCH]


def test_a_folder_of_no_run_is_skipped(tmp_path):
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "x.zip").write_bytes(b"PK")
    assert runs.list_runs(tmp_path) == []


def test_hostile_analysis_is_not_drawn(tmp_path):
    d = make_run(tmp_path, "r")
    for bad in ([1, 2], {"class_names": ["a", "b"], "confusion": [[1]], "per_class_acc": [1, 1], "wrong": []},
                {"class_names": ["a", "b"], "confusion": [[1, 0], [0, 1]], "per_class_acc": [1, 1],
                 "wrong": [{"true": 7, "pred": 0, "confidence": 0.9}]}):
        (d / "analysis.json").write_text(json.dumps(bad))
        assert runs.read_analysis(d) == (None, None)
    ok = {"class_names": ["a", "b"], "confusion": [[1, 0], [0, 1]], "per_class_acc": [1, 1], "wrong": []}
    (d / "analysis.json").write_text(json.dumps(ok))
    (d / "wrong.pt").write_bytes(b"not a checkpoint")
    assert runs.read_analysis(d) == (ok, None)


# -- writes that fail ----------------------------------------------------------------------------
def full_disk(monkeypatch, after: int = 0, code: int = errno.ENOSPC):
    """store.write_text writes half the bytes then fails like a full disk, from call ``after`` on."""
    real, calls = store.write_text, [0]

    def write_text(path, text):
        calls[0] += 1
        if calls[0] > after:
            Path(path).write_text(text[: len(text) // 2])
            raise OSError(code, os.strerror(code), str(path))
        real(path, text)
    monkeypatch.setattr(store, "write_text", write_text)
    return calls


def no_tmp_left(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_read_only_runs_folder_refuses_before_the_run_starts(tmp_path, monkeypatch):
    full_disk(monkeypatch, code=errno.EROFS)
    with pytest.raises(training.TrainingError, match="Read-only file system") as e:
        runs.Registry(tmp_path).start(quick_config())
    assert str(tmp_path) not in str(e.value)
    assert list(tmp_path.iterdir()) == []        # no half-made run folder, no temporary file


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes read-only folders")
def test_really_read_only_runs_folder(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(training.TrainingError, match="Can't start the run"):
            runs.Registry(tmp_path).start(quick_config())
    finally:
        tmp_path.chmod(0o755)


def test_disk_full_while_training_ends_the_run_failed(tmp_path, monkeypatch):
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=2))
    calls = full_disk(monkeypatch, after=0)           # every later write fails
    assert reg.wait(rid, 120)
    run = reg.get(rid)
    assert run.status == "failed" and "No space left on device" in run.error
    assert str(tmp_path) not in run.error
    assert calls[0] >= 1 and no_tmp_left(tmp_path)
    # on disk it still says queued/running (nothing could be written), yet nobody sees it going
    info = runs.find_run(rid, tmp_path)
    assert info.status == "failed" and "No space" in info.error
    assert wait_for(lambda: not (info.dir / lock.LOCK).exists(), timeout=10)


def test_disk_full_in_metrics_ends_the_run_failed(tmp_path, monkeypatch):
    def write(self, obj, flush=False):
        raise store.write_error(store.METRICS, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    monkeypatch.setattr(store.MetricsLog, "write", write)
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=1))
    assert reg.wait(rid, 120)
    info = runs.find_run(rid, tmp_path)
    assert info.status == "failed" and "metrics.jsonl" in info.error and "No space" in info.error
    assert no_tmp_left(tmp_path)


# -- one writer per run --------------------------------------------------------------------------
HOLD = "import sys, time; from playground.runs import lock; lock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(60)"


def test_a_run_locked_by_a_live_process_is_its_own(tmp_path):
    d = make_run(tmp_path, "20260101-000000-q-abcd", status="queued")   # stale heartbeat (0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(d)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        info = runs.list_runs(tmp_path)[0]
        assert info.status == "queued" and info.remote        # queued, not interrupted
        with pytest.raises(training.TrainingError, match="Another process"):
            runs.Registry(tmp_path).resume(d.name)
        with pytest.raises(runs.RunLocked):
            lock.acquire(d)
        cmd = [sys.executable, "-m", "playground", "train", "--resume", d.name, "--runs-dir", str(tmp_path)]
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and "Another process" in out.stderr and "Traceback" not in out.stderr
        assert json.loads((d / "status.json").read_text())["status"] == "queued"
    finally:
        holder.kill()
        holder.wait()
    assert runs.list_runs(tmp_path)[0].status == "interrupted"   # its owner is gone
    lock.acquire(d)                                               # a stale lock is taken over
    assert lock.owner(d)["pid"] == os.getpid()
    lock.release(d)
    assert not (d / lock.LOCK).exists()


def test_a_recycled_pid_is_not_the_owner(tmp_path):
    d = make_run(tmp_path, "r", status="running")
    start = lock.process_start(os.getppid())
    if start is None:
        pytest.skip("no process start times here")
    # a live pid (our parent) with another start time: the process that took the lock is gone
    (d / lock.LOCK).write_text(json.dumps({"pid": os.getppid(), "start": start + 1}))
    assert lock.owner(d) is None
    assert runs.read_run(d).status == "interrupted"


def test_the_trainer_holds_the_lock_while_it_trains(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=1))
    d = tmp_path / rid
    assert lock.owner(d)["pid"] == os.getpid()
    assert reg.wait(rid, 120) and reg.get(rid).status == "finished"
    assert wait_for(lambda: not (d / lock.LOCK).exists(), timeout=10)   # given back after the run
