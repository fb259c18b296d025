"""A finished segment run in the runs folder (a task the pages cannot show in full yet) does not
break the Training page: it is listed with its numbers, Watch and Compare open it, no exception."""
from __future__ import annotations

import json

import pytest

from playground import cli
from tests.app.helpers import assert_ok, by_key, page


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
