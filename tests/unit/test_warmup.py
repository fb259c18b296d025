"""The launch warm-up: every step runs against the real library without failing, a failing step
is recorded in words while the others go on, and the thread starts once per process."""
from __future__ import annotations

import sys

from playground import warmup
from ui.pages import PAGES


def test_every_step_runs_and_leaves_its_modules_imported():
    done = warmup.warm_up(warmup.STEPS)
    assert {name for name, _ in warmup.STEPS} <= set(done)
    assert not set(warmup.status()["failed"]) & {name for name, _ in warmup.STEPS}
    for names in warmup.IMPORTS_BY_PAGE.values():
        assert all(n in sys.modules for n in names)


def test_steps_are_keyed_by_the_page_registry():
    keys = {p.key for p in PAGES}
    assert set(warmup.IMPORTS_BY_PAGE) <= keys and set(warmup.FIRST_USE) <= keys
    assert warmup.steps_for("no such page") == []


def test_a_failing_step_is_recorded_and_the_next_still_runs():
    ran = []

    def broken():
        raise ValueError("no model file")

    done = warmup.warm_up([("broken", broken), ("next", lambda: ran.append(1))])
    assert "next" in done and ran == [1]
    assert warmup.status()["failed"]["broken"] == "ValueError: no model file"


def test_start_runs_once_per_process():
    first = warmup.start()
    assert warmup.start([("other", lambda: None)]) is first
    assert warmup.wait(120) and warmup.status()["finished"]
