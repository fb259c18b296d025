"""The conv-arithmetic page in Streamlit's AppTest: turning the knobs changes the shown shape and
formula to what PyTorch computes; refusals are explained; the sliding kernel and the quiz work."""
from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.app.helpers import assert_ok, by_key, page, texts

torch.set_num_threads(1)


@pytest.fixture
def at():
    at = page("conv_arithmetic").run()
    assert_ok(at)
    return at


def set_(at, kind: str, key: str, value):
    by_key(getattr(at, kind), key).set_value(value)


def shown_shape(shape) -> str:
    return "(" + ", ".join(str(v) for v in shape) + ")"


def torch_shape(module, n, c, h, w):
    return tuple(module(torch.zeros(n, c, h, w, device="meta")).shape)


def open_tab(at, short: str):
    """Only the open tab runs (st.tabs with on_change): open "slide" or "practice" first."""
    at.session_state["ca_tab"] = {"slide": ":material/grid_on: Sliding kernel",
                                  "practice": ":material/quiz: Practice"}[short]
    at.run()
    assert_ok(at)


def counts(at) -> dict:
    """The counts line (Parameters, MACs, Output values): label -> the number as shown."""
    return dict(re.findall(r"data-count='([^']+)'>([^<]+)<", texts(at)))


def windows_shown(at, axis: str) -> tuple[list[list[int]], list[int]]:
    """The "where the windows land" SVG of ``axis`` ("rows"/"columns"): each window's taps, in
    order, and the cells shaded as never read."""
    html = next(m.value for m in at.markdown if "data-axis='" in m.value)
    part = html.split(f"data-axis='{axis}'")[1].split("data-axis=")[0]
    taps = [[int(v) for v in t.split()] for t in re.findall(r"class='win' data-taps='([^']*)'", part)]
    return taps, [int(v) for v in re.findall(r"class='never' data-cell='(-?\d+)'", part)]


def sliding_spec(at):
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if s.get("frames"))


def test_default_layer_shape_formula_and_cost(at):
    t = texts(at)
    m = nn.Conv2d(3, 16, 3)
    assert shown_shape(torch_shape(m, 1, 3, 32, 32)) in t
    assert "floor((32 - 3 + 2*0) / 1) + 1" in t
    metrics = counts(at)
    assert metrics["Parameters"] == f"{sum(p.numel() for p in m.parameters()):,}"
    assert metrics["MACs"] == f"{30 * 30 * 16 * 3 * 9:,}"


def test_stride_and_padding_change_shape_and_formula(at):
    set_(at, "number_input", "ca_s_h", 2)
    set_(at, "number_input", "ca_s_w", 2)
    set_(at, "number_input", "ca_pad_h", 1)
    set_(at, "number_input", "ca_pad_w", 1)
    at.run()
    assert_ok(at)
    t = texts(at)
    assert shown_shape(torch_shape(nn.Conv2d(3, 16, 3, 2, 1), 1, 3, 32, 32)) in t
    assert "floor((32 - 3 + 2*1) / 2) + 1" in t and "floor(15.5) + 1" in t


def test_non_square_input_and_kernel(at):
    set_(at, "number_input", "ca_in_h", 28)
    set_(at, "number_input", "ca_in_w", 20)
    set_(at, "number_input", "ca_k_h", 5)
    set_(at, "number_input", "ca_k_w", 3)
    set_(at, "number_input", "ca_in_c", 1)
    set_(at, "number_input", "ca_out_c", 6)
    set_(at, "number_input", "ca_batch", 4)
    at.run()
    assert_ok(at)
    t = texts(at)
    assert shown_shape(torch_shape(nn.Conv2d(1, 6, (5, 3)), 4, 1, 28, 20)) in t
    assert "floor((28 - 5 + 2*0) / 1) + 1" in t and "floor((20 - 3 + 2*0) / 1) + 1" in t
    assert "nn.Conv2d(1, 6, kernel_size=(5, 3))" in [c.value for c in at.code][0]


