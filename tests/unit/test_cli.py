"""``python -m playground`` / ``cnn-playground``: trains with RunConfig's defaults (which learn),
writes the run folder, reports progress per epoch into a pipe and in place on a terminal, ends
with one JSON line; ``app`` starts the Streamlit app."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from playground import checkpoints, cli, runs
from playground.tasks import TASKS
from playground.training import RunConfig
from tests.unit.test_training import tiny_spec

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def test_cli_json_line_in_a_subprocess(tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec()))
    out = subprocess.run(
        [sys.executable, "-m", "playground", "train", "--data", "shapes", "--shapes", "circle,cross",
         "--texture", "0", "--n-train", "600", "--n-val", "200", "--model", str(spec), "--epochs", "2",
         "--batch-size", "16", "--optimizer", "adam", "--lr", "3e-3", "--schedule", "cosine",
         "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "--name", "from the cli"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("run_dir", "val_acc", "val_loss", "epochs", "seconds", "images_per_second"):
        assert line[key] is not None, key
    assert line["epochs"] == 2 and line["status"] == "finished" and 0.5 <= line["val_acc"] <= 1
    assert "epoch 2" in out.stderr  # progress went to stderr
    run_dir = Path(line["run_dir"])
    info = runs.find_run(run_dir.name, tmp_path / "runs")   # the app sees it
    assert info.name == "from the cli" and info.status == "finished"
    assert info.summary["val_acc"] == line["val_acc"]
    assert checkpoints.load_checkpoint(run_dir / "best.pt").class_names == ["circle", "cross"]


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buf, "PNG")
    return buf.getvalue()


def test_cli_folder_of_class_folders_in_process(tmp_path, capsys):
    folder = tmp_path / "pets"
    for c, col in (("cats", (220, 40, 40)), ("dogs", (40, 40, 220))):
        (folder / c).mkdir(parents=True)
        for i in range(12):
            (folder / c / f"{i}.png").write_bytes(_png(tuple(max(0, v - 5 * i) for v in col)))
    code = cli.main(["train", "--data", str(folder), "--image-size", "16", "--model", "mnist_simple_cnn",
                     "--epochs", "2", "--batch-size", "8", "--lr", "1e-2", "--runs-dir", str(tmp_path / "runs"),
                     "--quiet"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and line["status"] == "finished"
    ck = checkpoints.load_checkpoint(Path(line["run_dir"]) / "last.pt")
    assert ck.class_names == ["cats", "dogs"] and ck.input_shape == (3, 16, 16)


def test_cli_refuses_unknown_model(tmp_path):
    with pytest.raises(SystemExit, match="not a preset"):
        cli.main(["train", "--model", "no_such_net", "--runs-dir", str(tmp_path)])


def test_cli_offline_dataset_fails_with_the_folder(tmp_path, capsys):
    code = cli.main(["train", "--data", "mnist", "--data-root", str(tmp_path / "d"), "--no-download",
                     "--model", "mnist_simple_cnn", "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1 and line["status"] == "failed"
    assert str(tmp_path / "d" / "MNIST" / "raw") in line["error"]


# -- one set of defaults, and they learn ------------------------------------------------------------
def test_cli_defaults_are_run_config_defaults():
    """No arguments: the CLI trains exactly RunConfig() (the page's start is checked against
    the same RunConfig() in tests/app/test_train.py)."""
    args = cli.parser().parse_args(["train"])
    assert cli.run_config(args) == RunConfig() == RunConfig.for_task("classify")
    fields = RunConfig().to_dict()
    for dest in ("device", "seed"):
        assert getattr(args, dest) == fields[dest], dest
    assert {k: getattr(args, k) for k in RunConfig().augment} == RunConfig().augment


@pytest.mark.parametrize("task", list(TASKS))
def test_cli_defaults_of_every_task_are_run_config_for_task(task):
    """`train --task T` with nothing else trains exactly RunConfig.for_task(T), the task's own
    numbers (Task.run_defaults: segment's epochs, lr, images) not overwritten by argparse; a
    number given on the command line wins over the task's."""
    args = cli.parser().parse_args(["train", "--task", task])
    want = RunConfig.for_task(task)
    assert cli.run_config(args) == want
    for name, value in TASKS[task].run_defaults.items():
        assert (want.data if name == "data" else getattr(want, name)) == (
            {**want.data, **value} if name == "data" else value), name
    given = cli.run_config(cli.parser().parse_args(["train", "--task", task, "--epochs", "2", "--lr", "0.1"]))
    assert (given.epochs, given.lr) == (2, 0.1) and given == RunConfig.for_task(task, epochs=2, lr=0.1)


def test_cli_three_epochs_on_shapes_reach_90_percent_with_a_line_per_epoch(tmp_path):
    """`python -m playground train --data shapes --epochs 3` with every other setting at its
    default reaches >= 90% validation accuracy (92.7%, ~30-60 s on 2 CPU cores). Into a pipe the
    progress is one line per epoch, never a carriage return."""
    out = subprocess.run(
        [sys.executable, "-m", "playground", "train", "--data", "shapes", "--epochs", "3",
         "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["status"] == "finished" and line["epochs"] == 3
    assert line["val_acc"] >= 0.90, line
    assert "\r" not in out.stderr
    assert [ln.split(":")[0] for ln in out.stderr.splitlines() if ln.startswith("epoch ")] == \
        ["epoch 1/3", "epoch 2/3", "epoch 3/3"]


def _tiny_run_args(tmp_path: Path) -> list[str]:
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec()))
    return ["train", "--data", "shapes", "--shapes", "circle,cross", "--texture", "0", "--n-train", "400",
            "--n-val", "100", "--model", str(spec), "--epochs", "2", "--batch-size", "8", "--optimizer",
            "adam", "--lr", "3e-3", "--schedule", "none", "--threads", "1", "--runs-dir", str(tmp_path / "runs")]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_cli_on_a_terminal_updates_one_line_in_place(tmp_path):
    """stderr on a (pseudo-)terminal: the status line is rewritten with \\r; the finished epochs
    stay on their own lines; stdout still ends with the JSON line."""
    import threading

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "playground", *_tiny_run_args(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=slave, text=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:   # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(10)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["status"] == "finished"
    assert "\r[" in err                        # the status line, rewritten in place
    assert "epoch 1/2:" in err and "epoch 2/2:" in err


def test_cli_progress_can_be_forced_in_place(tmp_path, capsys):
    code = cli.main([*_tiny_run_args(tmp_path), "--progress", "inplace"])
    err = capsys.readouterr().err
    assert code == 0 and "\repoch 1/2:" in err and err.count("\n") >= 3


def test_cli_app_runs_streamlit_on_the_checkouts_app(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, cwd=None: calls.append((cmd, cwd)) or 0)
    assert cli.main(["app", "--server.port", "8600"]) == 0
    (cmd, cwd), = calls
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert cmd[4] == str(ROOT / "app.py") and cmd[5:] == ["--server.port", "8600"] and cwd == ROOT


def test_cli_app_outside_a_checkout_says_where_the_app_is(monkeypatch, capsys):
    from playground import paths

    monkeypatch.setattr(paths, "IS_CHECKOUT", False)
    assert cli.main(["app"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_run_config_for_task_refuses_an_unknown_task_in_words():
    from playground.training import TrainingError

    with pytest.raises(TrainingError, match="Unknown task 'colour'; choose classify"):
        RunConfig.for_task("colour")
    seg = RunConfig.for_task("segment", epochs=3, lr=None)    # None: the task's own value
    assert (seg.epochs, seg.lr) == (3, RunConfig.for_task("segment").lr)
    assert seg.model == TASKS["segment"].default_model() and seg.data["name"] == TASKS["segment"].default_data
