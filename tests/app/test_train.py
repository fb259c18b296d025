"""The Training runs page through AppTest: its defaults are RunConfig()'s, launch, follow to the
end, the coach on a NaN run, the inspector's network handed over in the session, the schedule
preview, compare."""
from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from playground import cli, networks, runs
from playground.training import RunConfig
from tests.app.helpers import ROOT, TIMEOUT, assert_ok, by_key, page, texts
from ui import keys


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    return tmp_path


def run_status(at) -> str | None:
    """The status badge in the run's heading."""
    for md in at.markdown:
        m = re.search(r"-badge\[\S* (\w+)\]", str(md.value))
        if m:
            return m.group(1)
    return None


def follow(at, timeout=180):
    """Rerun the page (AppTest cannot fire run_every) until the run is over."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        assert_ok(at)
        status = run_status(at)
        if status in ("Finished", "Failed", "Stopped"):
            return status
        time.sleep(0.5)
    raise AssertionError("the run did not end")


def small_run(at, **choices):
    by_key(at.select_slider, "train_n").set_value(1000)
    by_key(at.slider, "train_epochs").set_value(choices.pop("epochs", 1))
    for key, value in choices.items():
        for coll in (at.selectbox, at.select_slider, at.slider, at.text_input):
            try:
                by_key(coll, key).set_value(value)
                break
            except KeyError:
                continue
    at.run()
    assert_ok(at)
    by_key(at.button, "train_start").click().run()
    assert_ok(at)


def test_page_starts_from_run_config_defaults():
    """One set of defaults: Start on the untouched page trains RunConfig() (the name aside), and
    so does the CLI with no arguments."""
    at = page("train").run()
    assert_ok(at)
    by_key(at.button, "train_start").click().run()
    assert_ok(at)
    rid = at.session_state["train_run"]
    reg = runs.registry()
    reg.stop(rid)
    assert reg.wait(rid, 60)
    started = {k: v for k, v in runs.find_run(rid).config.items() if k != "name"}
    assert started == {k: v for k, v in RunConfig().to_dict().items() if k != "name"}
    assert cli.run_config(cli.parser().parse_args(["train"])) == RunConfig()


def test_launch_follow_and_analyse():
    at = page("train").run()
    assert_ok(at)
    assert "Training runs" in texts(at)
    params = sum(p.numel() for p in networks.build(networks.adapt(networks.preset("shapes_cnn"), (3, 32, 32), 8)).parameters())
    assert any(m.label == "Parameters" and m.value == f"{params:,}" for m in at.metric)
    small_run(at, train_name="first run")
    assert at.session_state["train_view"] == "Watch"
    assert follow(at) == "Finished"
    assert "first run" in texts(at)
    assert re.search(r"Val accuracy</span><span class='v'>[0-9.]+%<", texts(at))   # ui/watch.numbers
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Loss while training" in c for c in charts)
    assert any("Confusion matrix" in c for c in charts) and any("Accuracy per class" in c for c in charts)


def test_nan_learning_rate_is_explained_and_the_app_keeps_going():
    at = page("train").run()
    small_run(at, train_model="simple_cnn_cifar10", train_opt="sgd", train_lr=10.0, train_sched="none")
    assert follow(at) == "Failed"
    text = texts(at)
    assert "NaN" in text or "infinite" in text
    assert "learning rate" in text.lower()
    by_key(at.segmented_control, "train_view").set_value("New run").run()
    assert_ok(at)
    assert by_key(at.button, "train_start").disabled is False


def test_inspectors_network_is_a_model_choice_and_a_bad_one_is_explained():
    """The real hand-off, through the app's router: the inspector page runs first and leaves its
    network in the session; the training page, in the same session, offers it first."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/network.py").run()
    assert_ok(at)
    inspected = at.session_state[keys.NETWORK_SPEC]
    assert inspected.get("layers")
    at.switch_page("views/train.py").run()
    assert_ok(at)
    sel = by_key(at.selectbox, "train_model")
    assert sel.options[0] == "Your network (from the inspector)" and sel.value == sel.options[0]
    assert f"{inspected['name']}: {len(inspected['layers'])} layers" in texts(at)
    assert not at.error
    no_head = {"name": "no head", "input_shape": [3, 32, 32], "layers": [{"type": "conv2d", "out": 4}, {"type": "relu"}]}
    at.session_state[keys.NETWORK_SPEC] = no_head
    at.run()
    assert_ok(at)
    assert at.error and "does not fit" in at.error[0].value
    assert by_key(at.button, "train_start").disabled


