"""playground.arithmetic against PyTorch itself: output sizes on thousands of random
configurations of every kind (refusals included), the formulas, the solvers, the sliding kernel
and the quiz."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from playground import arithmetic as ar

torch.set_num_threads(1)
# PyTorch warns that 'same' with an even kernel copies the input; harmless here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
ROOT = Path(__file__).resolve().parents[2]
N_CONFIGS = 2500


def _torch_size(fn):
    """The size PyTorch computes along H, or None if PyTorch refuses."""
    try:
        return fn().shape[2]
    except (RuntimeError, ValueError, TypeError):
        return None


def _ours(**kw):
    try:
        return ar.output_size(**kw)
    except ValueError as e:
        msg = str(e)
        assert msg.endswith(".") and msg[0].isupper(), msg   # a sentence, for a student
        assert "Traceback" not in msg and "aten" not in msg
        return None


def _random_cfg(rng: random.Random, kind: str):
    k = rng.randint(1, 7)
    # pooling refuses padding > k//2: sample around that limit so both sides are exercised
    pad = rng.randint(0, k // 2 + 1) if kind in ("pool", "maxpool", "avgpool") else rng.randint(0, 5)
    return dict(size=rng.randint(1, 40), kernel=k, stride=rng.randint(1, 4), padding=pad,
                dilation=1 if kind == "avgpool" else rng.randint(1, 3))


def _check_many(kind: str, make, extra=lambda rng: {}, seed=0):
    rng = random.Random(seed)
    refused = agreed = 0
    for _ in range(N_CONFIGS):
        cfg = _random_cfg(rng, kind)
        cfg.update(extra(rng))
        expected = _torch_size(lambda: make(**cfg))
        got = _ours(kind={"avgpool": "pool", "maxpool": "pool"}.get(kind, kind), **cfg)
        assert got == expected, (kind, cfg, got, expected)
        refused += expected is None
        agreed += 1
    # the random space holds both accepted and refused layers, so refusals are really checked
    assert refused > N_CONFIGS // 50 and N_CONFIGS - refused > N_CONFIGS // 2, refused


def test_conv_matches_pytorch_on_random_configs():
    def make(size, kernel, stride, padding, dilation):
        x = torch.zeros(1, 1, size, 1)
        w = torch.zeros(1, 1, kernel, 1)
        return F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0) if isinstance(padding, int)
                        else padding, dilation=(dilation, 1))
    _check_many("conv", make)


def test_conv_padding_words_match_pytorch():
    rng = random.Random(1)
    for _ in range(600):
        cfg = _random_cfg(rng, "conv")
        cfg["padding"] = rng.choice(["same", "valid"])
        # the string applies to both dimensions, so keep W trivially valid but give it the stride too
        def make():
            x = torch.zeros(1, 1, cfg["size"], 8)
            return F.conv2d(x, torch.zeros(1, 1, cfg["kernel"], 1), stride=(cfg["stride"], 1),
                            padding=cfg["padding"], dilation=(cfg["dilation"], 1))
        expected = _torch_size(make)
        if cfg["padding"] == "same" and cfg["stride"] > 1:
            # F.conv2d refuses any stride != 1 with 'same'; nn.Conv2d says so in its constructor
            with pytest.raises(ValueError):
                nn.Conv2d(1, 1, cfg["kernel"], stride=cfg["stride"], padding="same")
            expected = None
        assert _ours(kind="conv", **cfg) == expected, cfg


def test_maxpool_matches_pytorch_on_random_configs():
    def make(size, kernel, stride, padding, dilation, ceil_mode):
        x = torch.zeros(1, 1, size, 1)
        return F.max_pool2d(x, (kernel, 1), (stride, 1), (padding, 0), (dilation, 1), ceil_mode=ceil_mode)
    _check_many("maxpool", make, lambda rng: {"ceil_mode": rng.random() < 0.5}, seed=2)


def test_avgpool_matches_pytorch_on_random_configs():
    def make(size, kernel, stride, padding, dilation, ceil_mode):
        assert dilation == 1
        x = torch.zeros(1, 1, size, 1)
        return F.avg_pool2d(x, (kernel, 1), (stride, 1), (padding, 0), ceil_mode=ceil_mode)
    _check_many("avgpool", make, lambda rng: {"ceil_mode": rng.random() < 0.5}, seed=3)


def test_transposed_matches_pytorch_on_random_configs():
    def make(size, kernel, stride, padding, dilation, output_padding):
        x = torch.zeros(1, 1, size, 1)
        w = torch.zeros(1, 1, kernel, 1)
        return F.conv_transpose2d(x, w, stride=(stride, 1), padding=(padding, 0),
                                  output_padding=(output_padding, 0), dilation=(dilation, 1))
    _check_many("transposed", make, lambda rng: {"output_padding": rng.randint(0, 3)}, seed=4)


def test_ceil_mode_last_window_rule():
    # 6 rows, k2 s2 p1: ceil((6-2+2)/2)+1 = 4 windows, but the 4th would start at 3*2-1 = 5 ... inside.
    # 5 rows, k2 s2 p1: ceil(5/2)+1 = 4, 4th starts at 3*2-1 = 5 = past the input -> dropped.
    for size, k, s, p in [(5, 2, 2, 1), (6, 2, 2, 1), (7, 3, 2, 1), (4, 2, 3, 1)]:
        x = torch.zeros(1, 1, size, size)
        assert ar.output_size(size, k, s, p, kind="pool", ceil_mode=True) == \
            F.max_pool2d(x, k, s, p, ceil_mode=True).shape[2]
    f = ar.explain(5, 2, 2, 1, kind="pool", ceil_mode=True)
    assert f.result == F.max_pool2d(torch.zeros(1, 1, 5, 5), 2, 2, 1, ceil_mode=True).shape[2]
    assert any("last window must start inside the input" in n for n in f.notes)
    assert "dropped" in f.steps[-1]


def test_pool_stride_defaults_to_kernel_like_pytorch():
    for size, k in [(28, 2), (7, 3), (10, 4)]:
        assert ar.output_size(size, k, None, kind="pool") == nn.MaxPool2d(k)(torch.zeros(1, 1, size, size)).shape[2]


@pytest.mark.parametrize("kwargs, words", [
    (dict(size=8, kernel=3, padding=2, kind="pool"), "at most half the kernel"),
    (dict(size=8, kernel=3, stride=2, padding="same"), "only works with stride 1"),
    (dict(size=8, kernel=3, stride=1, output_padding=1, kind="transposed"), "smaller than the stride"),
    (dict(size=2, kernel=5), "larger than the padded input"),
    (dict(size=1, kernel=1, padding=3, kind="transposed"), "Use less padding"),
    (dict(size=8, kernel=0), "at least 1"),
    (dict(size=8, kernel=3, padding=-1), "cannot be negative"),
    (dict(size=8, kernel=3, padding="full"), "'valid' or 'same'"),
    (dict(size=8, kernel=3, padding="same", kind="pool"), "exist only for Conv2d"),
    (dict(size=8, kernel=2.5), "whole number"),
    (dict(size=8, kernel=3, ceil_mode=True), "only exists for pooling"),
])
def test_refusals_are_explained(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ar.output_size(**kwargs)


def test_explain_shows_numbers_and_floor():
    f = ar.explain(32, 3, stride=2, padding=1)
    assert f.steps[-1] == "floor((32 - 3 + 2*1) / 2) + 1 = floor(15.5) + 1 = 15 + 1 = 16"
    assert f.result == nn.Conv2d(1, 1, 3, 2, 1)(torch.zeros(1, 1, 32, 32)).shape[2]
    d = ar.explain(32, 3, stride=1, padding=0, dilation=2)
    assert "k_eff = d*(k-1)+1 = 2*(3-1)+1 = 5" in d.notes[0]
    assert "floor((32 - 5 + 2*0) / 1)" in d.steps[-1]
    t = ar.explain(16, 3, stride=2, padding=1, kind="transposed", output_padding=1)
    assert t.general.startswith("out = (in - 1)*s - 2*p")
    assert t.steps[-1].endswith(f"= {nn.ConvTranspose2d(1, 1, 3, 2, 1, 1)(torch.zeros(1, 1, 16, 16)).shape[2]}")
    s = ar.explain(32, 4, padding="same")
    assert s.result == 32 and "1 before + 2 after" in s.steps[0]


def test_explain_results_equal_output_size():
    rng = random.Random(5)
    for _ in range(500):
        kind = rng.choice(ar.KINDS)
        cfg = _random_cfg(rng, kind)
        if kind == "pool":
            cfg["ceil_mode"] = rng.random() < 0.5
        try:
            want = ar.output_size(kind=kind, **cfg)
        except ValueError:
            with pytest.raises(ValueError):
                ar.explain(kind=kind, **cfg)
            continue
        f = ar.explain(kind=kind, **cfg)
        assert f.result == want and f.steps[-1].rstrip().endswith(str(want))


def test_same_padding_solver():
    for size in (7, 32, 33):
        for k in (1, 2, 3, 4, 5, 7):
            for d in (1, 2):
                sol = ar.same_padding(size, k, 1, d)
                # PyTorch's 'same' pads exactly before/after
                y = F.conv2d(F.pad(torch.zeros(1, 1, size, size), (0, 0, sol.before, sol.after)),
                             torch.zeros(1, 1, k, 1), dilation=(d, 1))
                assert y.shape[2] == size
                if sol.symmetric is not None:
                    assert nn.Conv2d(1, 1, k, padding=sol.symmetric, dilation=d)(
                        torch.zeros(1, 1, size, size)).shape[2] == size
                else:
                    assert (d * (k - 1)) % 2 == 1
    sol = ar.same_padding(64, 3, 2)
    assert sol.strided == 1 and any("refuses padding='same'" in line for line in sol.explanation)
    assert nn.Conv2d(1, 1, 3, 2, sol.strided)(torch.zeros(1, 1, 64, 64)).shape[2] == 32


def test_paddings_for_every_answer_works():
    for size, k, s, target in [(32, 3, 1, 32), (32, 5, 2, 16), (28, 5, 1, 28), (10, 3, 3, 4)]:
        ps = ar.paddings_for(size, k, target, s)
        assert ps
        for p in ps:
            assert F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), stride=(s, 1),
                            padding=(p, 0)).shape[2] == target


def test_uncovered_rows_are_where_no_gradient_flows():
    rng = random.Random(6)
    checked = 0
    for _ in range(300):
        cfg = _random_cfg(rng, "conv")
        try:
            ar.output_size(**cfg)
        except ValueError:
            continue
        x = torch.zeros(1, 1, cfg["size"], 1, requires_grad=True)
        y = F.conv2d(x, torch.ones(1, 1, cfg["kernel"], 1), stride=(cfg["stride"], 1),
                     padding=(cfg["padding"], 0), dilation=(cfg["dilation"], 1))
        y.sum().backward()
        never = [i for i in range(cfg["size"]) if x.grad[0, 0, i, 0] == 0]
        assert ar.uncovered(**cfg) == never, cfg
        checked += bool(never)
    assert checked > 10


def test_window_starts_and_taps():
    assert ar.window_starts(7, 3, 2, 1) == [-1, 1, 3, 5]
    assert ar.window_taps(1, 3, 2) == [1, 3, 5]
    assert ar.uncovered(8, 3, 3) == [6, 7]


def _random_layer(rng, *, size=20, stride=3, padding=2, dilation=2, output_padding=1):
    """A random 2-D layer; the keywords widen the ranges toward PyTorch's edges (inputs near the
    kernel's span, padding past half the kernel, output_padding past the stride and dilation)."""
    kind = rng.choice(list(ar.LAYER_KINDS))
    pair = lambda lo, hi: (rng.randint(lo, hi), rng.randint(lo, hi))  # noqa: E731
    layer = ar.Layer(kind=kind, in_h=rng.randint(1, size), in_w=rng.randint(1, size),
                     in_channels=rng.randint(1, 4), out_channels=rng.randint(1, 5), kernel=pair(1, 5),
                     stride=pair(1, stride), padding=pair(0, padding),
                     dilation=(1, 1) if kind == "AvgPool2d" else pair(1, dilation),
                     ceil_mode=rng.random() < 0.5, output_padding=pair(0, output_padding),
                     batch=rng.randint(1, 3), bias=rng.random() < 0.7)
    if kind == "Conv2d" and rng.random() < 0.2:
        layer.padding, layer.stride = rng.choice(["same", "valid"]), 1
    return layer


