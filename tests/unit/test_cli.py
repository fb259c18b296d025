"""``python -m playground train``: trains, writes the run folder, ends with one JSON line."""
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
