"""Draw a digit in chromium: the canvas (streamlit-drawable-canvas, its frontend bundled in the
wheel) renders on Classify and Look inside, mouse strokes on it give a prediction from the shipped
digits model, and the prediction follows each stroke (a "1", then a top bar that makes it a "7")."""
from __future__ import annotations

import re

from tests.e2e.helpers import screenshot, wait_idle
from tests.e2e.test_inside_classify import pick, show


def canvas(page):
    """The canvas that takes the mouse (fabric.js draws on its upper canvas), once rendered."""
    c = page.locator("canvas.upper-canvas").first
    c.wait_for(state="visible")
    c.scroll_into_view_if_needed()
    return c


def stroke(page, box, points) -> None:
    """One mouse stroke through ``points`` given as fractions (x, y) of the canvas."""
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(xy, xy[1:]):
        page.mouse.move(x1, y1, steps=12)
    page.mouse.up()


def prediction(page, pattern: str):
    return page.locator("h3").filter(has_text=re.compile(pattern))


def draw_one_then_seven(page, expect) -> None:
    box = canvas(page).bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200
    stroke(page, box, [(0.58, 0.15), (0.50, 0.88)])                  # "1": one down stroke
    wait_idle(page)
    expect("1")
    stroke(page, box, [(0.25, 0.16), (0.60, 0.15)])                  # a top bar: now a "7"
    wait_idle(page)
    expect("7")


def test_draw_a_digit_on_classify(goto, page):
    goto("classify")
    pick(page, "Model", "Digits model")
    page.get_by_role("radio", name="Draw").check(force=True)
    wait_idle(page)
    page.get_by_text("Draw a digit on the canvas").wait_for()        # empty: what to do

    def expect(d: str) -> None:
        prediction(page, rf"^Prediction: {d} \(\d+\.\d %\)").wait_for(timeout=30_000)

    draw_one_then_seven(page, expect)
    page.get_by_text("Made MNIST-style").wait_for()
    page.get_by_text("(Grad-CAM)").first.wait_for()
    assert page.locator("[data-testid='stImage'] img").count() >= 5  # 3 steps, input, Grad-CAM
    show(page.get_by_text("Made MNIST-style"))
    screenshot(page, "classify-draw")


def test_draw_a_digit_on_look_inside(goto, page):
    goto("inside")
    pick(page, "Model", "Digits model")
    page.get_by_role("radio", name="Draw").check(force=True)
    wait_idle(page)

    def expect(d: str) -> None:
        page.get_by_text(re.compile(rf"The model predicts {d} \(")).wait_for(timeout=30_000)

    draw_one_then_seven(page, expect)
    show(page.get_by_text("Made MNIST-style"))
    screenshot(page, "inside-draw")