def test_maxpool_ceil_mode(at):
    set_(at, "selectbox", "ca_kind", "MaxPool2d")
    at.run()
    set_(at, "number_input", "ca_in_h", 7)
    set_(at, "number_input", "ca_in_w", 7)
    set_(at, "number_input", "ca_k_h", 2)
    set_(at, "number_input", "ca_k_w", 2)
    set_(at, "number_input", "ca_s_h", 2)
    set_(at, "number_input", "ca_s_w", 2)
    set_(at, "checkbox", "ca_ceil", True)
    at.run()
    assert_ok(at)
    t = texts(at)
    assert shown_shape(torch_shape(nn.MaxPool2d(2, 2, ceil_mode=True), 1, 3, 7, 7)) in t
    assert "ceil((7 - 2 + 2*0) / 2) + 1" in t
    assert by_key(at.radio, "ca_pad_mode").options == ["number"]      # no 'same' for pooling
    assert counts(at)["Parameters"] == "0"


def test_transposed_conv(at):
    set_(at, "selectbox", "ca_kind", "ConvTranspose2d")
    at.run()
    set_(at, "number_input", "ca_in_h", 16)
    set_(at, "number_input", "ca_in_w", 16)
    for k in ("ca_s_h", "ca_s_w"):
        set_(at, "number_input", k, 2)
    for k in ("ca_pad_h", "ca_pad_w", "ca_op_h", "ca_op_w"):
        set_(at, "number_input", k, 1)
    at.run()
    assert_ok(at)
    t = texts(at)
    assert shown_shape(torch_shape(nn.ConvTranspose2d(3, 16, 3, 2, 1, 1), 1, 3, 16, 16)) in t
    assert "(16 - 1)*2 - 2*1 + 1*(3-1) + 1 + 1" in t


def test_refused_configurations_are_explained(at):
    set_(at, "number_input", "ca_s_h", 2)
    set_(at, "radio", "ca_pad_mode", "same")
    at.run()
    assert_ok(at)
    assert at.error and "only works with stride 1" in at.error[0].value
    assert "refused" in texts(at)
    with pytest.raises(ValueError):          # PyTorch agrees
        nn.Conv2d(3, 16, 3, stride=2, padding="same")
    # pooling padding over half the kernel
    set_(at, "selectbox", "ca_kind", "MaxPool2d")
    at.run()
    for k, v in (("ca_k_h", 2), ("ca_k_w", 2), ("ca_pad_h", 2)):
        set_(at, "number_input", k, v)
    at.run()
    assert_ok(at)
    assert at.error and "at most half the kernel" in at.error[0].value


def test_dilation_shows_effective_kernel(at):
    set_(at, "number_input", "ca_dil_h", 2)
    at.run()
    assert_ok(at)
    t = texts(at)
    assert "k_eff = d*(k-1)+1 = 2*(3-1)+1 = 5" in t
    assert shown_shape(torch_shape(nn.Conv2d(3, 16, 3, dilation=(2, 1)), 1, 3, 32, 32)) in t


def test_padding_solver_button_keeps_the_size(at):
    assert "padding=1 on each side keeps 32 -> 32" in texts(at)
    by_key(at.button, "ca_use_pad").click()
    at.run()
    assert_ok(at)
    assert by_key(at.number_input, "ca_pad_h").value == 1
    assert "(1, 16, 32, 32)" in texts(at)


def test_uncovered_rows_are_reported(at):
    set_(at, "number_input", "ca_in_h", 8)
    set_(at, "number_input", "ca_s_h", 3)
    at.run()
    assert_ok(at)
    x = torch.zeros(1, 1, 8, 32, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, 3, 3), stride=(3, 1)).sum().backward()
    never = [i for i in range(8) if x.grad[0, 0, i].abs().sum() == 0]
    assert never and at.warning
    assert f"{len(never)} input row(s) ({', '.join(map(str, never))})" in at.warning[0].value
    assert windows_shown(at, "rows")[1] == never                     # shaded red in the picture