def test_analyze_matches_real_modules_and_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    rng = random.Random(7)
    ok = 0
    for _ in range(150):
        layer = _random_layer(rng)
        try:
            rep = ar.analyze(layer)
        except ValueError:
            with pytest.raises((RuntimeError, ValueError)):
                m = layer.module("cpu") if layer.kind != "AvgPool2d" or layer.dilation == (1, 1) else None
                m(torch.zeros(layer.batch, layer.in_channels, layer.in_h, layer.in_w))
            continue
        ok += 1
        m = layer.module("cpu")
        x = torch.zeros(layer.batch, layer.in_channels, layer.in_h, layer.in_w)
        with FlopCounterMode(display=False) as fc:
            y = m(x)
        assert rep.output_shape == tuple(y.shape)
        assert rep.params == sum(p.numel() for p in m.parameters())
        assert rep.macs * 2 == fc.get_total_flops()
        kh, kw = layer.kernel
        if layer.kind == "Conv2d":  # the textbook count: one MAC per weight per output position
            assert rep.macs == y.numel() * layer.in_channels * kh * kw
            assert rep.params == layer.out_channels * (layer.in_channels * kh * kw + layer.bias)
        assert eval(rep.code, {"nn": nn}).__class__ is m.__class__
    assert ok > 60


