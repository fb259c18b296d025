"""The conv-arithmetic page in real chromium: a knob changes the shape and the formula; the sliding
kernel plays (the position and the filled output cells advance); the quiz answers."""
from __future__ import annotations

import re
import time

from tests.e2e.helpers import screenshot, wait_idle, widget


def _open(goto, page):
    goto("conv_arithmetic")
    return page


def _shape(page) -> str:
    return page.locator(".ca-shape .box.out .val").inner_text().strip()


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    time.sleep(0.3)
    wait_idle(page)


def test_knob_changes_shape_and_formula(goto, page):
    _open(goto, page)
    assert _shape(page) == "(1, 16, 30, 30)"
    formula = page.locator(".ca-formula").first.inner_text()
    assert "floor((32 - 3 + 2*0) / 1) + 1" in formula
    _set_number(page, "Stride height", 2)
    _set_number(page, "Padding height", 1)
    page.wait_for_function(
        "() => document.querySelector('.ca-shape .box.out .val').innerText.includes('(1, 16, 16, 30)')",
        timeout=30_000)
    formula = page.locator(".ca-formula").first.inner_text()
    assert "floor((32 - 3 + 2*1) / 2) + 1" in formula and "floor(15.5)" in formula
    # the picture of the rows' windows (inline SVG) draws the windows the library computes
    from playground.arithmetic import windows_along

    rows = page.locator("[data-axis='rows'] svg g.win")
    drawn = [[int(v) for v in t.split()] for t in rows.evaluate_all("gs => gs.map(g => g.dataset.taps)")]
    assert drawn == windows_along(size=32, kernel=3, stride=2, padding=1).taps
    assert page.locator("[data-axis='rows'] svg").bounding_box()["height"] > 100      # drawn, not empty
    screenshot(page, "conv_arithmetic-shape")


def _sliding_plot(page):
    return page.locator(".js-plotly-plot").filter(has=page.locator("g.updatemenu-button"))


def _position(plot) -> int:
    text = plot.locator("g.annotation-text-g").filter(has_text="Position").first.text_content()
    return int(re.search(r"Position (\d+) of", text).group(1))


def test_sliding_kernel_plays(goto, page):
    _open(goto, page)
    page.get_by_role("tab", name=re.compile("Sliding kernel")).click()
    plot = _sliding_plot(page)
    plot.wait_for(state="visible")
    assert _position(plot) == 1
    out_filled = lambda: plot.locator("g.heatmaplayer text").filter(has_text=re.compile(r"\S")).count()  # noqa: E731
    before = out_filled()
    plot.locator("g.updatemenu-button").filter(has_text="Play").click()
    deadline = time.time() + 20
    while _position(plot) < 4 and time.time() < deadline:
        time.sleep(0.3)
    plot.locator("g.updatemenu-button").filter(has_text="Pause").click()
    pos = _position(plot)
    assert pos >= 4, "the window did not move"
    assert out_filled() > before, "no new output cell was filled"
    slider_text = plot.locator("text.slider-label").filter(has_text="Position").first.text_content()
    assert slider_text.strip() == f"Position {pos}"
    screenshot(page, "conv_arithmetic-sliding")


def test_quiz_explains_a_wrong_answer(goto, page):
    _open(goto, page)
    page.get_by_role("tab", name=re.compile("Practice")).click()
    box = widget(page, "Your answer").locator("input")   # label: "Your answer: the output"
    box.fill("61")                        # 64x64, k3 p0 s1 -> 62: the +1 forgotten
    page.get_by_role("button", name="Check").click()
    time.sleep(0.3)
    wait_idle(page)
    alert = page.locator("[data-testid='stAlert']").first
    alert.wait_for()
    assert "forgot the final +1" in alert.inner_text()
    screenshot(page, "conv_arithmetic-practice")


def _settled_box(locator, tries: int = 20) -> dict:
    """The locator's bounding box once two reads 0.25 s apart agree."""
    box = locator.bounding_box()
    for _ in range(tries):
        time.sleep(0.25)
        again = locator.bounding_box()
        if again == box:
            return box
        box = again
    return box


def test_editing_a_value_recomputes_the_output(goto, page):
    import torch
    import torch.nn.functional as F

    from playground.arithmetic import course_example

    _open(goto, page)
    page.get_by_role("tab", name=re.compile("Sliding kernel")).click()
    page.get_by_text("Edit the values").click()
    grid = page.locator("[data-testid='stDataFrame']").first
    image, kernel = course_example("6x6")
    image_before = image[0][0]
    image[0][0] = 50
    want = F.conv2d(torch.tensor(image, dtype=torch.float64)[None, None],
                    torch.tensor(kernel, dtype=torch.float64)[None, None])[0, 0, 0, 0].item()

    def first_product() -> str:
        text = _sliding_plot(page).locator("g.annotation-text-g").filter(has_text="Position").first.text_content()
        return text

    text = ""
    for _attempt in range(4):  # the grid is a canvas: an early edit can be lost while it loads
        grid.scroll_into_view_if_needed()
        box = _settled_box(grid)      # the expander's opening moves the grid for a moment
        # first data cell: right of the index column, in the middle of the first of the six data
        # rows (the header row and the data rows have one height: the box holds seven of them)
        row = box["height"] / (len(image) + 1)
        page.mouse.dblclick(box["x"] + 80, box["y"] + 1.5 * row)
        editor = page.locator("input.gdg-input")   # the grid's cell editor, in its portal
        try:
            editor.wait_for(state="visible", timeout=5000)
        except Exception:  # noqa: BLE001 - the double click came before the grid could take it
            continue
        if editor.input_value() != str(int(image_before)):   # another cell: try again
            page.keyboard.press("Escape")
            continue
        editor.fill("50")
        editor.press("Enter")
        deadline = time.time() + 15
        while time.time() < deadline:
            time.sleep(0.5)
            wait_idle(page)
            text = first_product()
            if "col0:50*" in text.replace(" ", ""):
                break
        if "col0:50*" in text.replace(" ", ""):
            break
    assert text.replace(" ", "").startswith("Position1of16->outputrow0,col0:50*(-1)")
    assert text.strip().endswith(f"= {int(want)}")
    screenshot(page, "conv_arithmetic-edited")
