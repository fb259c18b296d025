"""Watch's live parts (ui/watch.py): a tick sends the numbers and the progress bar as one element
and the loss curve as inline SVG (plotly once the run is over); the name, status and Stop are drawn
with the page; the learning-rate chart changes once an epoch."""
from __future__ import annotations

import math
import re
import time
from html.parser import HTMLParser

import pytest

from playground import runs, training
from playground.figures import live_svg
from playground.figures import training as figs
from playground.runs import owners
from tests.app.helpers import assert_ok, by_key, page
from ui import watch


class Bars(HTMLParser):
    """The progress bars of a block of HTML: (aria-valuenow, the inner div's width) and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.bars, self.inner, self.text = [], False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("role") == "progressbar":
            self.bars.append([a["aria-valuenow"], None])
            self.inner = True
        elif self.inner and tag == "div":
            self.bars[-1][1] = a["style"]
            self.inner = False

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("fraction, now, width", [(0.25, "25", "width:25.0%"), (1.7, "100", "width:100.0%"),
                                                  (-0.2, "0", "width:0.0%")])
def test_the_bar_is_part_of_the_numbers_element(fraction, now, width):
    p = Bars()
    p.feed(watch.numbers_html([("Epoch", "1.5 / 3", None)], (fraction, "step 3 of 9 · <training>")))
    assert p.bars == [[now, width]]
    assert "step 3 of 9 · <training>" in "".join(p.text)       # text, escaped, never markup
    assert "role='progressbar'" not in watch.numbers_html([("Epoch", "1", None)])


def view(status: str, last_epoch_step: int | None) -> dict:
    steps = [{"step": i, "lr": 0.1 / i} for i in range(1, 11)]
    epochs = [] if last_epoch_step is None else [{"epoch": 1, "step": last_epoch_step}]
    return {"status": status, "steps": steps, "epochs": epochs}


def test_the_lr_chart_moves_once_an_epoch_while_the_run_goes():
    assert [s["step"] for s in watch.lr_steps(view("running", 6))] == [1, 2, 3, 4, 5, 6]
    assert len(watch.lr_steps(view("running", None))) == 10          # before the first epoch ends
    assert len(watch.lr_steps(view("finished", 6))) == 10            # over: every step


class Svg(HTMLParser):
    """The live loss curve's lines (data-series -> [(step, loss)]), markers and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.lines, self.dots, self.chance, self.marks, self.text = {}, [], None, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "polyline":
            pts = [tuple(map(float, p.split(","))) for p in a["points"].split()]
            assert int(a["data-n"]) == len(pts)
            self.lines[a["data-series"]] = pts
        elif tag == "circle":
            self.dots.append((float(a["data-x"]), float(a["data-y"])))
        elif "data-chance" in a:
            self.chance = float(a["data-chance"])
        elif "data-step" in a:
            self.marks.append(int(a["data-step"]))

    def handle_data(self, data):
        self.text.append(data)


def test_the_live_loss_svg_carries_its_data():
    steps = [{"step": i, "loss": 2.5 / (1 + i / 50)} for i in range(1, 1201)]
    epochs = [{"epoch": 1, "step": 600, "val_loss": 0.3}, {"epoch": 2, "step": 1200, "val_loss": 0.2}]
    rising = training.Advice("x", "warning", "Loss rising: look", "text", step=900)
    p = Svg()
    p.feed(live_svg.loss_svg(steps, epochs, [rising], num_classes=10))
    (xr, yr), (xs, ys) = figs.loss_series(steps, max_points=live_svg.LIVE_POINTS)
    assert len(p.lines["raw"]) == len(xr) <= live_svg.LIVE_POINTS
    assert [x for x, _ in p.lines["smoothed"]] == xs and p.lines["smoothed"][-1][1] == pytest.approx(ys[-1], rel=1e-3)
    assert p.lines["raw"][0] == (1.0, pytest.approx(steps[0]["loss"], rel=1e-3))
    assert p.dots == [(600, 0.3), (1200, 0.2)] and len(p.lines["val"]) == 2
    assert p.chance == pytest.approx(2.3026, abs=1e-4) and p.marks == [900]
    text = "".join(p.text)
    for words in (figs.LOSS_TITLE, *figs.LOSS_AXES, *(n for n, _ in figs.LOSS_LINES.values()), "Loss rising",
                  figs.chance_note(10), "1,200"):
        assert words in text


@pytest.mark.parametrize("hi", [0.7, 2.41, 9.99, 1234, 50_000])
def test_nice_ticks(hi):
    t = live_svg.nice_ticks(hi, 6)
    d = t[1] - t[0]
    assert t[0] == 0 and 2 <= len(t) <= 7 and t[-1] <= hi < t[-1] + d + 1e-9
    assert f"{d / 10 ** math.floor(math.log10(d)):.6f}" in ("1.000000", "2.000000", "5.000000")


@pytest.fixture
def running(tmp_path, monkeypatch):
    """A long run training in this process (the page reads it from the registry's memory)."""
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv(owners.ENV, "single")          # anyone may stop it (AppTest has no cookie)
    reg = runs.registry()
    rid = reg.start(training.RunConfig(name="long", data={"name": "shapes", "n_train": 32000, "n_val": 500},
                                       epochs=20, model={"preset": "shapes_cnn"}))
    run = reg.get(rid)
    deadline = time.time() + 60
    while not run.steps and time.time() < deadline:
        time.sleep(0.1)
    yield rid
    reg.stop(rid)
    run.done.wait(30)


def test_a_running_run_has_one_live_element_and_stop_with_the_page(running):
    at = page("train")
    at.session_state["train_view"] = "Watch"
    at.run()
    assert_ok(at)
    assert not at.get("progress")                    # st.progress animated every update: a div now
    md = [str(m.value) for m in at.markdown]
    live = [m for m in md if "pg-nums" in m]
    assert len(live) == 1 and "role='progressbar'" in live[0] and re.search(r"step [\d,]+ of [\d,]+", live[0])
    assert any(re.search(r"### long .*Running", m) for m in md)
    assert any("pgLiveLoss" in m and "<polyline data-series='smoothed'" in m for m in md)   # the curve: SVG
    assert not any(figs.LOSS_TITLE in c.proto.spec for c in at.get("plotly_chart"))
    by_key(at.button, f"train_stop_{running}").click().run()
    deadline = time.time() + 30
    while not any("Stopped" in str(m.value) for m in at.markdown) and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert_ok(at)
    assert any(re.search(r"### long .*Stopped", str(m.value)) for m in at.markdown)
    assert not [b for b in at.button if b.key == f"train_stop_{running}"]
    assert not any("role='progressbar'" in str(m.value) for m in at.markdown)
    assert any(figs.LOSS_TITLE in c.proto.spec for c in at.get("plotly_chart"))      # over: plotly
    assert not any("pgLiveLoss" in str(m.value) for m in at.markdown)
