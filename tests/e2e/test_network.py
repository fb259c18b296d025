"""The Network inspector in chromium: pick a preset, edit a layer, break it, apply the fix."""
from __future__ import annotations

from tests.e2e.helpers import screenshot, wait_idle


def pick(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_idle(page)


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def open_inspector(goto):
    return goto("network")


def test_pick_edit_break_fix(goto, page):
    open_inspector(goto)
    assert page.locator("h1", has_text="Network inspector").count() == 1
    screenshot(page, "network-default")

    pick(page, "Network", "TinyVGG")
    table = page.locator("[data-testid='stDataFrame']")
    assert table.count() == 1
    assert page.get_by_text("The shapes stop fitting").count() == 0
    # the course's TinyVGG: 64x64x3 in, 13x13x10 before the classifier
    assert page.locator("[data-testid='net-diagram']").first.inner_text().count("13x13x10") >= 1   # the diagram

    # edit a layer: conv1 makes 12 feature maps instead of 10 -> conv2 (in=10) no longer fits
    assert page.get_by_role("combobox", name="Edit a layer", exact=True).input_value().startswith("conv1")
    set_number(page, "out", 12)
    error = page.locator("[data-testid='stAlertContentError']")
    assert error.count() >= 1
    text = error.first.inner_text()
    assert "conv2" in text and "expects 10 input channels" in text and "makes 12" in text
    screenshot(page, "network-broken")

    fix = page.get_by_role("button", name="Apply the fix")
    assert "Set conv2's in_channels to 12" in fix.inner_text()
    fix.click()
    wait_idle(page)
    assert page.get_by_text("The shapes stop fitting").count() == 0
    assert page.get_by_text("Applied: Set conv2's in_channels to 12").count() == 1
    screenshot(page, "network-fixed")


def test_torchvision_model_and_broken_mnist(goto, page):
    open_inspector(goto)
    pick(page, "Network", "torchvision resnet18")
    metrics = page.locator("[data-testid='stMetric']")
    assert "11,689,512" in metrics.first.inner_text()
    screenshot(page, "network-resnet18")

    pick(page, "Network", "without pooling (broken)")
    error = page.locator("[data-testid='stAlertContentError']").first.inner_text()
    assert "fc1" in error and "9,216" in error
    page.get_by_text("What PyTorch says").click()
    assert page.get_by_text("mat1 and mat2 shapes cannot be multiplied (1x9216 and 400x10)").count() == 1
    screenshot(page, "network-mnist-broken")
    page.get_by_role("button", name="Apply the fix").click()
    wait_idle(page)
    assert page.get_by_text("The shapes stop fitting").count() == 0


def test_upload_a_spec_bad_then_good(goto, page, tmp_path):
    open_inspector(goto)
    page.get_by_text("Save, load, edit as JSON").click()
    bad = tmp_path / "bad.json"
    bad.write_text('{"input_shape": [3, 32, 32], "layers": [{"type": "conv9d"}]}')
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(bad))
    wait_idle(page)
    alert = page.locator("[data-testid='stAlertContentError']").first.inner_text()
    assert "bad.json is not a usable network spec" in alert
    good = tmp_path / "two_convs.json"
    good.write_text('{"name": "Two convs", "input_shape": [3, 16, 16], "layers": ['
                    '{"type": "conv2d", "out": 4, "kernel": 3}, {"type": "relu"}, {"type": "flatten"},'
                    '{"type": "linear", "out": 3}]}')
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(good))
    wait_idle(page)
    assert page.get_by_text("Loaded two_convs.json.").count() == 1
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert page.get_by_role("spinbutton", name="Input height (px)").input_value() == "16"
    screenshot(page, "network-uploaded")
