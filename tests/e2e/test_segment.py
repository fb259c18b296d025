"""A segment run in chromium: pick the task, start a small run from the form, watch it live until
the mask strip offers at least two epochs and mIoU shows, a screenshot to look at; a link with
task=segment restores the form."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from tests.e2e.helpers import screenshot, wait_idle, widget
from tests.e2e.test_train import set_slider_to_min, status

SHOTS = Path("/tmp/shots")


def strip_epochs(page) -> int:
    """The epoch of the predicted masks the strip shows ('latest' follows the run), 0: none yet."""
    got = page.get_by_text(re.compile(r"Predicted masks after epoch \d+")).all_inner_texts()
    return max((int(re.search(r"epoch (\d+)", t).group(1)) for t in got), default=0)


def test_segment_run_watched_live(goto, page):
    goto("train")
    page.get_by_text("Segment", exact=True).first.click()
    wait_idle(page)
    assert page.get_by_text("No augmentation for segment runs").count() == 1
    set_slider_to_min(page, "Training images")
    set_slider_to_min(page, "Depth")
    page.get_by_role("button", name="Start training").click()
    deadline = time.time() + 240
    while time.time() < deadline and not (strip_epochs(page) >= 2 and page.get_by_text("Val mIoU").count()):
        time.sleep(0.5)
    assert strip_epochs(page) >= 2, "the strip did not reach two epochs"
    assert page.get_by_text("Val mIoU").count() >= 1 and status(page) in ("Running", "Finished")
    page.get_by_text(re.compile(r"Predicted masks after epoch")).first.scroll_into_view_if_needed()
    time.sleep(1.0)
    shot = screenshot(page, "segment_watch")
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SHOTS / "segment_watch.png")
    if status(page) == "Running":
        page.get_by_role("button", name="Stop").click()


def test_a_segment_link_restores_the_form(goto, page):
    goto("train?view=New+run&task=segment&unet_width=24&skips=0&loss=ce")
    assert page.get_by_text("No augmentation for segment runs").count() == 1
    assert page.locator("[data-testid='stSlider']").filter(has_text="U-Net width").locator(
        "[data-testid='stSliderThumbValue']").inner_text().strip() == "24"
    shown = widget(page, "Loss").locator("input").first.input_value()
    assert "Cross-entropy" in shown and "Dice" not in shown, shown
    screenshot(page, "segment_link")
