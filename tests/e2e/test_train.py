"""Training runs in chromium: start a run, watch the curve grow by itself (the live fragment),
switch page and back (the run goes on), stop it."""
from __future__ import annotations

import time

from tests.e2e.helpers import screenshot, wait_idle

POINTS = """() => {   // the loss curve's last step: the live SVG's line while the run goes, then plotly's
  const line = document.querySelector("[data-testid='pgLiveLoss'] polyline[data-series='raw']");
  if (line) return Number(line.getAttribute('points').trim().split(' ').pop().split(',')[0]);
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const lay = el._fullLayout || el.layout || {};
    const title = lay.title && (lay.title.text || lay.title);
    if (String(title).includes('Loss while training') && el.data && el.data[0]) return el.data[0].x.at(-1);
  }
  return -1;
}"""


def status(page) -> str:
    """The status badge at the end of the run's heading."""
    for text in page.locator("h3").all_inner_texts():
        word = text.split()[-1] if text.split() else ""
        if word in ("Queued", "Running", "Finished", "Stopped", "Failed", "Interrupted"):
            return word
    return ""


def wait_points(page, more_than: int, timeout: float = 90) -> int:
    deadline = time.time() + timeout
    n = -1
    while time.time() < deadline:
        n = page.evaluate(POINTS)
        if n > more_than:
            return n
        time.sleep(0.25)
    raise AssertionError(f"the loss curve did not grow past step {more_than} (at {n})")


def test_start_watch_switch_back_stop(goto, page):
    goto("")
    goto("train")
    assert page.locator("h1", has_text="Training runs").count() == 1
    screenshot(page, "train-new-run")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Loss while training").first.wait_for(timeout=120_000)
    # the curve grows across several updates with no click: the fragment re-runs by itself
    counts = [wait_points(page, 0)]
    for _ in range(3):
        counts.append(wait_points(page, counts[-1]))
    assert counts == sorted(set(counts)), counts
    assert status(page) == "Running"
    screenshot(page, "train-live")

    # switch to another page and back: the run went on meanwhile
    page.locator("[data-testid='stSidebarNav'] a", has_text="Conv arithmetic").click()
    wait_idle(page)
    time.sleep(2)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Training runs").click()
    page.get_by_text("Loss while training").first.wait_for(timeout=60_000)
    assert wait_points(page, counts[-1]) > counts[-1]
    assert status(page) == "Running"

    page.get_by_role("button", name="Stop").click()
    deadline = time.time() + 30
    while status(page) != "Stopped" and time.time() < deadline:
        time.sleep(0.25)
    assert status(page) == "Stopped"
    stopped_at = page.evaluate(POINTS)
    time.sleep(1.5)
    assert page.evaluate(POINTS) == stopped_at  # nothing trains after the stop
    wait_idle(page)
    screenshot(page, "train-stopped")


def view_button(page, name: str):
    return page.locator("[data-testid='stButtonGroup'] button").filter(has_text=name).first


def set_slider_to_min(page, label: str) -> None:
    thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    wait_idle(page)


def test_short_run_finishes_with_analysis_and_compare(goto, page):
    goto("")
    goto("train")
    view_button(page, "New run").click()
    wait_idle(page)
    set_slider_to_min(page, "Training images")
    set_slider_to_min(page, "Epochs")
    page.get_by_role("button", name="Start training").click()
    deadline = time.time() + 180
    while status(page) != "Finished" and time.time() < deadline:
        time.sleep(0.5)
    assert status(page) == "Finished"
    wait_idle(page)
    page.get_by_text("The most confidently wrong validation images").first.wait_for(timeout=30_000)
    charts = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(
        el => String((el._fullLayout.title || {}).text || ''))""")
    assert any("Confusion matrix" in c for c in charts) and any("Accuracy per class" in c for c in charts)
    screenshot(page, "train-finished")
    page.get_by_text("The most confidently wrong validation images").first.scroll_into_view_if_needed()
    time.sleep(0.5)
    screenshot(page, "train-finished-analysis")
    view_button(page, "Compare").click()
    wait_idle(page)
    assert page.get_by_text("rows that differ between the runs are highlighted").count() == 1
    screenshot(page, "train-compare")
