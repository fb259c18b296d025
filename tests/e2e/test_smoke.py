"""Every page the app lists renders in chromium with no exception element."""
import pytest

from tests.e2e.helpers import screenshot
from ui.pages import PAGES


def test_home_lists_pages(goto, page):
    goto("")
    links = page.locator("[data-testid='stSidebarNav'] a")
    assert links.count() >= 2
    screenshot(page, "home")


@pytest.mark.parametrize("p", PAGES, ids=lambda p: p.key)
def test_page_renders(goto, page, p):
    goto(p.key)
    assert page.locator("h1", has_text=p.title).count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, f"page-{p.key}")