def test_layer_code_is_runnable_pytorch():
    layer = ar.Layer("Conv2d", 224, 224, 3, 64, 7, 2, 3, bias=False)
    assert layer.code() == "nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)"
    m = eval(layer.code(), {"nn": nn})
    assert tuple(m(torch.zeros(1, 3, 224, 224, device="meta")).shape) == ar.analyze(layer).output_shape


def test_avgpool_has_no_dilation():
    with pytest.raises(ValueError, match="no dilation"):
        ar.analyze(ar.Layer("AvgPool2d", dilation=2))


def test_windows_along_match_where_pytorch_reads_and_writes():
    rng = random.Random(11)
    for _ in range(200):
        cfg = _random_cfg(rng, "transposed")
        cfg["output_padding"] = rng.randint(0, 2)
        try:
            w = ar.windows_along(kind="transposed", **cfg)
        except ValueError:
            continue
        y = F.conv_transpose2d(torch.ones(1, 1, cfg["size"], 1), torch.ones(1, 1, cfg["kernel"], 1),
                               stride=(cfg["stride"], 1), padding=(cfg["padding"], 0),
                               output_padding=(cfg["output_padding"], 0), dilation=(cfg["dilation"], 1))
        assert w.transposed and w.out_size == y.shape[2] and len(w.taps) == cfg["size"]
        assert w.uncovered == [i for i in range(w.out_size) if y[0, 0, i, 0] == 0], cfg
    w = ar.windows_along(8, 3, 3, 1)
    assert (w.taps, w.pads, w.uncovered) == ([ar.window_taps(s, 3) for s in ar.window_starts(8, 3, 3, 1)],
                                             (1, 1), ar.uncovered(8, 3, 3, 1))


