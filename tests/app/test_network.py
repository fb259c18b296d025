"""The Network inspector page through Streamlit's AppTest: pick, edit, break, fix, load."""
from __future__ import annotations

import json

from playground import networks
from tests.app.helpers import assert_ok, by_key, page, texts


def errors(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


def test_pick_a_preset_edit_a_layer_break_it_and_apply_the_fix():
    at = page("network").run()
    assert_ok(at)
    assert "Network inspector" in texts(at) and not at.error
    at.selectbox(key="net_source").set_value("tiny_vgg").run()
    assert_ok(at)
    params = sum(p.numel() for p in networks.build(networks.preset("tiny_vgg")).parameters())
    assert any(m.label == "Parameters" and m.value == f"{params:,}" for m in at.metric)
    # edit conv1: 12 feature maps instead of 10; conv2 was written for 10
    assert at.selectbox(key="net_layer").value == "0"
    at.number_input(key=f"net_f_{at.session_state.net_ver}_0_out").set_value(12).run()
    assert_ok(at)
    assert at.session_state.net_spec["layers"][0]["out"] == 12
    assert "conv2" in errors(at) and "expects 10 input channels" in errors(at)
    fix = by_key(at.button, "net_apply_fix")
    assert "Set conv2's in_channels to 12" in fix.label
    fix.click().run()
    assert_ok(at)
    assert not at.error
    assert at.session_state.net_spec["layers"][2]["in"] == 12
    assert "Applied: Set conv2's in_channels to 12." in texts(at)


def test_broken_mnist_fix_and_the_pytorch_error():
    at = page("network").run()
    at.selectbox(key="net_source").set_value("mnist_no_pool_broken").run()
    assert_ok(at)
    assert "fc1" in errors(at) and "9,216" in errors(at)
    assert any("mat1 and mat2 shapes cannot be multiplied (1x9216 and 400x10)" in c.value for c in at.code)
    by_key(at.button, "net_apply_fix").click().run()
    assert not at.error and at.session_state.net_spec["layers"][5]["in"] == 9216


def test_add_move_delete_layers_and_input_size():
    at = page("network").run()
    n = len(at.session_state.net_spec["layers"])
    at.selectbox(key="net_layer").set_value("1").run()             # relu1
    at.selectbox(key="net_add_type").set_value("batchnorm2d").run()
    by_key(at.button, "net_add").click().run()
    assert_ok(at)
    layers = at.session_state.net_spec["layers"]
    assert len(layers) == n + 1 and layers[2]["type"] == "batchnorm2d"
    assert at.selectbox(key="net_layer").value == "2"
    by_key(at.button, "net_up").click().run()
    assert at.session_state.net_spec["layers"][1]["type"] == "batchnorm2d"
    by_key(at.button, "net_delete").click().run()
    assert [l["type"] for l in at.session_state.net_spec["layers"]] == \
        [l["type"] for l in networks.preset("mnist_simple_cnn")["layers"]]
    # a smaller input: 20x20 -> the fc no longer gets 16*5*5, and the page says so
    at.number_input(key="net_in_h").set_value(20).run()
    at.number_input(key="net_in_w").set_value(20).run()
    assert_ok(at)
    assert "fc1" in errors(at) and "144" in errors(at)


def test_torchvision_model_and_frozen_backbone():
    at = page("network").run()
    at.selectbox(key="net_source").set_value("tv:resnet18").run()
    assert_ok(at)
    assert any(m.label == "Parameters" and m.value == "11,689,512" for m in at.metric)
    at.number_input(key="net_classes").set_value(2).run()
    at.checkbox(key="net_freeze").check().run()
    assert_ok(at)
    assert any(m.label == "Trainable / frozen" and m.value.startswith("1,026 / ") for m in at.metric)


def test_json_editing_validates_and_applies():
    at = page("network").run()
    box = at.text_area[0]
    box.set_value("{ broken").run()
    by_key(at.button, "net_apply_json").click().run()
    assert_ok(at)
    assert "not a usable network spec" in errors(at)
    assert at.session_state.net_spec == networks.preset("mnist_simple_cnn")      # nothing lost
    spec = {"name": "Two convs", "input_shape": [3, 16, 16], "layers": [
        {"type": "conv2d", "out": 4, "kernel": 3}, {"type": "relu"},
        {"type": "conv2d", "out": 6, "kernel": 3}, {"type": "flatten"}, {"type": "linear", "out": 3}]}
    at.text_area[0].set_value(json.dumps(spec)).run()
    by_key(at.button, "net_apply_json").click().run()
    assert_ok(at)
    assert not at.error and at.session_state.net_spec["name"] == "Two convs"
    assert at.number_input(key="net_in_h").value == 16


def test_exported_code_on_the_page_runs():
    at = page("network").run()
    code = next(c.value for c in at.code if "class MNISTSimpleCNN(nn.Module)" in c.value)
    ns: dict = {}
    exec(compile(code, "<page>", "exec"), ns)
    import torch

    assert ns["MNISTSimpleCNN"]()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_a_500_layer_spec_renders_in_seconds_folded():
    """Issue 10: a valid 500-layer spec took 211 s on every rerun (the diagram was quadratic)."""
    import time

    from tests.unit.test_network_figure import deep_spec

    at = page("network").run()
    at.text_area[0].set_value(json.dumps(deep_spec(networks.MAX_LAYERS, vary=True))).run()
    t = time.perf_counter()
    by_key(at.button, "net_apply_json").click().run()
    first = time.perf_counter() - t
    assert_ok(at)
    assert not at.error and len(at.session_state.net_spec["layers"]) == 500
    t = time.perf_counter()
    at.run()
    again = time.perf_counter() - t
    assert first < 10 and again < 5, (first, again)
    assert any("more</text>" in m.value for m in at.markdown)             # the folded diagram (SVG)
    assert len(at.dataframe[0].value) == 500                              # the table keeps every row


def test_a_specs_description_is_text():
    from tests.app.test_user_text import HOSTILE as hostile, active

    spec = {"name": "Tiny", "description": hostile, "input_shape": [1, 8, 8],
            "layers": [{"type": "flatten"}, {"type": "linear", "out": 2}]}
    at = page("network").run()
    at.text_area[0].set_value(json.dumps(spec)).run()
    by_key(at.button, "net_apply_json").click().run()
    assert_ok(at)
    shown = [str(c.value) for c in at.caption if "pixel" in str(c.value)]
    assert shown and not active(shown[0]), shown
