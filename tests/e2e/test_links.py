"""Links in the real app: change a page's state in the browser, read the address bar, open that
URL in a fresh browser context (no cookies, no session): the same state is on screen. A link
with garbage parameters shows one notice and the page works."""
from __future__ import annotations

import time

import pytest

from tests.e2e.helpers import goto as open_url, wait_idle, widget


def number(page, label: str, value: int) -> None:
    box = widget(page, label).locator("input")
    box.fill(str(value))
    box.press("Enter")
    time.sleep(0.3)
    wait_idle(page)


def settled_url(page) -> str:
    time.sleep(0.5)                    # the URL is written at the end of the rerun
    wait_idle(page)
    return page.url


def fresh(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    open_url(pg, url)
    return ctx, pg


def value_of(page, label: str) -> str:
    return widget(page, label).locator("input").first.input_value()


def test_conv_arithmetic_link_round_trip(goto, page, browser):
    goto("conv_arithmetic")
    number(page, "Input height", 64)
    number(page, "Stride width", 2)
    page.get_by_role("radio", name="valid").check(force=True)
    wait_idle(page)
    url = settled_url(page)
    assert "in_h=64" in url and "s_w=2" in url and "pad_mode=valid" in url
    ctx, pg = fresh(browser, url)
    try:
        assert value_of(pg, "Input height") == "64" and value_of(pg, "Stride width") == "2"
        assert pg.get_by_role("radio", name="valid").is_checked()
        text = pg.inner_text("[data-testid='stMain']")
        assert "(1, 16, 62, 15)" in text, text[:600]
    finally:
        ctx.close()


def test_copy_link_is_current_after_a_fragment_rerun(goto, page):
    """A knob reruns only its fragment; the Copy link box (outside it) still gives the current link."""
    goto("conv_arithmetic")
    number(page, "Input height", 71)
    url = settled_url(page)
    assert "in_h=71" in url
    page.locator(".pg-share summary").first.click()
    box = page.locator(".pg-share-url").first
    box.wait_for(state="visible")
    assert box.input_value() == url


def test_network_link_round_trip(goto, page, browser):
    goto("network")
    number(page, "Input height (px)", 40)
    url = settled_url(page)
    assert "in_h=40" in url
    ctx, pg = fresh(browser, url)
    try:
        assert value_of(pg, "Input height (px)") == "40"
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["classify", "inside"])
def test_picture_pages_link_round_trip(goto, page, browser, name):
    goto(name)
    page.get_by_role("radio", name="Generated shape").check(force=True)
    wait_idle(page)
    number(page, "Shape number", 9)
    url = settled_url(page)
    assert "source=Generated+shape" in url and "shape=9" in url
    ctx, pg = fresh(browser, url)
    try:
        assert pg.get_by_role("radio", name="Generated shape").is_checked()
        assert value_of(pg, "Shape number") == "9"
        assert "shape 9" in pg.inner_text("[data-testid='stMain']") or name == "inside"
    finally:
        ctx.close()


def test_train_link_opens_the_view(goto, page, browser, app_server):
    ctx, pg = fresh(browser, f"{app_server.url}/train?view=Compare")
    try:
        text = pg.inner_text("[data-testid='stMain']")
        # Compare, whichever runs earlier tests left on the shared server: none, or the picker
        assert "Runs appear here" in text or "Runs to compare" in text
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["conv_arithmetic", "network", "train", "inside", "classify"])
def test_garbage_parameters_show_a_notice(browser, app_server, name):
    ctx, pg = fresh(browser, f"{app_server.url}/{name}?zzz=1&in_h=-5&spec=%%%&model=nope&view=x")
    try:
        assert "Ignored from the link" in pg.inner_text("[data-testid='stMain']")
        assert "zzz" not in pg.url        # garbage leaves the address bar
    finally:
        ctx.close()
