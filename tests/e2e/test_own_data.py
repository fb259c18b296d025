"""Your own images in chromium, the whole way: upload a zip laid out train/ and val/ with
EXIF-rotated phone photos in it -> the inspection shows the kept split -> a short run trains on
it -> Classify reads one of its images with that run's best checkpoint."""
from __future__ import annotations

import re
import time

from playground import data
from tests.e2e.helpers import screenshot, wait_idle, widget
from tests.e2e.test_inside_classify import pick, show
from tests.e2e.test_train import set_slider_to_min, status, view_button
from tests.own_data import SHAPES, encode, shape_image, split_zip


def test_zip_inspect_train_classify(goto, page, tmp_path):
    raw = split_zip(n_train=24, n_val=4)
    zpath = tmp_path / "my_shapes.zip"
    zpath.write_bytes(raw)
    insp = data.inspect_source(raw)       # the library's own reading of it
    assert insp.layout == "split"

    goto("train")
    view_button(page, "New run").click()
    wait_idle(page)
    pick(page, "Dataset", data.DATASETS["zip"].label)
    widget(page, "Zip of class folders").locator("input[type='file']").set_input_files(str(zpath))
    wait_idle(page)
    page.get_by_text("Your data, as the app understood it").wait_for()
    page.get_by_text(insp.description).first.wait_for()
    for cls in SHAPES:                    # a preview row per class
        assert page.get_by_text(cls, exact=True).count() >= 1
    assert page.get_by_text("Proposed network:").count() >= 1
    show(page.get_by_text("Your data, as the app understood it"))
    screenshot(page, "own-data-inspection")

    set_slider_to_min(page, "Batch size")        # 16: a few steps per epoch on 72 images
    set_slider_to_min(page, "Epochs")
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Epochs").get_by_role("slider")
    thumb.press("ArrowRight")                    # 2 epochs
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    deadline = time.time() + 60
    while status(page) != "Finished" and time.time() < deadline:
        time.sleep(0.5)
    assert status(page) == "Finished"
    wait_idle(page)
    assert page.get_by_text("my_shapes.zip:").count() >= 1      # the run is named after the zip
    screenshot(page, "own-data-finished")

    photo = tmp_path / "phone_square.jpg"   # a validation-style image, stored sideways
    photo.write_bytes(encode(shape_image("square", 2024), exif_rotated=True))
    goto("classify")
    pick(page, "Model", "Run my_shapes.zip")
    page.get_by_text("3 classes ·").first.wait_for()
    page.get_by_role("radio", name="Upload").check(force=True)
    wait_idle(page)
    widget(page, "Photo (PNG, JPEG or WebP)").locator("input[type='file']").set_input_files(str(photo))
    wait_idle(page)
    heading = page.locator("h3").filter(has_text=re.compile(r"^Prediction: .+ \(\d+\.\d %\)"))
    heading.wait_for()
    assert any(c in heading.inner_text() for c in SHAPES)
    show(heading)
    screenshot(page, "own-data-classify")
    page.get_by_text("What the model receives").first.click()
    page.get_by_text("was trained on colour").first.wait_for()
    show(page.get_by_text("What the model receives"))
    screenshot(page, "own-data-classify-input")
