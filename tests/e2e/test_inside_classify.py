"""Classify and Look inside in chromium: upload a photo, get predictions and a Grad-CAM overlay,
open the feature maps; screenshots at 1400 x 1000 for a human to look at."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from playground import checkpoints, models, networks
from playground.data import DEFAULT_SHAPES
from tests.e2e.helpers import ARTIFACTS, ROOT, screenshot, wait_idle, widget

CAT = ROOT / "playground" / "assets" / "samples" / "cat.jpg"
SPEC = {"name": "e2e shapes net", "input_shape": [3, 32, 32],
        "layers": [{"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "maxpool2d", "kernel": 2},
                   {"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 8}]}


def tiny_checkpoint() -> Path:
    path = ARTIFACTS / "e2e-tiny.pt"
    torch.manual_seed(0)
    checkpoints.save_checkpoint(path, networks.build(SPEC).eval(), spec=SPEC,
                                class_names=list(DEFAULT_SHAPES),
                                input_shape=[3, 32, 32], mean=[0.5] * 3, std=[0.25] * 3)
    return path


def pick(page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.fill(option)                      # filter the (virtualised) list, then pick the match
    page.get_by_role("option").filter(has_text=re.compile("^" + re.escape(option))).first.click()
    wait_idle(page)


def show(locator) -> None:
    """Scroll so that ``locator`` sits at the top of the view (for the screenshot after)."""
    locator.first.evaluate("el => el.scrollIntoView({block: 'start'})")


def choose_model(page) -> None:
    """The shipped default model when it exists, else a checkpoint uploaded through the picker."""
    if models.default_model_path().is_file():
        return
    pick(page, "Model", "Upload a checkpoint")
    widget(page, "Checkpoint file").locator("input[type='file']").set_input_files(str(tiny_checkpoint()))
    wait_idle(page)
    page.get_by_text("parameters · input 3 x 32 x 32").wait_for()


def upload_photo(page) -> None:
    page.get_by_role("radio", name="Upload").check(force=True)
    wait_idle(page)
    widget(page, "Photo (PNG, JPEG or WebP)").locator("input[type='file']").set_input_files(str(CAT))
    wait_idle(page)


def open_page(goto, url_path: str) -> None:
    goto(url_path)


def test_classify_upload_predicts_with_grad_cam(goto, page):
    open_page(goto, "classify")
    choose_model(page)
    upload_photo(page)
    heading = page.locator("h3").filter(has_text=re.compile(r"^Prediction: .+ \(\d+\.\d %\)"))
    heading.wait_for()
    page.get_by_text("(Grad-CAM)").first.wait_for()
    imgs = page.locator("[data-testid='stImage'] img")
    assert imgs.count() >= 2                                   # the photo and the overlay
    for i in range(2):
        assert imgs.nth(i).evaluate("el => el.complete && el.naturalWidth > 0")
    bars = page.locator(".js-plotly-plot").filter(has_text="probability (%)")
    assert bars.count() == 1
    show(heading)
    screenshot(page, "classify-upload")
    page.get_by_text("What the model receives").click()
    show(page.get_by_text("3. Centre crop"))
    screenshot(page, "classify-model-input")


def test_inside_feature_maps_and_attributions(goto, page):
    open_page(goto, "inside")
    choose_model(page)
    upload_photo(page)
    page.get_by_text("The model predicts").wait_for()
    page.get_by_role("tab", name="Feature maps").click()
    pick(page, "Layer", "pool1")
    page.get_by_text(re.compile(r"outputs \d+ channels of \d+ x \d+")).first.wait_for()
    tiles = page.locator("[data-testid='stImage'] img")          # the titled grid, the photo, one channel
    assert tiles.count() >= 3
    assert tiles.first.evaluate("el => el.complete && el.naturalWidth > 0")
    show(page.get_by_role("tab", name="Feature maps"))
    screenshot(page, "inside-feature-maps")
    pick(page, "Enlarge channel", "channel 3")
    show(page.get_by_text(re.compile(r"channel 3 \(\d+ x \d+\): min")))
    screenshot(page, "inside-feature-maps-enlarged")
    page.get_by_role("tab", name="Attributions").click()
    wait_idle(page)
    for m in ("Grad-CAM", "Guided Grad-CAM", "Saliency"):
        assert page.get_by_text(m, exact=True).count() >= 1
    show(page.get_by_text("Heat-map opacity"))
    screenshot(page, "inside-attributions")
    page.get_by_role("tab", name="Kernel sandbox").click()
    wait_idle(page)
    show(page.get_by_text(re.compile("Most similar filter in")))
    screenshot(page, "inside-kernels")
    show(page.get_by_text("Your kernel").first)
    screenshot(page, "inside-kernels-similar")
    page.get_by_role("tab", name="Filters").click()
    wait_idle(page)
    show(page.get_by_role("tab", name="Filters"))
    screenshot(page, "inside-filters")
    show(page.get_by_text("Any layer, one filter at a time."))
    screenshot(page, "inside-filters-deeper")
