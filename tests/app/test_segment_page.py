"""Segment runs on the Training page: a finished CLI run is listed with its numbers, Watch and
Compare open it; the form picks segment, starts a tiny run whose Watch shows mIoU, the mask strip
and IoU per class; the task and the U-Net's knobs travel in the link and come back from it."""
from __future__ import annotations

import json
import time

import pytest

from playground import cli, runs
from tests.app.helpers import assert_ok, by_key, page, texts


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    return tmp_path


def test_a_finished_segment_run_keeps_the_training_page_working(runs_dir, capsys):
    code = cli.main(["train", "--task", "segment", "--data", "shapes", "--shapes", "circle,square",
                     "--image-size", "32", "--n-train", "64", "--n-val", "32", "--batch-size", "16",
                     "--epochs", "1", "--quiet", "--runs-dir", str(runs_dir)])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and line["task"] == "segment" and line["val_miou"] is not None
    at = page("train").run()
    assert_ok(at)
    by_key(at.segmented_control, "train_view").set_value("Watch").run()
    assert_ok(at)
    runs_box = by_key(at.selectbox, "train_run")
    assert len(runs_box.options) == 1 and runs_box.options[0].startswith("unet · shapes")
    runs_box.set_value(line["run_id"]).run()
    assert_ok(at)
    assert not at.error and any("Finished" in str(md.value) for md in at.markdown)
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)


def _wait_finished(timeout: float = 120) -> runs.RunInfo:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = runs.list_runs()
        if got and got[0].status in ("finished", "failed"):
            return got[0]
        time.sleep(0.2)
    raise AssertionError("the segment run did not finish")


def test_pick_segment_start_a_tiny_run_and_watch_its_masks(runs_dir):
    at = page("train").run()
    by_key(at.radio, "train_task").set_value("segment").run()
    assert_ok(at)
    assert by_key(at.select_slider, "train_seg_n") and any("No augmentation" in c.value for c in at.caption)
    assert at.query_params.get("task") == ["segment"] or at.query_params.get("task") == "segment"
    by_key(at.select_slider, "train_seg_n").set_value(500)
    by_key(at.slider, "train_seg_width").set_value(8)
    by_key(at.slider, "train_seg_depth").set_value(2)
    by_key(at.slider, "train_epochs").set_value(1)
    by_key(at.selectbox, "train_seg_loss").set_value("dice").run()
    assert_ok(at)
    assert "unet_width=8" in _query(at) and "loss=dice" in _query(at)
    by_key(at.button, "train_start").click().run()
    assert_ok(at)
    info = _wait_finished()
    assert info.status == "finished" and info.config["task"] == "segment" and info.config["loss"] == "dice"
    assert info.config["model"] == {"unet": {"width": 8, "depth": 2, "skips": True, "context": True}}
    at.run()
    assert_ok(at)
    shown = texts(at)
    assert "Val mIoU" in " ".join(str(md.value) for md in at.markdown) and "The mask strip" in shown
    captions = [img.caption for im in at.get("image") for img in im.proto.imgs]
    assert captions[:2] == ["Validation images", "True masks"] and "Predicted masks after epoch 1" in captions
    charts = " ".join(str(c.proto) for c in at.get("plotly_chart"))
    assert "IoU per class (epoch 1)" in charts and "Masks per epoch: mIoU and Dice" in charts
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)
    assert "validation mIoU" in " ".join(str(b.proto) for b in at.get("button_group"))


def _query(at) -> str:
    return "&".join(f"{k}={v}" for k, v in at.query_params.items())


def test_a_link_with_task_segment_restores_the_form(runs_dir):
    at = page("train")
    at.query_params.update({"task": "segment", "unet_width": "24", "skips": "0", "context": "0", "loss": "ce"})
    at.run()
    assert_ok(at)
    assert by_key(at.radio, "train_task").value == "segment"
    assert by_key(at.slider, "train_seg_width").value == 24 and by_key(at.toggle, "train_seg_skips").value is False
    assert by_key(at.toggle, "train_seg_context").value is False
    assert by_key(at.selectbox, "train_seg_loss").value == "ce"


def test_picking_a_task_starts_the_form_from_its_own_defaults():
    """The widgets start from RunConfig.for_task of the picked task (the CLI's `train --task`
    defaults): segment's epochs, learning rate and images; back to classify, RunConfig()'s."""
    from playground.training import RunConfig

    at = page("train").run()
    by_key(at.radio, "train_task").set_value("segment").run()
    assert_ok(at)
    seg = RunConfig.for_task("segment")
    assert by_key(at.select_slider, "train_lr").value == seg.lr
    assert by_key(at.slider, "train_epochs").value == seg.epochs
    assert by_key(at.select_slider, "train_seg_n").value == seg.data["n_train"]
    by_key(at.radio, "train_task").set_value("classify").run()
    assert_ok(at)
    assert by_key(at.select_slider, "train_lr").value == RunConfig().lr
    assert by_key(at.slider, "train_epochs").value == RunConfig().epochs
