"""Detect runs on the Training page: the form picks detect (scenes, the grid's width and its
parameters, the box loss and its weights, no augmentation), starts a tiny run whose Watch shows
mAP and the grid view; the NMS IoU slider re-decodes the saved outputs (checked on outputs where
it must change the boxes kept); a link with task=detect restores the form; Compare offers mAP."""
from __future__ import annotations

import io
import re
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from playground import data, runs
from playground.networks.grid import GridDetector
from playground.tasks import TASKS, detect
from playground.training import views
from ui import detect_form
from tests.app.helpers import assert_ok, by_key, page, texts


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    torch.set_num_threads(1)
    return tmp_path


def sure_everywhere(classes: int) -> GridDetector:
    """A grid detector whose every cell is sure of a class-0 object covering ~90% of the image:
    64 heavily overlapping boxes (clipped at the edges), which NMS at IoU 0.5 cuts to a few (8
    measured) and at IoU 1.0 keeps."""
    net = GridDetector(3, classes, width=4).eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.bias[0] = 6.0         # objectness ~1
        net.head.bias[3:5] = 2.5       # w, h: sigmoid(2.5) ~ 0.92 of the image
        net.head.bias[5] = 8.0         # class 0
    return net


def test_decode_view_is_plain_and_nms_cuts_overlaps():
    raw = sure_everywhere(4)(torch.zeros(1, 3, 64, 64))[0].detach().numpy().astype(np.float16)
    wide = detect.decode_view(raw, 0.5, 1.0, ["a", "b", "c", "d"], image_size=64)
    tight = detect.decode_view(raw, 0.5, 0.5, ["a", "b", "c", "d"], image_size=64)
    assert len(wide["before"]) == len(wide["after"]) == 64
    assert len(tight["before"]) == 64 and 1 <= len(tight["after"]) <= 16
    assert tight["after"][0]["name"] == "a" and isinstance(tight["after"][0]["box"][0], float)
    assert np.array(wide["objectness"]).shape == (8, 8)
    with pytest.raises(Exception, match="grid outputs"):
        detect.decode_view(np.zeros((8, 8)), 0.5, 0.5)


def _wait_finished(timeout: float = 180) -> runs.RunInfo:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = runs.list_runs()
        if got and got[0].status in ("finished", "failed"):
            return got[0]
        time.sleep(0.2)
    raise AssertionError("the detect run did not finish")


def _after_nms(at) -> int:
    got = [img.caption for im in at.get("image") for img in im.proto.imgs if img.caption.startswith("After NMS")]
    assert len(got) == 1, got
    return int(re.search(r": (\d+) boxes", got[0]).group(1))


def _query(at) -> str:
    return "&".join(f"{k}={v}" for k, v in at.query_params.items())


def test_pick_detect_start_a_tiny_run_and_watch_its_grid(runs_dir):
    at = page("train").run()
    by_key(at.radio, "train_task").set_value("detect").run()
    assert_ok(at)
    assert any("No augmentation for detect runs" in c.value for c in at.caption)
    by_key(at.select_slider, "train_det_n").set_value(500)
    by_key(at.slider, "train_det_width").set_value(4)
    by_key(at.slider, "train_epochs").set_value(1)
    by_key(at.number_input, "train_det_lambda_noobj").set_value(0.2)
    by_key(at.selectbox, "train_det_loss").set_value("giou").run()
    assert_ok(at)
    params = {m.label: m.value for m in at.metric}["Parameters"]
    assert params == f"{detect.parameters(3, data.DATASETS['scenes'].num_classes, 4):,}"
    assert "grid_width=4" in _query(at) and "box_loss=giou" in _query(at) and "lambda_noobj=0.2" in _query(at)
    by_key(at.button, "train_start").click().run()
    assert_ok(at)
    info = _wait_finished()
    assert info.status == "finished", info
    assert info.config["task"] == "detect" and info.config["loss"] == "giou"
    assert info.config["model"] == {"grid": {"width": 4}} and info.config["loss_options"]["lambda_noobj"] == 0.2
    at.run()
    assert_ok(at)
    assert "Val mAP@0.5" in " ".join(str(md.value) for md in at.markdown) and "The grid at work" in texts(at)
    assert "Boxes per epoch: mAP" in " ".join(str(c.proto) for c in at.get("plotly_chart"))
    _after_nms(at)
    # outputs where NMS must matter: a network sure of one big box in every cell, as epoch 1's view
    strip = views.read_strip(info.dir)
    saved = views.read_epoch_view(info.dir, 1)["raw"]
    classes = data.DATASETS["scenes"].num_classes
    assert saved.dtype == np.float16 and saved.shape == (6, 8, 8, 5 + classes)
    assert strip["truth"].shape == (6, 4, 5) and strip["truth"].dtype == np.float32
    views.write_epoch(info.dir, 1, TASKS["detect"], sure_everywhere(classes),
                      torch.from_numpy(strip["images"]), torch.from_numpy(strip["truth"]),
                      [0.5] * 3, [0.25] * 3)
    rid = info.id
    by_key(at.select_slider, f"train_det_iou_{rid}").set_value(1.0).run()
    assert_ok(at)
    assert _after_nms(at) == 64
    by_key(at.select_slider, f"train_det_iou_{rid}").set_value(0.5).run()
    assert_ok(at)
    assert 1 <= _after_nms(at) <= 16
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)
    assert "validation mAP@0.5" in " ".join(str(b.proto) for b in at.get("button_group"))


def test_a_link_with_task_detect_restores_the_form(runs_dir):
    at = page("train")
    at.query_params.update({"task": "detect", "grid_width": "24", "box_loss": "giou", "lambda_coord": "2.5"})
    at.run()
    assert_ok(at)
    assert by_key(at.radio, "train_task").value == "detect"
    assert by_key(at.slider, "train_det_width").value == 24
    assert by_key(at.selectbox, "train_det_loss").value == "giou"
    assert by_key(at.number_input, "train_det_lambda_coord").value == 2.5


def test_a_zip_without_labels_is_refused_in_words():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        png = io.BytesIO()
        Image.new("RGB", (32, 32), "red").save(png, "PNG")
        z.writestr("images/a.png", png.getvalue())
    got = detect_form.inspect_zip("no-labels", buf.getvalue())
    assert "no labels/ folder" in got["error"] and "class cx cy w h" in got["error"]
