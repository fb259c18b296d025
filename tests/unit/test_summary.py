"""playground.summary: shapes, parameters, MACs and receptive fields checked against PyTorch
itself (real forwards, a gradient measurement), and shape errors explained with fixes that work."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from playground import networks
from playground.summary import Fix, apply_fix, fc_comparison, summarize

torch.set_num_threads(1)
GOOD_PRESETS = [k for k in networks.PRESETS if "broken" not in k]
TV_SMALL = ["resnet18", "mobilenet_v2"]                      # real CPU forward
TV_BIG = ["resnet50", "vgg16", "efficientnet_b0", "convnext_tiny"]   # meta forward


# ------------------------------------------------------------------------------------------
# independent references
# ------------------------------------------------------------------------------------------
def hooked_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of every leaf module call, by PyTorch's own forward."""
    shapes, calls, handles = {}, {}, []
    for name, m in model.named_modules():
        if name and not list(m.children()):
            def hook(mod, inp, out, name=name):
                calls[name] = calls.get(name, 0) + 1
                shapes[name if calls[name] == 1 else f"{name}#{calls[name]}"] = tuple(out.shape[1:])
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return shapes


def check_against_forward(model: nn.Module, input_shape, device: str) -> None:
    summary = summarize(model, input_shape)
    assert summary.error is None
    shapes = hooked_outputs(model, torch.zeros((1, *input_shape), device=device))
    leaf_rows = [r for r in summary.rows if not r.op]
    assert [r.name for r in leaf_rows] == list(shapes)            # every call, in execution order
    for r in leaf_rows:
        assert r.output_shape == shapes[r.name], r.name
        if "#" not in r.name:
            mod = model.get_submodule(r.name)
            assert r.params == sum(p.numel() for p in mod.parameters()), r.name
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in summary.rows) == summary.total_params
    assert summary.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", GOOD_PRESETS)
def test_presets_match_a_real_cpu_forward(name):
    spec = networks.preset(name)
    check_against_forward(networks.build(spec), tuple(spec["input_shape"]), "cpu")


@pytest.mark.parametrize("name", TV_SMALL)
def test_small_torchvision_models_match_a_real_cpu_forward(name):
    check_against_forward(torchvision.models.get_model(name), (3, 224, 224), "cpu")


@pytest.mark.parametrize("name", TV_BIG)
def test_big_torchvision_models_match_a_meta_forward(name):
    with torch.device("meta"):
        model = torchvision.models.get_model(name)
    check_against_forward(model, (3, 224, 224), "meta")


def test_summary_accepts_specs_and_modules_alike():
    spec = networks.preset("small_resnet")
    a, b = summarize(spec), summarize(networks.build(spec), spec["input_shape"])
    assert [(r.name, r.output_shape, r.params, r.rf) for r in a.rows] == \
        [(r.name, r.output_shape, r.params, r.rf) for r in b.rows]
    tv = summarize({"torchvision": "resnet18", "input_shape": [3, 224, 224]})
    assert tv.total_params == sum(p.numel() for p in torchvision.models.resnet18().parameters())


def test_macs_of_convs_and_linears_follow_their_definition():
    """MACs of a conv = output values x (in_channels / groups) x k x k; of a linear = in x out."""
    for model in (torchvision.models.mobilenet_v2(), networks.build(networks.preset("small_resnet"))):
        shape = (3, 96, 96) if isinstance(model, torchvision.models.MobileNetV2) else (3, 32, 32)
        s = summarize(model, shape)
        total = 0
        for r in s.rows:
            if r.op or "#" in r.name:
                continue
            m = model.get_submodule(r.name)
            if isinstance(m, nn.Conv2d):
                expect = math.prod(r.output_shape) * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            elif isinstance(m, nn.Linear):
                expect = m.in_features * m.out_features
            else:
                assert r.macs == 0, r.name
                continue
            assert r.macs == expect, r.name
            total += expect
        assert s.total_macs == total


