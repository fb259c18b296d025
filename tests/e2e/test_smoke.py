"""Every page the app lists renders in chromium with no exception element."""
import pytest

from tests.e2e.helpers import screenshot


def test_home_lists_pages(goto, page):
    goto("")
    links = page.locator("[data-testid='stSidebarNav'] a")
    assert links.count() >= 2
    screenshot(page, "home")


@pytest.mark.parametrize("url_path", ["conv_arithmetic", "network", "inside", "classify", "train"])
def test_page_renders(goto, page, url_path):
    goto(url_path)
    assert page.locator("h1").count() >= 1
    screenshot(page, f"page-{url_path}")
