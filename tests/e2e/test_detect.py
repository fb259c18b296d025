"""A detect run in chromium: a link opens the form with task=detect, a small run starts from it and
is watched live until an epoch's grid view shows; with the score threshold at its lowest, moving
the NMS IoU slider from 1.0 (nothing suppressed) to 0.1 changes the boxes kept after NMS; a
screenshot to look at."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from tests.e2e.helpers import screenshot, wait_idle
from tests.e2e.test_train import set_slider_to_min, status

SHOTS = Path("/tmp/shots")
BOXES = re.compile(r"(Before|After) NMS[^:]*: (\d+) boxes")


def counts(page) -> dict[str, int]:
    """{"Before": n, "After": m}: the box counts in the two pictures' captions ({} before any)."""
    got = {}
    for t in page.get_by_text(BOXES).all_inner_texts():
        m = BOXES.search(t)
        got[m.group(1)] = int(m.group(2))
    return got


def move(page, label: str, key: str) -> None:
    thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press(key)
    wait_idle(page)
    time.sleep(1.0)       # the fragment's rerun


def test_detect_run_watched_and_nms_slider(goto, page):
    goto("train?view=New+run&task=detect")
    assert page.get_by_text("No augmentation for detect runs").count() == 1
    set_slider_to_min(page, "Training scenes")
    page.locator("[data-testid='stSlider']").filter(has_text="Epochs").get_by_role("slider").focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")            # 2 epochs
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    deadline = time.time() + 300
    while time.time() < deadline and not (status(page) == "Finished" and "After" in counts(page)):
        time.sleep(0.5)
    assert "After" in counts(page), "no epoch's grid view appeared"
    assert page.get_by_text("Val mAP@0.5").count() >= 1
    move(page, "Score threshold", "Home")        # 0.01: every plausible box is a candidate
    move(page, "NMS IoU threshold", "End")       # 1.0: NMS suppresses nothing
    wide = counts(page)
    assert wide["Before"] >= 2 and wide["After"] == wide["Before"], wide
    move(page, "NMS IoU threshold", "Home")      # 0.1: overlapping boxes of a class: the best stays
    tight = counts(page)
    assert tight["Before"] == wide["Before"] and tight["After"] < wide["After"], (wide, tight)
    page.get_by_text("Epoch shown").first.scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    shot = screenshot(page, "detect_watch")
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SHOTS / "detect_watch.png")