def test_residual_adds_are_rows_and_frozen_parameters_are_counted():
    s = summarize(networks.preset("small_resnet"))
    names = [r.name for r in s.rows]
    assert names.index("res1.body.bn3") < names.index("res1.add") < names.index("res1.act")
    assert s.row("res3.add").type.startswith("Add")
    model = networks.build_torchvision("resnet18", num_classes=2, freeze=True)
    s = summarize(model, (3, 224, 224))
    assert s.row("layer1.0.add").output_shape == (64, 56, 56)
    assert s.trainable_params == sum(p.numel() for p in model.fc.parameters())
    assert s.frozen_params == sum(p.numel() for p in model.parameters()) - s.trainable_params
    assert s.row("fc").trainable == s.row("fc").params and s.row("conv1").trainable == 0
    # the real model is left as it was: on the CPU, no hooks
    assert next(model.parameters()).device.type == "cpu"
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_size_and_activation_memory():
    spec = networks.preset("mnist_simple_cnn")
    s = summarize(spec)
    model = networks.build(spec)
    nbytes = sum(t.numel() * 4 for t in list(model.parameters()) + list(model.buffers()))
    assert s.size_mb == pytest.approx(nbytes / 1e6)
    assert s.row("conv1").memory == 8 * 26 * 26 * 4        # float32, batch of one
    assert s.activation_bytes == sum(r.memory for r in s.rows)


def test_fully_connected_comparison_is_the_courses_example():
    assert fc_comparison((3, 224, 224), 1024) == 224 * 224 * 3 * 1024 == 154_140_672


# ------------------------------------------------------------------------------------------
# receptive fields against a gradient measurement
# ------------------------------------------------------------------------------------------
def prepare_for_gradients(model: nn.Module, seed: int = 0) -> nn.Module:
    """A float64 CPU copy whose gradient is non-zero exactly on the receptive field: max-pools
    become average pools of the same geometry (a max routes gradient to one pixel), clamps such
    as ReLU become identities (they zero gradients), weights are random positive / fan-in."""
    g = torch.Generator().manual_seed(seed)

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
            elif isinstance(child, (nn.ReLU, nn.ReLU6, nn.Hardtanh)):
                setattr(parent, name, nn.Identity())
            else:
                swap(child)

    swap(model)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 0.5 + 0.5) / fan_in)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    return model