def test_windows_drawn_are_the_cells_pytorch_reads(at):
    """Each window in the picture reads exactly the input rows (columns) whose gradient one output
    row (column) of the real conv receives; padding cells are outside 0..in-1."""
    for k, v in (("ca_in_h", 9), ("ca_k_h", 3), ("ca_s_h", 2), ("ca_pad_h", 1), ("ca_dil_h", 2),
                 ("ca_in_w", 7), ("ca_k_w", 2), ("ca_s_w", 3)):
        set_(at, "number_input", k, v)
    at.run()
    assert_ok(at)
    x = torch.zeros(1, 1, 9, 7, requires_grad=True)
    y = F.conv2d(x, torch.ones(1, 1, 3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1))
    for axis, dim in (("rows", 2), ("columns", 3)):
        taps, never = windows_shown(at, axis)
        assert len(taps) == y.shape[dim]
        for i, window in enumerate(taps):
            x.grad = None
            y.select(dim, i).sum().backward(retain_graph=True)
            read = x.grad[0, 0].abs().sum(dim=3 - dim).nonzero().flatten().tolist()
            assert [t for t in window if 0 <= t < x.shape[dim]] == read, (axis, i)
        x.grad = None
        y.sum().backward(retain_graph=True)
        assert never == (x.grad[0, 0].abs().sum(dim=3 - dim) == 0).nonzero().flatten().tolist()


def test_sliding_kernel_presets(at):
    open_tab(at, "slide")
    spec = sliding_spec(at)
    from playground.arithmetic import course_example
    img, ker = course_example("6x6")
    y = F.conv2d(torch.tensor(img, dtype=torch.float64)[None, None], torch.tensor(ker, dtype=torch.float64)[None, None])
    assert len(spec["frames"]) == y.numel()
    last = spec["frames"][-1]["data"][0]["z"]
    assert last == y[0, 0].tolist()
    set_(at, "selectbox", "ca_sl_preset", "5x5 image, vertical-edge kernel (course)")
    at.run()
    assert_ok(at)
    spec = sliding_spec(at)
    assert len(spec["frames"]) == 9
    assert "1*1 + 2*0 + 3*(-1)" in spec["layout"]["annotations"][-1]["text"]
    set_(at, "radio", "ca_sl_kind", "MaxPool2d")
    at.run()
    assert_ok(at)
    assert "max(" in sliding_spec(at)["layout"]["annotations"][-1]["text"]
    set_(at, "selectbox", "ca_sl_preset", "A patch of a real photo")
    at.run()
    assert_ok(at)
    assert sliding_spec(at)["frames"]


def test_sliding_random_values_reseed(at):
    open_tab(at, "slide")
    set_(at, "selectbox", "ca_sl_preset", "Random values")
    at.run()
    before = sliding_spec(at)["data"][1]["z"]
    by_key(at.button, "ca_sl_reseed").click()
    at.run()
    assert_ok(at)
    assert sliding_spec(at)["data"][1]["z"] != before


def test_quiz_checks_and_explains(at):
    open_tab(at, "practice")
    set_(at, "selectbox", "ca_q_pick", 1)              # 64x64, k3 p1 s2
    at.run()
    key = next(n.key for n in at.number_input if n.key.startswith("ca_q_ans_"))
    set_(at, "number_input", key, 33)
    by_key(at.button, "FormSubmitter:ca_q_form-Check").click()
    at.run()
    assert_ok(at)
    assert at.error and "rounded up" in at.error[0].value
    right = nn.Conv2d(1, 1, 3, 2, 1)(torch.zeros(1, 1, 64, 64, device="meta")).shape[2]
    set_(at, "number_input", key, right)
    by_key(at.button, "FormSubmitter:ca_q_form-Check").click()
    at.run()
    assert at.success and "Correct" in at.success[0].value
    n = len(by_key(at.selectbox, "ca_q_pick").options)
    by_key(at.button, "ca_q_new").click()
    at.run()
    assert_ok(at)
    pick = by_key(at.selectbox, "ca_q_pick")
    assert len(pick.options) == n + 1 and pick.value == n     # the new question is picked
    assert "New question" in pick.options[-1]
