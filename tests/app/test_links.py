"""Links (ui/links.py): a URL's parameters open the page in that state; unknown, out-of-range
and hostile parameters are ignored with one notice, never an exception."""
from __future__ import annotations

import json

import pytest

from playground import networks
from tests.app.helpers import assert_ok, by_key, page, texts
from ui import links
from ui.links import Param


def open_with(name: str, **query) -> object:
    at = page(name)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert_ok(at)
    return at


def test_decode_rules():
    p = Param("in_h", "k", "int", 32, lo=1, hi=4096)
    assert links.decode(p, "64") == 64 and links.encode(p, 32) is None and links.encode(p, 64) == "64"
    for bad in ("0", "4097", "x", "1e9"):
        with pytest.raises(ValueError):
            links.decode(p, bad)
    values, late, ignored = links.read([p], {"in_h": "99999", "zzz": "1"})
    assert values == {} and late == {} and len(ignored) == 2
    assert any("zzz" in i for i in ignored) and any("outside 1 to 4096" in i for i in ignored)


def test_spec_round_trip_and_hostile_specs_refused():
    spec = networks.preset("mnist_simple_cnn")
    assert links.decode_spec(links.encode_spec(spec)) == networks.from_json(json.dumps(spec))
    huge = dict(spec, layers=[{"type": "conv2d", "out": 10**6, "kernel": 3}] * 3)
    for text in ("!!!", links.encode_spec({"layers": "nope"}), links.encode_spec(huge),
                 links.encode_spec({"name": "x", "input_shape": [1, 28, 28], "code": "import os"}),
                 "A" * (links.MAX_LINK_SPEC + 1)):
        with pytest.raises(ValueError):
            links.decode_spec(text)


def test_conv_arithmetic_link_sets_the_knobs_and_ignores_garbage():
    at = open_with("conv_arithmetic", kind="MaxPool2d", in_h="64", s_h="2", in_w="99999", bogus="1")
    assert by_key(at.selectbox, "ca_kind").value == "MaxPool2d"
    assert by_key(at.number_input, "ca_in_h").value == 64
    assert by_key(at.number_input, "ca_in_w").value == 32          # out of range: the default
    t = texts(at)
    assert "Ignored from the link" in t and "bogus" in t and "in_w=99999" in t
    assert "(1, 3, 32, 31)" in t             # a 2 x 2 pool, stride (2, 1), over 64 x 32
    assert at.query_params["in_h"] in ("64", ["64"]) and "bogus" not in at.query_params


def test_conv_arithmetic_tab_in_the_link():
    at = open_with("conv_arithmetic", tab="slide", sl_kind="MaxPool2d")
    assert by_key(at.radio, "ca_sl_kind").value == "MaxPool2d"


def test_network_link_with_an_edited_spec_and_a_hostile_one():
    spec = networks.preset("mnist_simple_cnn")
    spec["layers"][0]["out"] = 12
    at = open_with("network", spec=links.encode_spec(spec), in_h="56")
    shown = at.session_state["net_spec"]
    assert shown["layers"][0]["out"] == 12 and shown["input_shape"][1] == 56
    assert by_key(at.number_input, "net_in_h").value == 56
    at = open_with("network", spec=links.encode_spec({"layers": [{"type": "rm -rf"}]}))
    assert "Ignored from the link" in texts(at) and "refused" in texts(at)
    assert at.session_state["net_spec"]["name"] == networks.preset("mnist_simple_cnn")["name"]


def test_classify_link_and_a_late_parameter():
    at = open_with("classify", source="Generated shape", shape="7", opacity="0.2", top="3", model="nope")
    assert by_key(at.radio, "image_source").value == "Generated shape"
    assert by_key(at.number_input, "image_shape").value == 7
    assert by_key(at.slider, "cam_alpha").value == pytest.approx(0.2)
    assert "model=nope" in texts(at)
