"""The inspector's block diagram on long networks: linear cost, folded, the failing layer kept,
and names drawn as text (issue 10, items 6 and 7)."""
from __future__ import annotations

import json
import pytest
import time

from playground import networks
from playground.figures import network as fig_net
from playground.figures import network_charts
from playground.summary import summarize


def deep_spec(n: int, vary: bool = False, break_at: int | None = None) -> dict:
    """``n`` layers: conv/relu pairs (channels 8, 9, 10, ... when ``vary``, so no two boxes are
    alike), then flatten and linear; ``break_at`` gives that conv a wrong in_channels."""
    layers: list[dict] = []
    while len(layers) < n - 2:
        if len(layers) % 2:
            layers.append({"type": "relu"})
        else:
            conv = {"type": "conv2d", "out": 8 + (len(layers) // 2) % 50 if vary else 8,
                    "kernel": 3, "padding": 1}
            if break_at is not None and len(layers) == break_at:
                conv["in"] = 999
            layers.append(conv)
    layers += [{"type": "flatten"}, {"type": "linear", "out": 10}]
    return networks.from_json(json.dumps({"name": "deep", "input_shape": [3, 8, 8], "layers": layers}))


def cost(spec: dict) -> float:
    t = time.perf_counter()
    fig_net.diagram_svg(summarize(spec, tuple(spec["input_shape"])))
    return time.perf_counter() - t


def test_500_layers_render_fast_and_cost_grows_linearly():
    big = deep_spec(networks.MAX_LAYERS, vary=True)
    assert len(json.dumps(big)) < 30_000 and len(big["layers"]) == 500
    assert cost(big) < 10                     # was 211 s for the whole inspector
    cost(deep_spec(100, vary=True))           # warm-up
    small = min(cost(deep_spec(100, vary=True)) for _ in range(2))
    large = min(cost(deep_spec(400, vary=True)) for _ in range(2))
    assert large < 4 * small * 1.5 + 0.5, (small, large)   # was ~16x (quadratic)


def test_long_networks_are_folded():
    s = summarize(deep_spec(500))
    boxes = fig_net.fold(fig_net.boxes(s))
    assert [b.label for b in boxes] == ["249x Conv+ReLU", "Flatten", "FC"]
    assert sum(b.rows for b in boxes) == len(s.rows)          # every layer is accounted for
    varied = summarize(deep_spec(500, vary=True))
    boxes = fig_net.fold(fig_net.boxes(varied))
    assert len(boxes) <= fig_net.MAX_BOXES + 2
    assert sum(b.rows for b in boxes) == len(varied.rows)
    assert any(b.label.startswith("... ") and "more" in b.label for b in boxes)
    assert fig_net.diagram_svg(varied).count("<rect") <= fig_net.MAX_BOXES + 4


def test_the_folded_figure_keeps_the_first_failing_layer():
    s = summarize(deep_spec(500, vary=True, break_at=300))
    assert s.error is not None
    first_bad = next(r for r in s.rows if r.output_shape is None)
    boxes = fig_net.fold(fig_net.boxes(s))
    assert len(boxes) <= fig_net.MAX_BOXES + 4
    bad = [b for b in boxes if b.kind == "error"]
    assert bad and first_bad.name in bad[0].detail
    assert "does not fit" in fig_net.diagram_svg(s)


def test_short_networks_are_not_folded():
    s = summarize(networks.preset("mnist_simple_cnn"))
    assert fig_net.fold(fig_net.boxes(s)) == fig_net.boxes(s)


def test_names_in_figures_are_text():
    spec = networks.preset("mnist_simple_cnn")
    spec["name"] = "<a href='http://host/x'>click</a><img src=http://host/p.png>"
    s = summarize(spec)
    for svg in (network_charts.fc_comparison_svg(s), fig_net.diagram_svg(s)):
        assert "<a " not in svg and "<img" not in svg
    assert "&lt;a href" in network_charts.fc_comparison_svg(s)


def test_the_svg_diagram_draws_the_same_boxes_as_text():
    """The inspector shows the diagram as inline SVG: one box per diagram item, shapes on the
    arrows, the failing layer marked, well-formed (names are escaped text)."""
    import xml.etree.ElementTree as ET

    s = summarize(deep_spec(500, vary=True, break_at=300))
    svg = fig_net.diagram_svg(s)
    root = ET.fromstring(svg)                                   # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}g")) == len(fig_net.diagram_items(s))
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "does not fit" in texts and any(t and t.endswith("more") for t in texts)
    assert fig_net.shape_text(tuple(s.input_shape)) in texts    # the input's shape on its arrow


def test_the_charts_on_a_long_network_stay_small_and_keep_every_value():
    """500 layers: the receptive-field line keeps every layer's value in its data-rf (points
    with hover text only up to DETAILED), both charts are well-formed SVG of a few tens of kB."""
    import xml.etree.ElementTree as ET

    s = summarize(deep_spec(networks.MAX_LAYERS, vary=True))
    rf, fc = network_charts.receptive_field_svg(s), network_charts.fc_comparison_svg(s)
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(rf[rf.index("<svg"):rf.rindex("</svg>") + 6])
    line = next(p for p in root.iter(f"{ns}path") if p.get("class") == "rf-line")
    assert [int(v) for v in line.get("data-rf").split()] == [r.rf for r in s.rows if r.output_shape is not None]
    assert not [g for g in root.iter(f"{ns}g") if g.get("class") == "pt"]      # 500 > DETAILED
    assert len(rf) < 40_000 and len(fc) < 5_000
    ET.fromstring(fc[fc.index("<svg"):fc.rindex("</svg>") + 6])


@pytest.mark.parametrize("n_layers", [3, 12, 40])
def test_every_box_of_the_diagram_lies_inside_its_picture(n_layers):
    """Wrapped lines included: the last line's boxes were cut off at the picture's bottom."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(fig_net.diagram_svg(summarize(deep_spec(n_layers, vary=True))))
    _, _, width, height = map(float, root.get("viewBox").split())
    rects = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert rects and {float(r.get("y")) for r in rects} != {20.0} or n_layers == 3
    for r in rects:
        assert float(r.get("y")) + float(r.get("height")) <= height
        assert float(r.get("x")) + float(r.get("width")) <= width
