"""The epoch views (playground.training.views): a segment run writes its fixed validation strip
once and the predicted masks after every epoch (images' size, valid classes), a resumed run
cuts the views after its checkpoint and appends again, a classify run writes none, and the
reader skips damaged files."""
from __future__ import annotations

import time

import numpy as np
import torch

from playground import runs
from playground.training import RunConfig, views

torch.set_num_threads(1)
DATA = {"name": "shapes", "classes": ["circle", "square"], "size": 32, "texture": 0.0,
        "n_train": 480, "n_val": 16, "seed": 0}


def seg_config(epochs: int) -> RunConfig:
    return RunConfig(name="views", task="segment", data=DATA, model={"unet": {"width": 4, "depth": 2}},
                     batch_size=16, epochs=epochs, schedule="none", augment={k: 0 for k in RunConfig().augment})


def wait_for(cond, timeout=60.0):
    t = time.time() + timeout
    while time.time() < t:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_a_segment_run_writes_the_strip_and_a_mask_per_epoch_and_resume_appends(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(seg_config(epochs=3))
    run = reg.get(rid)
    assert wait_for(lambda: len(run.epochs) >= 1)
    reg.stop(rid)
    assert run.done.wait(60) and run.status == "stopped", run.error_detail
    done = len(run.epochs)
    strip = views.read_strip(run.dir)
    assert strip is not None and strip["images"].shape == (views.STRIP, 3, 32, 32)
    assert strip["truth"].dtype == np.uint8 and strip["truth"].shape == (views.STRIP, 32, 32)
    assert set(np.unique(strip["truth"])) <= {0, 1, 2} and strip["truth"].max() > 0
    assert [v["epoch"] for v in views.read_epoch_views(run.dir)] == list(range(1, done + 1))
    # a view written for an epoch the checkpoint does not hold (a crash after it): cut on resume
    stray = views.views_dir(run.dir) / "epoch_0009.npz"
    stray.write_bytes((views.views_dir(run.dir) / "epoch_0001.npz").read_bytes())
    reg.resume(rid)
    run = reg.get(rid)
    assert run.done.wait(120) and run.status == "finished", run.error_detail
    got = views.read_epoch_views(run.dir)
    assert [v["epoch"] for v in got] == [1, 2, 3]
    for v in got:
        assert v["pred"].dtype == np.uint8 and v["pred"].shape == (views.STRIP, 32, 32)
        assert v["pred"].max() <= 2
    assert np.array_equal(views.read_strip(run.dir)["images"], strip["images"])   # the same strip
    epochs = runs.read_metrics(run.dir)[1]
    assert all(len(e["val_iou_per_class"]) == 3 for e in epochs)
    assert views.view_epochs(run.dir) == [1, 2, 3] and views.read_epoch_view(run.dir, 2)["epoch"] == 2


def test_old_epochs_are_thinned_and_damaged_files_skipped(tmp_path):
    class Seg:
        @staticmethod
        def epoch_view(out):
            return {"pred": out.argmax(1).to(torch.uint8).numpy()}

    model = torch.nn.Conv2d(3, 3, 1)
    x = torch.randint(0, 255, (10, 3, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 3, (10, 8, 8))
    for e in range(1, views.MAX_EPOCHS + 6):
        views.write_epoch(tmp_path, e, Seg, model, x, y, (0.5,) * 3, (0.25,) * 3)
    kept = views.view_epochs(tmp_path)
    assert len(kept) == views.MAX_EPOCHS and kept[0] == 1 and kept[-1] == views.MAX_EPOCHS + 5
    (views.views_dir(tmp_path) / "epoch_0002.npz").write_bytes(b"not a zip")   # a crash's leftover
    (views.views_dir(tmp_path) / f"epoch_{kept[-1]:04d}.npz").write_bytes(b"PK\x03\x04junk")
    got = views.read_epoch_views(tmp_path)
    assert [v["epoch"] for v in got] == kept[:-1]


def test_a_classify_run_writes_no_views(tmp_path):
    from tests.unit.test_training import quick_config

    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=1, data={**quick_config().data, "n_train": 64, "n_val": 16}))
    run = reg.get(rid)
    assert run.done.wait(60) and run.status == "finished", run.error_detail
    assert views.read_strip(run.dir) is None and views.read_epoch_views(run.dir) == []
