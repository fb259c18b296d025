"""Watch's live parts (ui/watch.py): a tick sends the numbers and the progress bar as one element;
the name, status and Stop are drawn with the page; the learning-rate chart changes once an epoch."""
from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from playground import runs, training
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
    by_key(at.button, f"train_stop_{running}").click().run()
    deadline = time.time() + 30
    while not any("Stopped" in str(m.value) for m in at.markdown) and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert_ok(at)
    assert any(re.search(r"### long .*Stopped", str(m.value)) for m in at.markdown)
    assert not [b for b in at.button if b.key == f"train_stop_{running}"]
    assert not any("role='progressbar'" in str(m.value) for m in at.markdown)
