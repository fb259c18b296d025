"""Helpers for Playwright tests of the Streamlit app."""
from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def wait_idle(page, timeout: float = 60_000, settle: float = 0.3) -> None:
    """Wait until Streamlit's script run has finished (and stays finished for `settle` s)."""
    deadline = time.time() + timeout / 1000
    while True:
        page.wait_for_selector(IDLE, timeout=max(1.0, deadline - time.time()) * 1000)
        time.sleep(settle)
        if page.query_selector(IDLE) is not None:
            break
    # widgets and metrics render as skeletons until their frontend code has loaded
    while page.query_selector("[data-testid='stSkeleton']") is not None and time.time() < deadline:
        time.sleep(0.2)
    assert_no_exception(page)


def goto(page, url: str, timeout: float = 90_000) -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    wait_idle(page, timeout)


def assert_no_exception(page) -> None:
    exc = page.query_selector_all("[data-testid='stException']")
    if exc:
        raise AssertionError("exception on page:\n" + "\n".join(e.inner_text()[:2000] for e in exc))


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def widget(page, label: str):
    """A widget's container located by its visible label (stWidgetLabel)."""
    return page.locator("[data-testid^='st']").filter(
        has=page.locator("[data-testid='stWidgetLabel']", has_text=label)).last
