"""Detection: decoding and NMS on hand-made grid outputs, the responsible cell, the loss, the
metrics against torchmetrics' own result, the grid detector's knobs, the YOLO-label zip's
validation, and a detect run from the CLI (JSON line with val_map50 and val_map, resume, a
resumed run that keeps its task)."""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from playground.data import DataError
from playground.networks.grid import STRIDE, GridDetector
from playground.tasks import TASKS, detect
from playground.tasks.labels import read_labels

ROOT = Path(__file__).resolve().parents[2]
C = 2           # classes in the hand-made outputs
S = 8           # cells: a 64 px image


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _outputs(objects: list[tuple[int, int, int, float, float, float, float, float]]) -> torch.Tensor:
    """(1, S, S, 5 + C) outputs with every cell empty but ``objects``: (row, col, class, score,
    x offset in the cell, y offset, w, h as fractions of the image)."""
    out = torch.zeros(1, S, S, 5 + C)
    out[..., 0] = -20.0
    for row, col, cls, p, ox, oy, w, h in objects:
        out[0, row, col, 0] = _logit(p)
        out[0, row, col, 1:5] = torch.tensor([_logit(ox), _logit(oy), _logit(w), _logit(h)])
        out[0, row, col, 5 + cls] = 20.0
    return out


def _encode(targets: torch.Tensor, classes: int, side: int) -> torch.Tensor:
    """Perfect outputs for targets (N, K, 5): each object on its responsible cell, exact box."""
    n, cells = targets.shape[0], side // STRIDE
    obj, boxes, cls = detect.assign(targets, cells, side)
    out = torch.zeros(n, cells, cells, 5 + classes)
    out[..., 0] = torch.where(obj > 0, 20.0, -20.0)
    col = torch.arange(cells).view(1, 1, -1)
    row = torch.arange(cells).view(1, -1, 1)
    frac = torch.stack([boxes[..., 0] * cells - col, boxes[..., 1] * cells - row, boxes[..., 2], boxes[..., 3]], -1)
    out[..., 1:5] = torch.logit(frac.clamp(1e-6, 1 - 1e-6))
    out[..., 5:] = torch.nn.functional.one_hot(cls.clamp_min(0), classes) * 40.0 - 20.0
    return out


# ---------------------------------------------------------------------------------------------
# Decoding and NMS
# ---------------------------------------------------------------------------------------------
def test_two_overlapping_boxes_of_one_class_keep_one_and_of_two_classes_both():
    # neighbouring cells, boxes half the image wide: IoU 0.6 > NMS_IOU 0.5
    same = _outputs([(3, 3, 0, 0.9, 0.5, 0.5, 0.5, 0.5), (3, 4, 0, 0.8, 0.5, 0.5, 0.5, 0.5)])
    before = detect.candidates(same)[0]
    after = detect.decode(same)[0]
    assert len(before["boxes"]) == 2 and len(after["boxes"]) == 1
    assert after["scores"][0] == pytest.approx(0.9, abs=1e-3)               # the better one stays
    assert after["boxes"][0].tolist() == pytest.approx([12.0, 12.0, 44.0, 44.0], abs=1e-3)   # pixels
    assert after["cells"][0].tolist() == [3, 3]
    two = _outputs([(3, 3, 0, 0.9, 0.5, 0.5, 0.5, 0.5), (3, 4, 1, 0.8, 0.5, 0.5, 0.5, 0.5)])
    assert sorted(detect.decode(two)[0]["labels"].tolist()) == [0, 1]
    loose = detect.decode(same, iou_threshold=0.7)[0]                     # the slider re-decodes
    assert len(loose["boxes"]) == 2


def test_a_box_below_the_score_threshold_is_dropped_and_image_size_scales():
    out = _outputs([(1, 1, 0, 0.2, 0.5, 0.5, 0.25, 0.25), (6, 6, 1, 0.9, 0.5, 0.5, 0.25, 0.25)])
    kept = detect.decode(out, score_threshold=0.3)[0]
    assert kept["labels"].tolist() == [1]
    assert len(detect.decode(out, score_threshold=0.1)[0]["boxes"]) == 2
    big = detect.decode(out, image_size=(128, 256))[0]["boxes"][0]          # (H, W) of the photo
    assert big.tolist() == pytest.approx([6.5 / 8 * 256 - 32, 6.5 / 8 * 128 - 16,
                                          6.5 / 8 * 256 + 32, 6.5 / 8 * 128 + 16], abs=1e-3)
    pred = detect.predict(out, ["circle", "square"])[0]["detections"]
    assert [d["label"] for d in pred] == ["square"] and len(pred[0]["box"]) == 4


