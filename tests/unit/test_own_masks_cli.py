"""A learner's own masks from the CLI: ``python -m playground train --task segment --data
masks.zip`` trains on a zip of ``images/`` and ``masks/`` (a bad pair is named, with why, and
skipped); a zip without masks/, or whose every mask holds a value beyond the classes, is refused
in words (exit 2)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _pair(i: int, value: int | None = None) -> tuple[bytes, bytes]:
    """A 32 px photo with a red (class 1) or blue (class 2) square, and its mask."""
    rng = np.random.default_rng(i)
    img = (200 + rng.integers(-30, 30, (32, 32, 3))).clip(0, 255).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    cls = 1 + i % 2
    x, y, s = (int(v) for v in rng.integers(2, 14, 3) + np.array([0, 0, 4]))
    img[y:y + s, x:x + s] = (220, 30, 30) if cls == 1 else (30, 30, 220)
    mask[y:y + s, x:x + s] = cls if value is None else value
    return _png(img), _png(mask)


def _zip(path: Path, n: int, *, masks: bool = True, value: int | None = None, bad: int = 0) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("classes.txt", "background\nred\nblue\n")
        for i in range(n):
            img, mask = _pair(i, 7 if i < bad else value)
            zf.writestr(f"images/p{i}.png", img)
            if masks:
                zf.writestr(f"masks/p{i}.png", mask)
    return str(path)


def _train(data: str, root: Path, *more: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "playground", "train", "--task", "segment", "--data", data,
           "--runs-dir", str(root), "--threads", "1", "--progress", "epochs", *more]
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                          capture_output=True, timeout=240)


def test_train_segment_on_a_zip_of_images_and_masks(tmp_path):
    data = _zip(tmp_path / "masks.zip", 48, bad=1)     # p0's mask holds 7: named and skipped
    p = _train(data, tmp_path / "runs", "--epochs", "2", "--batch-size", "16")
    assert p.returncode == 0, p.stderr[-2000:]
    line = json.loads(p.stdout.strip().splitlines()[-1])
    assert line["task"] == "segment" and line["status"] == "finished" and 0 < line["val_miou"] <= 1
    assert "1 files skipped: masks/p0.png: the mask holds the value 7, beyond the classes (0 to 2)" in p.stderr
    cfg = json.loads((Path(line["run_dir"]) / "config.json").read_text())
    info = json.loads((Path(line["run_dir"]) / "status.json").read_text())["info"]
    assert cfg["config"]["data"]["name"] == "zip" and info["classes"] == ["background", "red", "blue"]
    assert info["n_train"] + info["n_val"] == 47


def test_a_zip_without_masks_or_with_every_value_beyond_the_classes_is_refused(tmp_path):
    p = _train(_zip(tmp_path / "nomasks.zip", 4, masks=False), tmp_path / "runs")
    assert p.returncode == 2 and "has no masks/ folder" in p.stderr and "Traceback" not in p.stderr
    p = _train(_zip(tmp_path / "beyond.zip", 4, value=9), tmp_path / "runs")
    assert p.returncode == 2 and "No usable image and mask pair" in p.stderr
    assert "the mask holds the value 9, beyond the classes (0 to 2)" in p.stderr and "Traceback" not in p.stderr