def test_keep_size_suggests_the_padding_pytorch_agrees_with():
    for kernel, stride, want in [((3, 3), 1, (1, 1)), ((3, 5), 1, (1, 2)), ((4, 4), 1, (None, None)),
                                 ((3, 3), 2, (1, 1))]:
        layer = ar.Layer("Conv2d", 32, 32, 1, 1, kernel, stride)
        sols = layer.keep_size()
        assert tuple(s.best for s in sols) == want
        for k, s in zip(kernel, sols):
            if s.best is not None:
                out = nn.Conv2d(1, 1, k, stride, s.best)(torch.zeros(1, 1, 32, 32, device="meta")).shape[2]
                assert out == -(-32 // stride)


def test_report_counts_output_values():
    rep = ar.analyze(ar.Layer("Conv2d", 28, 20, 1, 6, (5, 3), batch=4))
    assert rep.output_values == nn.Conv2d(1, 6, (5, 3))(torch.zeros(4, 1, 28, 20)).numel()
    assert rep.input_shape == (4, 1, 28, 20)


# ------------------------------------------------------------------------------ sliding kernel
def _dot(step):
    return sum(a * w for a, w in step.terms)


@pytest.mark.parametrize("example", ["6x6", "5x5"])
def test_course_examples_slide_with_pytorch_values(example):
    image, kernel = ar.course_example(example)
    s = ar.slide(image, kernel)
    y = F.conv2d(torch.tensor(image, dtype=torch.float64)[None, None],
                 torch.tensor(kernel, dtype=torch.float64)[None, None])[0, 0]
    assert s.output == y.tolist()
    assert len(s.steps) == y.numel()
    for st in s.steps:
        assert _dot(st) == pytest.approx(st.value) == pytest.approx(float(y[st.out_row, st.out_col]))
        assert st.expression.endswith(f"= {int(st.value)}")


def test_course_examples_are_the_courses_exactly():
    ex = ar.course_examples()
    assert list(ex) == ["6x6", "5x5"] and set(ex) <= set(ar.PRESETS)
    six, horizontal = ex["6x6"]
    assert six == [[1, 2, 0, 0, 1, 2], [0, 1, 2, 1, 0, 1], [1, 0, 3, 1, 2, 0], [2, 1, 0, 2, 1, 1],
                   [0, 2, 1, 0, 2, 1], [1, 1, 0, 1, 0, 2]]
    assert horizontal == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    assert ex["5x5"][1] == [[1, 0, -1], [1, 0, -1], [1, 0, -1]]     # vertical edge
    for name, (image, kernel) in ex.items():
        y = F.conv2d(torch.tensor(image, dtype=torch.float64)[None, None],
                     torch.tensor(kernel, dtype=torch.float64)[None, None])[0, 0]
        assert ar.slide(image, kernel).output == y.tolist(), name
        assert ar.starting_values(name) == (image, kernel) == ar.course_example(name)
    # by hand, the first window of the 6x6: -(1 + 2 + 0) + (1 + 0 + 3) = 1
    assert ar.slide(six, horizontal).output[0][0] == 1
    ex["6x6"][0][0][0] = 99                                   # copies: the catalogue is unchanged
    assert ar.course_examples()["6x6"][0][0][0] == 1
    with pytest.raises(ValueError, match="Unknown example"):
        ar.course_example("7x7")


def test_slide_with_padding_stride_dilation():
    image, kernel = ar.random_values(9, 8, 3, 2, seed=3)
    for pad, stride, dil in [(1, 2, 1), ((2, 0), (1, 3), (2, 1)), ("same", 1, 2), ("valid", 1, 1)]:
        s = ar.slide(image, kernel, stride=stride, padding=pad, dilation=dil)
        w = torch.tensor(kernel, dtype=torch.float64)
        y = F.conv2d(torch.tensor(image, dtype=torch.float64)[None, None], w[None, None],
                     stride=stride, padding=pad, dilation=dil)[0, 0]
        assert s.output == y.tolist()
        for st in s.steps:
            assert _dot(st) == pytest.approx(st.value)
            # the padding cells read as zeros
            assert all(a == 0 for (a, _), r in zip(st.terms, [r for r in st.rows for _ in st.cols])
                       if not 0 <= r < 9)


def test_slide_pooling_expressions():
    image, _ = ar.course_example("5x5")
    s = ar.slide(image, kind="MaxPool2d", kernel_size=3, stride=2, padding=1)
    for st in s.steps:
        assert max(a for a, _ in st.terms) == st.value and st.expression.startswith("max(")
    a = ar.slide(image, kind="AvgPool2d", kernel_size=2, stride=2, ceil_mode=True)
    assert a.output == F.avg_pool2d(torch.tensor(image, dtype=torch.float64)[None, None], 2, 2,
                                    ceil_mode=True)[0, 0].tolist()
    for st in a.steps:
        assert sum(v for v, _ in st.terms) / len(st.terms) == pytest.approx(st.value)


def test_slide_uncovered_and_bad_values():
    image, kernel = ar.random_values(7, 7, 3, 3)
    s = ar.slide(image, kernel, stride=3)
    assert s.uncovered_rows == [6] and s.uncovered_cols == [6]
    bad = [row[:] for row in image]
    bad[2][3] = float("nan")
    with pytest.raises(ValueError, match="fill in every value"):
        ar.slide(bad, kernel)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ar.slide([[1, 2], [3, 4]], kernel)


def test_image_patch_is_a_real_photo_patch():
    patch = ar.image_patch(ROOT / "playground" / "assets" / "samples" / "cat.jpg", 8)
    t = torch.tensor(patch)
    assert t.shape == (8, 8) and 0 <= t.min() and t.max() <= 255 and t.std() > 1


def test_starting_values_of_every_preset():
    assert set(ar.PRESETS) == {"6x6", "5x5", "random", "photo"}
    assert ar.starting_values("5x5") == ar.course_example("5x5")
    assert ar.starting_values("random", size=5, kernel_size=2, seed=4) == ar.random_values(5, 5, 2, 2, seed=4)
    cat = ROOT / "playground" / "assets" / "samples" / "cat.jpg"
    image, kernel = ar.starting_values("photo", size=6, kernel_size=4, photo=cat)
    assert image == ar.image_patch(cat, 6) and kernel == [[1, 0, 0, -1]] * 4
    assert ar.vertical_edge(3) == ar.course_example("5x5")[1]
    with pytest.raises(ValueError, match="needs a photo"):
        ar.starting_values("photo")


# ------------------------------------------------------------------------------ practice
def test_course_questions_answers_check_out():
    qs = ar.course_questions()
    assert {q.qid for q in qs} >= {"q1", "q2", "stem-conv", "stem-pool"}
    byid = {q.qid: q for q in qs}
    assert byid["stem-pool"].input == byid["stem-conv"].output
    for q in qs:
        assert ar.check_answer(q, q.answer).correct, q
        assert not ar.check_answer(q, q.answer + 7).correct
        m = {"conv": lambda: nn.Conv2d(1, 1, q.kernel, q.stride, q.padding),
             "pool": lambda: nn.MaxPool2d(q.kernel, q.stride, q.padding)}[q.kind]()
        assert m(torch.zeros(1, 1, q.input, q.input, device="meta")).shape[2] == q.output


def test_wrong_answers_name_the_slip():
    q = ar.course_questions()[1]    # 64, k3 p1 s2 -> 32
    assert "forgot the final +1" in ar.check_answer(q, 31).message
    assert "rounded up" in ar.check_answer(q, 33).message
    stem = ar.course_questions()[2]  # 224, k7 p3 s2 -> 112
    assert "left out the padding" in ar.check_answer(stem, 109).message
    q30 = ar.Question("x", "", 30, 5, 2, 1, ar.output_size(30, 5, 1, 2))   # 30 -> 30
    assert "added the padding once" in ar.check_answer(q30, 28).message
    assert "forgot to divide by the stride" in ar.check_answer(q, 64).message
    assert "not a number" in ar.check_answer(q, "abc").message
    assert "whole numbers" in ar.check_answer(q, 31.5).message


def test_question_rows_and_verdict_formulas():
    q = next(q for q in ar.course_questions() if q.qid == "stem-pool")
    assert q.row() == {"layer": "max-pool", "input": 112, "kernel": 3, "padding": 1, "stride": 2,
                       "output": "?"}
    v = ar.check_answer(q, 57)
    assert not v.correct and v.formula == ar.explain(112, 3, 2, 1, kind="pool")
    assert ar.check_answer(q, "x").formula is None


def test_non_unique_blanks_accept_every_valid_value():
    q = next(q for q in ar.course_questions() if q.blank == "input")   # 112 -> 56 with k3 p1 s2
    assert ar.check_answer(q, 112).correct and ar.check_answer(q, 111).correct
    v = ar.check_answer(q, 100)
    assert not v.correct and "output is 50" in v.message


def test_random_questions_are_valid_and_reproducible():
    for seed in range(200):
        q = ar.random_question(seed)
        assert q == ar.random_question(seed)
        assert ar.output_size(q.input, q.kernel, q.stride, q.padding, kind=q.kind) == q.output
        assert ar.check_answer(q, q.answer).correct


def test_refusal_in_words_iff_pytorch_refuses_the_2d_layer():
    rng = random.Random(8)
    refused = 0
    for _ in range(300):
        layer = _random_layer(rng)
        try:
            ar.analyze(layer)
            ours = False
        except ValueError:
            ours = True
        said = layer.torch_error()
        assert ours == (said is not None), (layer, said)
        refused += ours
    assert 10 < refused < 290


def _cpu_refuses(layer) -> bool:
    """PyTorch's verdict asked directly: the module built and run on the CPU at the layer's own
    batch, channels and size (never the meta device, whose shape rules are laxer)."""
    args = (layer.in_channels, layer.out_channels) if layer.kind in ("Conv2d", "ConvTranspose2d") else ()
    kwargs = dict(stride=layer.stride, padding=layer.padding)
    if layer.kind in ("Conv2d", "ConvTranspose2d"):
        kwargs.update(dilation=layer.dilation, bias=layer.bias)
    if layer.kind == "ConvTranspose2d":
        kwargs["output_padding"] = layer.output_padding
    if layer.kind == "MaxPool2d":
        kwargs.update(dilation=layer.dilation, ceil_mode=layer.ceil_mode)
    if layer.kind == "AvgPool2d":
        kwargs["ceil_mode"] = layer.ceil_mode
    try:
        with torch.no_grad():
            getattr(nn, layer.kind)(*args, layer.kernel, **kwargs)(
                torch.zeros(layer.batch, layer.in_channels, layer.in_h, layer.in_w))
    except (RuntimeError, ValueError, TypeError):
        return True
    return False


EDGES = dict(stride=4, padding=4, dilation=3, output_padding=3)


def test_torch_error_is_what_the_cpu_says():
    # the layer torch 2.14.1's meta device accepts and its CPU refuses
    layer = ar.Layer("ConvTranspose2d", 17, 7, 1, 3, (5, 3), stride=(1, 3), padding=(1, 1),
                     output_padding=(1, 1), dilation=(1, 2), batch=3)
    assert _cpu_refuses(layer)
    assert "output padding must be smaller" in layer.torch_error()
    rng = random.Random(9)
    refused = transposed_refused = 0
    for _ in range(400):
        layer = _random_layer(rng, **EDGES)
        said = layer.torch_error()
        assert (said is not None) == _cpu_refuses(layer), (layer, said)
        refused += said is not None
        transposed_refused += said is not None and layer.kind == "ConvTranspose2d"
    assert 40 < refused < 360 and transposed_refused > 20, (refused, transposed_refused)


def test_shrunk_layer_gets_the_cpu_verdict_of_the_whole_layer():
    rng = random.Random(10)
    shortened = 0
    for _ in range(400):
        layer = _random_layer(rng, size=60, **EDGES)
        small = layer.shrunk()
        assert (small.batch, small.in_channels, small.out_channels) == (1, 1, 1)
        assert small.in_h <= layer.in_h and small.in_w <= layer.in_w
        assert _cpu_refuses(small) == _cpu_refuses(layer), (layer, small)
        shortened += (small.in_h, small.in_w) != (layer.in_h, layer.in_w)
    assert shortened > 300


def test_torch_error_on_the_largest_layers_stays_small_and_fast():
    import time

    # the page's largest knobs: 4096 channels, 4096x4096 inputs, 64x64 kernels, batch 1024
    accepted = ar.Layer("Conv2d", 4096, 4096, 4096, 4096, 64, 1, 64, batch=1024)
    refused = ar.Layer("ConvTranspose2d", 4096, 4096, 4096, 4096, 64, 1, 64, 1, output_padding=1)
    for layer, verdict in ((accepted, None), (refused, "output padding must be smaller")):
        start = time.perf_counter()
        said = layer.torch_error()
        assert time.perf_counter() - start < 2
        assert said is None if verdict is None else verdict in said
    # a span of millions of rows is past any CPU check: the library's own rule answers
    huge = ar.Layer("Conv2d", 10**5, 10**5, 1, 1, 5000, 1, 0, 1000)
    assert huge.torch_error().startswith("ValueError: The kernel")


# ------------------------------------------------------------------------------ figures
def test_sliding_figure_frames_are_valid_plotly_and_follow_the_steps():
    import plotly.graph_objects as go

    from playground.figures import conv as cf

    image, kernel = ar.random_values(7, 6, 3, 3, seed=1)
    s = ar.slide(image, kernel, stride=2, padding=1)
    fig = cf.sliding_figure(s, start=2)
    d = fig.to_dict()
    go.Figure(d)                          # the unvalidated frames pass plotly's validation
    assert len(d["frames"]) == len(s.steps)
    assert d["layout"]["sliders"][0]["active"] == 2
    last = d["frames"][-1]["data"][0]["z"]
    assert last == s.output                # the last frame shows PyTorch's whole output
    for i in (0, len(s.steps) // 2, len(s.steps) - 1):
        st = s.steps[i]
        frame = d["frames"][i]
        filled = sum(v is not None for row in frame["data"][0]["z"] for v in row)
        assert filled == i + 1
        outline = [sh for sh in frame["layout"]["shapes"] if sh.get("line", {}).get("width") == 4
                   and sh["xref"] == "x"][0]
        assert (outline["x0"] + 0.5, outline["y0"] + 0.5) == (st.cols[0], st.rows[0])
        assert f"Position {i + 1} of {len(s.steps)}" in frame["layout"]["annotations"][-1]["text"]


def test_windows_figure_marks_uncovered_cells():
    from playground.figures import conv as cf

    fig = cf.windows_figure(ar.windows_along(8, 3, 3))
    red = [sh for sh in fig.layout.shapes if sh.fillcolor == cf.UNCOVERED_FILL]
    assert sorted(int(sh.x0 + 0.5) for sh in red) == ar.uncovered(8, 3, 3) == [6, 7]


def test_analyze_installs_no_process_wide_module_hooks(monkeypatch):
    """FlopCounterMode's default tracker registers global module hooks, which would also fire in a
    training thread running beside the page. analyze() must count without them."""
    import torch.nn.modules.module as module_mod

    added = []

    class Spy(dict):
        def __setitem__(self, key, value):
            added.append(key)
            super().__setitem__(key, value)

    for name in ("_global_forward_pre_hooks", "_global_forward_hooks"):
        monkeypatch.setattr(module_mod, name, Spy(getattr(module_mod, name)))
    report = ar.analyze(ar.Layer("Conv2d", 32, 32, 3, 16, 3, 1, 1))
    assert report.macs == 16 * 32 * 32 * 3 * 3 * 3
    assert added == []