def test_the_responsible_cell_holds_the_box_centre():
    t = torch.tensor([[[1, 10, 10, 30, 20, ], [0, 40, 50, 60, 64], [-1, 0, 0, 0, 0]]], dtype=torch.float32)
    obj, boxes, cls = detect.assign(t, 8, 64)
    assert obj.sum() == 2 and obj[0, 1, 2] == 1 and obj[0, 7, 6] == 1     # centres (20, 15), (50, 57)
    assert cls[0, 1, 2] == 1 and cls[0, 7, 6] == 0 and (cls >= 0).sum() == 2
    assert boxes[0, 1, 2].tolist() == pytest.approx([20 / 64, 15 / 64, 20 / 64, 10 / 64])


# ---------------------------------------------------------------------------------------------
# Loss and metrics
# ---------------------------------------------------------------------------------------------
def _scene_targets(n=6):
    return TASKS["detect"].load_data({"name": "scenes", "n_train": n, "n_val": 2, "classes": ["circle", "square"]})


def test_the_loss_is_near_zero_on_perfect_outputs_and_learns_from_random_ones():
    ds = _scene_targets()
    perfect = _encode(ds.train_y, 2, 64)
    for name in detect.LOSSES:
        loss = detect.make_loss(name)
        assert float(loss(perfect, ds.train_y)) < 0.05, name
        rand = torch.randn_like(perfect, requires_grad=True)
        value = loss(rand, ds.train_y)
        value.backward()
        assert float(value.detach()) > 1 and rand.grad.abs().sum() > 0
    heavy = detect.make_loss("yolo", lambda_noobj=5.0)(torch.zeros_like(perfect), ds.train_y)
    assert float(heavy) > float(detect.make_loss("yolo")(torch.zeros_like(perfect), ds.train_y))
    with pytest.raises(DataError, match="lambda_coord"):
        detect.make_loss("yolo", lambda_box=2.0)
    with pytest.raises(DataError, match="choose yolo, giou"):
        detect.make_loss("focal")


def test_the_metrics_agree_with_torchmetrics_and_a_perfect_prediction_scores_one():
    from torchmetrics.detection import MeanAveragePrecision

    ds = _scene_targets()
    perfect = _encode(ds.train_y, 2, 64)
    m = detect.metrics(2)
    m.update(perfect, ds.train_y)
    assert m.compute() == {"map50": pytest.approx(1.0), "map": pytest.approx(1.0)}
    # a fixed imperfect case: boxes shifted and one class wrong, against torchmetrics by hand
    found = detect.decode(perfect, detect.METRIC_SCORE_THRESHOLD)
    for i, f in enumerate(found):
        f["boxes"] = f["boxes"] + torch.tensor([3.0, -2.0, 5.0, 1.0]) * (i % 3)
        f["scores"] = f["scores"] * (1 - 0.1 * i)
    found[1]["labels"] = 1 - found[1]["labels"]
    ours = detect.metrics(2)
    ours.update(found, ds.train_y)
    ref = MeanAveragePrecision(box_format="xyxy", iou_type="bbox")
    ref.update([{k: f[k] for k in ("boxes", "scores", "labels")} for f in found], detect.truth(ds.train_y))
    r = ref.compute()
    got = ours.compute()
    assert got["map50"] == pytest.approx(float(r["map_50"])) and got["map"] == pytest.approx(float(r["map"]))
    assert 0 < got["map"] < got["map50"] < 1


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------
def test_the_grid_detector_its_knobs_and_its_spec():
    model, spec, shape = detect.build_network({"grid": {}}, (3, 64, 64), 8)
    assert 150_000 < sum(p.numel() for p in model.parameters()) < 300_000     # width 16: ~0.22M
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 8, 8, 13) and spec["cells"] == 8
    again, _, _ = detect.build_network(spec, tuple(spec["input_shape"]), 8)    # a checkpoint rebuilds it
    again.load_state_dict(model.state_dict())
    assert GridDetector(3, 4, width=8)(torch.zeros(1, 3, 96, 96)).shape == (1, 12, 12, 9)
    for bad, why in [({"grid": {"depth": 3}}, "no knob depth"), ({"grid": {"width": 999}}, "width"),
                     ({"unet": {}}, "grid detector")]:
        with pytest.raises(DataError, match=why):
            detect.build_network(bad, (3, 64, 64), 8)
    with pytest.raises(DataError, match="multiple of 8"):
        detect.build_network({"grid": {}}, (3, 60, 60), 8)


