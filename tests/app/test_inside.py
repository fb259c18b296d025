"""Look inside through AppTest: feature maps, every attribution method, filters and the kernel
sandbox react to their widgets; bad images never crash the page."""
from __future__ import annotations

import pytest

from playground import explain, models
from tests.app.helpers import assert_ok, by_key, page, texts
from tests.app.test_classify import CAT, upload_photo, with_uploaded_model


@pytest.fixture(scope="module")
def at():
    at = with_uploaded_model("inside")
    by_key(at.radio, "image_source").set_value("Generated shape").run()
    assert_ok(at)
    return at


def open_tab(at, label: str) -> None:
    """Only the open tab runs (st.tabs with on_change)."""
    at.session_state["inside_tab"] = label
    at.run()
    assert_ok(at)


def test_tabs_and_prediction(at):
    labels = [t.label for t in at.tabs]
    assert labels == ["Feature maps", "Attributions", "Attention", "Filters", "Kernel sandbox",
                      "What the model receives"]
    assert "The model predicts" in texts(at) and "true class" in texts(at)


def test_feature_maps_every_layer_orderable_and_enlarged(at):
    open_tab(at, "Feature maps")
    layer = by_key(at.selectbox, "fm_layer")
    assert layer.options == ["conv1: 8 x 32 x 32", "pool1: 8 x 16 x 16", "conv2: 8 x 16 x 16"]
    layer.set_value("pool1").run()
    assert_ok(at)
    assert "outputs **8 channels of 16 x 16**" in texts(at)
    by_key(at.radio, "fm_order").set_value("index").run()
    by_key(at.selectbox, "fm_channel").set_value(5).run()
    assert_ok(at)
    captions = [i.caption for el in at.get("image") for i in el.proto.imgs]
    enlarged = [c for c in captions if c.startswith("pool1, channel 5 (16 x 16): min ")]
    assert len(enlarged) == 1                            # enlarged; the grid is one titled picture
    assert enlarged[0].endswith("% of positions above zero")
    assert "the photo, as the model sees it" in captions


def test_all_attribution_methods_side_by_side(at):
    open_tab(at, "Attributions")
    by_key(at.multiselect, "attr_methods").set_value(list(explain.METHODS)).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    shown = texts(at)
    for m in explain.METHODS:
        assert f"**{m}**" in shown
    layer = by_key(at.selectbox, "attr_layer")
    assert layer.value == "relu2"                       # the last spatial layer by default
    layer.set_value("conv1").run()
    by_key(at.selectbox, "attr_class").set_value(3).run()
    by_key(at.slider, "attr_alpha").set_value(0.2).run()
    assert_ok(at)
    assert "at layer conv1" in " ".join(str(i.proto) for i in at.get("image"))


def test_filters(at):
    open_tab(at, "Filters")
    assert "First layer `conv1`: 8 filters of 3 x 3 over 3 input channels" in texts(at)
    by_key(at.selectbox, "flt_layer").set_value("conv2").run()
    by_key(at.number_input, "flt_index").set_value(7).run()
    assert_ok(at)
    assert any("conv2, filter 7: 8 slices of 3 x 3" in c.proto.spec for c in at.get("plotly_chart"))


def kernel_inputs(at) -> list[list]:
    """The nine visible weight inputs of the kernel sandbox, row by row."""
    boxes = {w.key[:4]: w for w in at.number_input if w.key and w.key.startswith("k_")}
    return [[boxes[f"k_{r}{c}"] for c in range(3)] for r in range(3)]


def test_kernel_sandbox_presets_fill_the_editable_kernel(at):
    open_tab(at, "Kernel sandbox")
    assert [w.value for w in kernel_inputs(at)[0]] == [-1.0, -1.0, -1.0]   # the course's horizontal edges
    by_key(at.selectbox, "k_preset").set_value("Sobel x").run()
    assert_ok(at)
    assert [w.value for w in kernel_inputs(at)[1]] == [-2.0, 0.0, 2.0]
    kernel_inputs(at)[1][1].set_value(8.0).run()
    assert_ok(at)
    assert kernel_inputs(at)[1][1].value == 8.0
    assert "Most similar filter in `conv1`" in texts(at)
    by_key(at.selectbox, "k_preset").set_value("Horizontal edges (course)").run()
    assert [w.value for w in kernel_inputs(at)[0]] == [-1.0, -1.0, -1.0]
    by_key(at.selectbox, "k_preset").set_value("Sobel x").run()
    assert [w.value for w in kernel_inputs(at)[1]] == [-2.0, 0.0, 2.0]  # a preset starts afresh


@pytest.mark.parametrize("data", [b"garbage", CAT[:5000]])
def test_bad_images_do_not_crash(data):
    at = with_uploaded_model("inside")
    upload_photo(at, data, "bad.jpg")
    assert any("cannot be used" in e.value for e in at.error)
    upload_photo(at, CAT, "cat.jpg")
    assert "The model predicts" in texts(at)


def test_default_model_page_opens_on_it():
    if not models.default_model_path().is_file():
        pytest.fail("playground/assets/default_model.pt is missing: run `make default-model`.")
    at = page("inside").run()
    assert_ok(at)
    assert by_key(at.selectbox, "model_select").value == "default"
    assert "The model predicts" in texts(at)
