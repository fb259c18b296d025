"""A server a class shares (PLAYGROUND_MODE=class), in chromium: a run belongs to the browser
that started it (its owner token survives a reload, kept in a cookie, never in the URL); another
browser watches the same run without Stop or Resume, told whose run it is."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.helpers import goto, screenshot, wait_idle
from tests.e2e.test_train import status, view_button

COOKIE = "playground_owner"


@pytest.fixture
def class_server(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MODE", "class")
    server = start_server(tmp_path / "runs")
    yield server
    stop_server(server)


def _tab(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    return ctx, page


def _token(ctx) -> str:
    return next((c["value"] for c in ctx.cookies() if c["name"] == COOKIE), "")


def _wait_status(page, want: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while status(page) != want and time.time() < deadline:
        time.sleep(0.25)
    assert status(page) == want


def test_a_run_belongs_to_the_browser_that_started_it(browser, class_server):
    ctx_a, a = _tab(browser)
    ctx_b, b = _tab(browser)
    try:
        goto(a, f"{class_server.url}/train")
        a.get_by_role("button", name="Start training").click()
        a.get_by_text("Loss while training").first.wait_for(timeout=120_000)
        token_a = _token(ctx_a)
        assert len(token_a) >= 20 and token_a not in a.url

        a.reload()                             # a new session of the same browser
        a.get_by_text("Loss while training").first.wait_for(timeout=60_000)
        assert _token(ctx_a) == token_a
        a.get_by_role("button", name="Stop").wait_for(timeout=30_000)
        assert a.get_by_text("started in another browser").count() == 0

        goto(b, f"{class_server.url}/train")   # another browser: watches the same run
        b.get_by_text("Loss while training").first.wait_for(timeout=60_000)
        assert status(b) == "Running"
        assert b.get_by_text("started in another browser").count() == 1
        assert b.get_by_role("button", name="Stop").count() == 0
        assert b.get_by_role("button", name="Resume").count() == 0
        assert _token(ctx_b) and _token(ctx_b) != token_a
        screenshot(b, "class-server-other-browser")

        a.get_by_role("button", name="Stop").click()
        _wait_status(a, "Stopped")
        wait_idle(a)
        a.get_by_role("button", name="Resume").wait_for(timeout=30_000)   # the owner may resume
        b.reload()                             # no run going: New run, unless the URL says Watch
        wait_idle(b)
        if b.get_by_text("started in another browser").count() == 0:
            view_button(b, "Watch").click()
        b.get_by_text("started in another browser").wait_for(timeout=60_000)
        _wait_status(b, "Stopped")
        assert b.get_by_role("button", name="Resume").count() == 0
    finally:
        ctx_a.close()
        ctx_b.close()