def measured_extents(model: nn.Module, input_shape, rows) -> dict[str, tuple[int, int]]:
    """Input rows (first, last) with a non-zero gradient of each row's centre output pixel
    (summed over channels; a vector output: all of it)."""
    outputs, calls, handles = {}, {}, []
    for n, m in model.named_modules():
        if n:
            def hook(mod, inp, out, n=n):
                calls[n] = calls.get(n, 0) + 1
                outputs[n if calls[n] == 1 else f"{n}#{calls[n]}"] = out
            handles.append(m.register_forward_hook(hook))
    g = torch.Generator().manual_seed(1)
    x = (torch.rand((1, *input_shape), generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    model(x)
    for h in handles:
        h.remove()
    result = {}
    for r in rows:
        y = outputs[r.name][0]
        if len(r.output_shape) == 3:
            y = y.movedim(r.hdim, 0)                      # (H, W, C) whatever the layout
            target = y[y.shape[0] // 2, y.shape[1] // 2].sum()
        else:
            target = y.sum()
        (grad,) = torch.autograd.grad(target, x, retain_graph=True)
        nz = grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
        result[r.name] = (int(nz.min()), int(nz.max()))
    return result


def check_receptive_fields(model: nn.Module, input_shape, max_rows: int | None = None) -> int:
    s = summarize(model, input_shape)
    rows = [r for r in s.rows if not r.op]
    if max_rows and len(rows) > max_rows:        # evenly spread, always the last one
        rows = [rows[round(i * (len(rows) - 1) / (max_rows - 1))] for i in range(max_rows)]
    got = measured_extents(prepare_for_gradients(model), input_shape, rows)
    for r in rows:
        centre = r.output_shape[r.hdim] // 2 if len(r.output_shape) == 3 else 0
        assert got[r.name] == r.extent(centre, input_shape[1]), (r.name, r.rf, r.jump)
    return len(rows)


@pytest.mark.parametrize("name", GOOD_PRESETS)
def test_receptive_fields_of_presets_match_gradients(name):
    spec = networks.preset(name)
    assert check_receptive_fields(networks.build(spec), tuple(spec["input_shape"])) > 5


@pytest.mark.parametrize("name,size,rows", [
    ("resnet18", 96, 24), ("resnet50", 64, 12), ("vgg16", 48, 16), ("mobilenet_v2", 64, 20),
    ("efficientnet_b0", 64, 20), ("convnext_tiny", 64, 12)])
def test_receptive_fields_of_torchvision_models_match_gradients(name, size, rows):
    if name == "vgg16":
        # the conv part only (the 102M weights of its classifier add nothing but time: a linear
        # layer sees everything); built on meta, materialised without the slow init
        with torch.device("meta"):
            model = torchvision.models.vgg16().features
        model = model.to_empty(device="cpu")
    else:
        model = torchvision.models.get_model(name)
    check_receptive_fields(model, (3, size, size), rows)


def test_receptive_field_numbers_on_known_stacks():
    """The textbook recurrences: two 3x3 convs see 5x5, a 2x2/2 pool doubles the jump."""
    s = summarize(networks.preset("tiny_vgg"))
    assert [(s.row(n).rf, s.row(n).jump) for n in ("conv1", "conv2", "pool1", "conv3")] == \
        [(3, 1), (5, 1), (6, 2), (10, 2)]
    r18 = summarize({"torchvision": "resnet18"}, (3, 224, 224))
    # the largest path: through both 3x3 convs of every block (the 1x1 shortcuts see less)
    assert r18.row("layer1.0.add").rf == r18.row("layer1.0.bn2").rf > r18.row("maxpool").rf
    assert r18.row("layer4.1.bn2").rf == 435 and r18.row("layer4.1.bn2").jump == 32


# ------------------------------------------------------------------------------------------
# shape errors
# ------------------------------------------------------------------------------------------
def fix_until_it_fits(spec: dict, limit: int = 5) -> tuple[dict, list[Fix]]:
    applied = []
    for _ in range(limit):
        s = summarize(spec)
        if s.error is None:
            return spec, applied
        assert s.error.fix is not None, s.error.message
        applied.append(s.error.fix)
        spec = apply_fix(spec, s.error.fix)
    raise AssertionError(f"still broken after {limit} fixes: {applied}")


def test_broken_mnist_gets_in_features_9216():
    s = summarize(networks.preset("mnist_no_pool_broken"))
    err = s.error
    assert err.layer == "fc1" and s.rows[-1].name == "fc1" and s.rows[-1].output_shape is None
    assert (err.fix.action, err.fix.field, err.fix.value) == ("set", "in", 9216)
    assert "9,216" in err.message and "400" in err.message
    assert "mat1 and mat2 shapes cannot be multiplied (1x9216 and 400x10)" in err.torch_error
    fixed = apply_fix(networks.preset("mnist_no_pool_broken"), err.fix)
    model = networks.build(fixed)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert summarize(fixed).error is None


def test_channel_mismatch_is_explained_and_fixed():
    spec = networks.set_field(networks.preset("tiny_vgg"), (0,), "out", 12)
    s = summarize(spec)
    assert s.error.layer == "conv2" and "expects 10 input channels" in s.error.message
    assert "makes 12" in s.error.message
    assert (s.error.fix.field, s.error.fix.value) == ("in", 12)
    assert "expected input[1, 12, 62, 62] to have 10 channels" in s.error.torch_error
    fixed, _ = fix_until_it_fits(spec)
    assert networks.build(fixed)(torch.zeros(1, 3, 64, 64)).shape == (1, 10)


def test_size_falling_to_zero_removes_a_pool():
    spec = networks.preset("mnist_simple_cnn")
    spec["input_shape"] = [1, 8, 8]                 # 8 -> 6 -> 3 -> 1 -> pool: 0
    s = summarize(spec)
    assert s.error.layer == "pool2" and "falls to zero" in s.error.message
    assert s.error.fix.action == "remove"
    assert "Output size is too small" in s.error.torch_error
    fixed, fixes = fix_until_it_fits(spec)
    assert [f.action for f in fixes] == ["remove", "set"]      # then fc1 gets in = 16*1*1
    assert networks.build(fixed)(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_kernel_bigger_than_input_gets_padding():
    spec = {"input_shape": [3, 4, 4], "layers": [
        {"type": "conv2d", "out": 8, "kernel": 3}, {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "out": 8, "kernel": 5}, {"type": "flatten"}, {"type": "linear", "out": 2}]}
    s = summarize(spec)
    assert s.error.layer == "conv2" and "does not fit" in s.error.message
    assert "Kernel size can't be greater than actual input size" in s.error.torch_error
    assert s.error.fix.field == "padding"
    fixed, _ = fix_until_it_fits(spec)
    assert networks.build(fixed)(torch.zeros(1, 3, 4, 4)).shape == (1, 2)


def test_flatten_too_early_and_missing_flatten():
    early = {"input_shape": [3, 16, 16], "layers": [
        {"type": "conv2d", "out": 4, "kernel": 3}, {"type": "flatten"},
        {"type": "conv2d", "out": 8, "kernel": 3}, {"type": "linear", "out": 2}]}
    s = summarize(early)
    assert s.error.layer == "conv2" and "Flatten" in s.error.message
    assert s.error.fix.action == "remove" and s.error.fix.path == (1,)
    assert [r.name for r in s.rows[:2]] == ["conv1", "flatten"]
    missing = {"input_shape": [3, 16, 16], "layers": [
        {"type": "conv2d", "out": 4, "kernel": 3}, {"type": "linear", "in": 784, "out": 2}]}
    s = summarize(missing)
    assert s.error.layer == "fc1" and "image-shaped" in s.error.message
    assert s.error.fix.action == "insert" and s.error.fix.value == {"type": "flatten"}
    fixed, _ = fix_until_it_fits(missing)
    assert networks.build(fixed)(torch.zeros(1, 3, 16, 16)).shape == (1, 2)


def test_residual_identity_shortcut_that_cannot_add():
    spec = networks.preset("small_resnet")
    spec["layers"][5]["shortcut"] = "identity"           # res3 halves the size, doubles channels
    s = summarize(spec)
    assert s.error.layer == "res3.add" and "two paths" in s.error.message
    fixed, fixes = fix_until_it_fits(spec)
    assert fixes[0].field == "shortcut" and fixes[0].value == "projection"
    assert summarize(fixed).total_params == summarize(networks.preset("small_resnet")).total_params


def test_torchvision_model_on_a_grey_image():
    s = summarize({"torchvision": "resnet18", "input_shape": [1, 224, 224]})
    assert s.error.layer == "conv1" and "3 input channels" in s.error.message
    assert s.error.fix.path == () and s.error.fix.value == [3, 224, 224]
    fixed = apply_fix({"torchvision": "resnet18", "input_shape": [1, 224, 224]}, s.error.fix)
    assert summarize(fixed).error is None


def test_malformed_specs_raise_spec_errors():
    with pytest.raises(networks.SpecError, match="unknown layer type"):
        summarize({"input_shape": [3, 8, 8], "layers": [{"type": "conv3d"}]})
    with pytest.raises(networks.SpecError):
        summarize(networks.preset("mnist_simple_cnn"), (1, 0, 28))


def test_groups_that_do_not_divide_and_conv_after_a_linear():
    s = summarize({"input_shape": [3, 8, 8], "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "groups": 2}]})
    assert s.error.layer == "conv1" and "groups" in s.error.message
    assert (s.error.fix.field, s.error.fix.value) == ("groups", 1)
    s = summarize({"input_shape": [3, 16, 16], "layers": [
        {"type": "flatten"}, {"type": "linear", "out": 8}, {"type": "conv2d", "out": 4, "kernel": 3}]})
    assert s.error.layer == "conv1" and s.error.fix is None     # no one-click fix would help
    assert "before the Flatten" in s.error.message


@pytest.mark.filterwarnings("ignore:dropout2d")
def test_random_specs_never_crash_the_inspector_and_fixes_terminate():
    """Random stacks of layers: summarize answers (rows or an explained error), every fix it
    offers changes the spec, and following the fixes never cycles."""
    import random

    rng = random.Random(0)
    kinds = ["conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "relu", "dropout", "flatten",
             "linear", "globalavgpool", "dropout2d"]
    for _ in range(25):
        layers = []
        for _ in range(rng.randint(1, 7)):
            t = rng.choice(kinds)
            layer = networks.new_layer(t)
            if t == "conv2d":
                layer.update(out=rng.choice([2, 4, 8]), kernel=rng.choice([1, 3, 5, 7]),
                             stride=rng.choice([1, 2]), padding=rng.choice([0, 1]))
                if rng.random() < 0.3:
                    layer["in"] = rng.choice([1, 3, 4])
            if t == "linear":
                layer["out"] = rng.choice([3, 10])
                if rng.random() < 0.5:
                    layer["in"] = rng.choice([16, 100])
            layers.append(layer)
        spec = {"input_shape": [3, rng.choice([4, 8, 16]), 16], "layers": layers}
        seen = set()
        for _ in range(8):
            s = summarize(spec)
            if s.error is None:
                networks.build(spec).eval()(torch.zeros(1, *spec["input_shape"]))   # it really runs
                break
            assert s.error.message and s.rows[-1].output_shape is None
            if s.error.fix is None:
                break
            key = str(spec)
            assert key not in seen, f"fixes cycle: {s.error.fix}"
            seen.add(key)
            spec = apply_fix(spec, s.error.fix)


def test_no_process_wide_hooks_while_summarizing():
    """A training thread beside the page must not see the inspector's hooks (FlopCounterMode's
    own module tracker would install global ones)."""
    from torch.nn.modules import module as module_mod

    seen = []
    model = networks.build(networks.preset("mnist_simple_cnn"))
    model.conv2.register_forward_hook(
        lambda m, i, o: seen.append(len(module_mod._global_forward_hooks) + len(module_mod._global_forward_pre_hooks)))
    s = summarize(model, (1, 28, 28))
    assert seen == [0] and s.row("conv2").macs == 16 * 11 * 11 * 8 * 9


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16"])
def test_macs_and_params_pinned_to_torchvision_metadata(name):
    """The MAC pin: playground/flops.py swaps FlopCounterMode's undocumented ``mod_tracker``;
    if a torch update changes what that does, these published figures stop matching.
    torchvision's ``meta["_ops"]`` ("GFLOPS" in its tables) counts one multiply-add as one
    operation, at 224x224 (its weights' crop): it is GMACs, i.e. torch's FlopCounterMode FLOPs / 2
    (which counts the multiply and the add), published to 3 decimals."""
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    with torch.device("meta"):                       # no memory, no weights: shapes only
        model = torchvision.models.get_model(name)
    s = summarize(model, (3, 224, 224))
    assert s.error is None
    assert s.total_params == meta["num_params"]
    assert round(s.total_macs / 1e9, 3) == meta["_ops"], (s.total_macs, meta["_ops"])
    # the per-module attribution (the swapped tracker) adds up to the global count (ViT's
    # attention products run inside nn.MultiheadAttention, which is no leaf row)
    if name != "vit_b_16":
        assert sum(r.macs for r in s.rows) == s.total_macs


# ------------------------------------------------------------------------------------------
# the figures drawn from a summary
# ------------------------------------------------------------------------------------------
def test_block_diagram_in_the_courses_style():
    from playground.figures import network as fig_net

    s = summarize({"torchvision": "resnet18"}, (3, 224, 224))
    boxes = fig_net.boxes(s)
    assert [b.label for b in boxes][:3] == ["Conv+BN+ReLU", "MaxPool", "layer1"]
    assert [b.shape for b in boxes if b.label.startswith("layer")] == \
        [s.row(f"layer{i}.1.relu#2").output_shape for i in range(1, 5)]
    text = fig_net.diagram_svg(s)
    for shape in ("224x224x3", "112x112x64", "56x56x64", "7x7x512", ">1,000<", ">classes<"):
        assert shape in text
    broken = fig_net.boxes(summarize(networks.preset("mnist_no_pool_broken")))
    assert broken[-1].kind == "error" and broken[-2].shape == (9216,)


def test_fc_comparison_and_receptive_field_figures():
    import xml.etree.ElementTree as ET

    from playground.figures import network_charts as charts

    s = summarize(networks.preset("simple_cnn_cifar10"))
    svg = lambda div: ET.fromstring(div[div.index("<svg"):div.rindex("</svg>") + 6])   # noqa: E731
    ns = "{http://www.w3.org/2000/svg}"
    bars = [g for g in svg(charts.fc_comparison_svg(s)).iter(f"{ns}g") if g.get("class") == "bar"]
    assert [int(g.get("data-value")) for g in bars] == [32 * 32 * 3 * 1024, s.total_params, s.row("conv1").params]
    widths = [float(g.find(f"{ns}rect").get("width")) for g in bars]
    assert widths[0] > widths[1] > widths[2] > 0          # log scale: the dense layer's bar is longest
    assert bars[0].find(f"{ns}title").text == "One dense layer: 3,145,728 weights"
    assert "32x32x3 -> 1,024" in [t.text for t in bars[0].iter(f"{ns}text")]
    rf = svg(charts.receptive_field_svg(s))
    points = [g for g in rf.iter(f"{ns}g") if g.get("class") == "pt"]
    assert [int(g.get("data-rf")) for g in points] == [r.rf for r in s.rows]
    assert "conv1 (Conv2d): receptive field 3 px" in points[0].find(f"{ns}title").text
    ys = [float(g.find(f"{ns}circle").get("cy")) for g in points]
    assert ys[-1] < ys[0]                                 # the field grows: drawn higher up
    assert next(g for g in rf.iter(f"{ns}g") if g.get("class") == "input-height").get("data-value") == "32"
