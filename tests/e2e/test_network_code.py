"""Pasted PyTorch code in chromium: paste the course's code -> the shape error -> the fix as a
diff -> one click applies it -> "Train this network" -> the training page starts a run with it."""
from __future__ import annotations

import time

from tests.e2e.helpers import screenshot, wait_idle
from tests.e2e.test_network import pick
from tests.e2e.test_train import status
from tests.unit.test_code import COURSE  # as it sits in a notebook cell, with the lines that use it


def test_paste_fix_and_train(goto, page):
    goto("network")
    pick(page, "Network", "Paste your PyTorch code")
    area = page.locator("[data-testid='stTextArea'] textarea").first
    area.fill(COURSE)
    area.press("Control+Enter")
    wait_idle(page)
    page.get_by_role("button", name="Trace", exact=True).click()
    wait_idle(page)
    error = page.locator("[data-testid='stAlertContentError']").first
    assert "fc" in error.inner_text() and "9,216" in error.inner_text()
    lines = COURSE.splitlines()
    skipped = ", ".join(f"line {lines.index(t) + 1} {t}" for t in ("model = SimpleCNN()", "print(model)"))
    assert page.get_by_text(skipped).count() == 1     # the notebook lines that were not run
    diff = page.locator("[data-testid='stCode']").filter(has_text="+++ b/your_code.py").first
    assert "nn.Linear(9216, 10)" in diff.inner_text() and "nn.Linear(16*5*5, 10)" in diff.inner_text()
    screenshot(page, "network-code-error")

    page.get_by_role("button", name="Apply fix and re-trace").click()
    wait_idle(page)
    assert page.get_by_text("The shapes stop fitting").count() == 0
    assert page.get_by_text("What the fix changed in your code").count() == 1
    assert "nn.Linear(9216, 10)" in area.input_value()
    assert "nn.Linear(9216, 10)" in page.locator("[data-testid='stCode']").filter(
        has_text="+++ b/your_code.py").first.inner_text()
    screenshot(page, "network-code-fixed")

    page.get_by_role("button", name="Train this network").click()
    page.locator("h1", has_text="Training runs").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_role("combobox", name="Network", exact=True).input_value().startswith("Your network")
    assert page.get_by_text("your pasted code, at its input 1x28x28").count() == 1
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Loss while training").first.wait_for(timeout=120_000)
    deadline = time.time() + 60
    while status(page) != "Running" and time.time() < deadline:
        time.sleep(0.25)
    assert status(page) in ("Running", "Finished")
    screenshot(page, "network-code-training")
    page.get_by_role("button", name="Stop").click()
    wait_idle(page)