def test_schedule_preview_follows_the_choice():
    at = page("train").run()
    before = by_key(at.get("plotly_chart"), "train_lr_preview").proto.spec
    by_key(at.select_slider, "train_lr").set_value(3e-3)
    by_key(at.slider, "train_epochs").set_value(4)
    by_key(at.selectbox, "train_sched").set_value("step").run()
    assert_ok(at)
    after = json.loads(by_key(at.get("plotly_chart"), "train_lr_preview").proto.spec)
    assert before != json.dumps(after)
    ys = after["data"][0]["y"]
    if isinstance(ys, dict):  # plotly may send typed arrays
        pytest.skip("typed array encoding")
    assert ys[0] == pytest.approx(3e-3) and min(ys) == pytest.approx(3e-3 * 0.5 ** 1, rel=1e-6)


def test_compare_highlights_differences():
    at = page("train").run()
    small_run(at, train_name="lr a", train_lr=1e-3)
    follow(at)
    by_key(at.segmented_control, "train_view").set_value("New run").run()
    small_run(at, train_name="lr b", train_lr=1e-2)
    follow(at)
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)
    assert len(by_key(at.multiselect, "train_compare").value) == 2
    df = at.dataframe[0].value
    assert list(df.columns) == ["lr b", "lr a"]
    assert df.loc["lr"].tolist() == ["0.01", "0.001"]
    assert "rows that differ" in texts(at)


def test_compare_keeps_two_runs_of_one_name_apart():
    """Two runs the learner named alike: a column each (the second used to overwrite the first)."""
    at = page("train").run()
    for lr in (1e-3, 1e-2):
        by_key(at.segmented_control, "train_view").set_value("New run").run()
        small_run(at, train_name="same", train_lr=lr)
        deadline = time.time() + 180
        while time.time() < deadline and not all(r.summary and r.status == "finished" for r in runs.list_runs()):
            time.sleep(0.5)
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)
    df = at.dataframe[0].value
    assert len(df.columns) == 2 and all(c.startswith("same (") for c in df.columns)
    assert sorted(df.loc["lr"].tolist()) == ["0.001", "0.01"]


def test_damaged_run_folders_are_named_and_the_page_keeps_working(runs_dir):
    """status.json holding a list, config.json whose config is a list, garbage in metrics.jsonl:
    each run is listed as damaged with what is wrong; New run keeps its Start button."""
    hostile = {"status-list": {"status.json": "[1, 2, 3]", "config.json": json.dumps({"config": {}})},
               "config-list": {"status.json": json.dumps({"status": "finished"}),
                               "config.json": json.dumps({"config": [1, 2]})},
               "garbage-metrics": {"status.json": json.dumps({"status": "finished"}),
                                   "config.json": json.dumps({"config": RunConfig().to_dict()}),
                                   "metrics.jsonl": b"\x00\xff\xfe garbage\n{not json\n"}}
    for name, files in hostile.items():
        d = runs_dir / name
        d.mkdir()
        for fname, content in files.items():
            (d / fname).write_bytes(content if isinstance(content, bytes) else content.encode())
    listed = {r.id: r for r in runs.list_runs()}
    assert {n: listed[n].status for n in hostile} == {n: "damaged" for n in hostile}
    at = page("train").run()
    assert_ok(at)
    assert by_key(at.button, "train_start") is not None
    by_key(at.segmented_control, "train_view").set_value("Watch").run()
    assert_ok(at)
    for name in hostile:
        by_key(at.selectbox, "train_run").set_value(name).run()
        assert any("damaged" in e.value for e in at.error), name
    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert not at.exception
