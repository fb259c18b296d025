"""Deep links work on a fresh server: the first request straight to a page runs app.py's
navigation (Streamlit's automatic pages/ folder discovery would otherwise serve the page file
alone, with file names in the sidebar, no wide layout and no gc.freeze())."""
from tests.e2e.helpers import goto, screenshot
from ui.pages import HOME, PAGES

TITLES = [HOME.title, *(p.title for p in PAGES)]


def test_first_request_is_a_deep_link(fresh_server, page):
    goto(page, f"{fresh_server.url}/network")
    nav = page.locator("[data-testid='stSidebarNav']")
    names = [t.strip().splitlines()[-1] for t in nav.locator("a").all_inner_texts()]
    screenshot(page, "deep-link-first-request")
    assert names == TITLES
    assert page.locator("h1", has_text="Network inspector").count() == 1