# ---------------------------------------------------------------------------------------------
# Own labels: a zip of images/ and labels/ in YOLO's format
# ---------------------------------------------------------------------------------------------
def _png(w=40, h=30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_yolo_labels_are_validated_listed_and_skipped():
    many = "".join(f"1 {0.1 + 0.1 * i:.2f} 0.5 0.05 0.1\n" for i in range(6))
    data = _zip({"set/classes.txt": "cat\ndog\n", "set/images/a.png": _png(), "set/labels/a.txt": "0 0.5 0.5 0.5 0.4\n",
                 "set/images/many.png": _png(), "set/labels/many.txt": many,
                 "set/images/empty.png": _png(),                                   # no label: no objects
                 "set/images/bad.png": _png(), "set/labels/bad.txt": "0 0.5 0.5\n",
                 "set/images/cls.png": _png(), "set/labels/cls.txt": "2 0.5 0.5 0.1 0.1\n",
                 "set/images/out.png": _png(), "set/labels/out.txt": "0 0.95 0.5 0.2 0.1\n",
                 "set/images/zero.png": _png(), "set/labels/zero.txt": "1 0.5 0.5 0 0.1\n",
                 "set/labels/ghost.txt": "0 0.5 0.5 0.1 0.1\n"})
    d = read_labels(data, {"size": 32})
    assert d.classes == ["cat", "dog"] and sorted(os.path.basename(n) for n in d.names) == ["a.png", "empty.png", "many.png"]
    assert d.x.shape == (3, 3, 32, 32) and d.y.shape == (3, 6, 5)          # padded to the most objects, 6
    reasons = {os.path.basename(p): why for p, why in d.skipped}
    assert "not 'class cx cy w h'" in reasons["bad.txt"] and "beyond the classes" in reasons["cls.txt"]
    assert "outside the image" in reasons["out.txt"] and "zero area" in reasons["zero.txt"]
    assert "missing image" in reasons["ghost.txt"]
    a = d.y[d.names.index("set/images/a.png")]
    assert a[0].tolist() == pytest.approx([0, 8, 9.6, 24, 22.4]) and (a[1:, 0] == -1).all()
    assert d.objects() == {"cat": 1, "dog": 6}
    with pytest.raises(DataError, match="no labels/ folder"):
        read_labels(_zip({"images/a.png": _png()}))


# ---------------------------------------------------------------------------------------------
# A detect run from the CLI
# ---------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground", "train", "--threads", "2", *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, capture_output=True, timeout=240)


def test_a_detect_run_from_the_cli_reports_map_records_its_task_and_keeps_it_on_resume(tmp_path, capsys):
    from playground.runs import store

    root = tmp_path / "runs"
    small = ["--n-train", "64", "--n-val", "16", "--batch-size", "16", "--runs-dir", str(root), "--quiet"]
    r = _cli("--task", "detect", "--epochs", "1", "--loss-weight", "lambda_noobj=0.25", *small)
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["status"] == "finished" and line["task"] == "detect", line
    assert 0 <= line["val_map50"] <= 1 and 0 <= line["val_map"] <= line["val_map50"] + 1e-9
    run_dir = Path(line["run_dir"])
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["data"]["name"] == "scenes" and config["loss_options"] == {"lambda_noobj": 0.25}
    assert "grid" in config["model"]
    ck = torch.load(store.checkpoint_path(run_dir, "best"), weights_only=True)
    assert ck["run"]["task"] == "detect" and "val_map50" in ck["run"] and ck["spec"]["cells"] == 8
    from playground import cli                    # in this process: no second interpreter to start

    assert cli.main(["train", "--resume", run_dir.name, "--task", "classify", "--runs-dir", str(root)]) == 2
    assert "is a detect run" in capsys.readouterr().err


def test_loss_weights_from_the_command_line():
    from playground.cli_args import loss_weights

    assert loss_weights(["lambda_coord=2", "lambda_class=0.5"]) == {"lambda_coord": 2.0, "lambda_class": 0.5}
    for bad in ("lambda_box=1", "lambda_coord", "lambda_coord=much"):
        with pytest.raises(SystemExit, match="lambda_coord"):
            loss_weights([bad])
