"""playground.networks: the course presets as the course writes them, the spec format, JSON
validation, and spec editing."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from playground import networks
from playground.networks import SpecError

torch.set_num_threads(1)


def modules(spec, kind):
    return [m for m in networks.build(spec).modules() if isinstance(m, kind)]


def flat_size_before_first_linear(spec) -> int:
    """What really reaches the first Linear, from PyTorch's forward."""
    net = networks.build(spec)
    seen = []
    lin = next(m for m in net.modules() if isinstance(m, nn.Linear))
    h = lin.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape[1:]))
    with torch.no_grad():
        net.eval()(torch.zeros(1, *spec["input_shape"]))
    h.remove()
    return int(torch.tensor(seen[0]).prod())


def test_simple_cnn_cifar10_as_the_course_writes_it():
    spec = networks.preset("simple_cnn_cifar10")
    convs = modules(spec, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 32), (32, 64), (64, 128)]
    assert len(modules(spec, nn.MaxPool2d)) == 3
    lins = modules(spec, nn.Linear)
    assert [(l.in_features, l.out_features) for l in lins] == [(128 * 4 * 4, 512), (512, 10)]
    assert flat_size_before_first_linear(spec) == 128 * 4 * 4
    assert [d.p for d in modules(spec, nn.Dropout)] == [0.5]


def test_deeper_cnn_has_batchnorm_dropout2d_and_gap():
    spec = networks.preset("deeper_cnn_cifar10")
    assert [c.out_channels for c in modules(spec, nn.Conv2d)] == [32, 32, 64, 64, 128]
    assert len(modules(spec, nn.BatchNorm2d)) == 5
    assert len(modules(spec, nn.Dropout2d)) >= 1 and len(modules(spec, nn.AdaptiveAvgPool2d)) == 1
    assert [(l.in_features, l.out_features) for l in modules(spec, nn.Linear)] == [(128, 256), (256, 10)]
    assert networks.build(spec).eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mnist_simple_cnn_and_its_broken_variant():
    spec = networks.preset("mnist_simple_cnn")
    convs = modules(spec, nn.Conv2d)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 8, (3, 3)), (8, 16, (3, 3))]
    assert len(modules(spec, nn.MaxPool2d)) == 2
    assert [(l.in_features, l.out_features) for l in modules(spec, nn.Linear)] == [(16 * 5 * 5, 10)]
    assert flat_size_before_first_linear(spec) == 16 * 5 * 5
    broken = networks.preset("mnist_no_pool_broken")
    assert not modules(broken, nn.MaxPool2d)
    assert modules(broken, nn.Linear)[0].in_features == 400            # as written: it breaks
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        networks.build(broken)(torch.zeros(1, 1, 28, 28))


def test_tiny_vgg_vgg_style_and_the_resnet_pair():
    tiny = networks.preset("tiny_vgg")
    assert [c.out_channels for c in modules(tiny, nn.Conv2d)] == [10, 10, 10, 10]
    assert flat_size_before_first_linear(tiny) == 10 * 13 * 13 == modules(tiny, nn.Linear)[0].in_features
    vgg = networks.build(networks.preset("vgg_style"))
    assert [n for n, _ in vgg.named_children()][:3] == ["block1", "block2", "block3"]
    res, plain = networks.preset("small_resnet"), networks.preset("small_plain")
    body = lambda s: [c.out_channels for c in modules(s, nn.Conv2d) if c.kernel_size == (3, 3)]
    assert body(res) == body(plain)                                   # same depth and widths
    assert len(modules(res, networks.ResidualBlock)) == 6 and not modules(plain, networks.ResidualBlock)


def test_paths_name_every_module_like_layer_names():
    for key in networks.PRESETS:
        spec = networks.preset(key)
        net = networks.build(spec)
        assert list(net.paths.items()) == networks.layer_names(spec)
        for name, path in net.paths.items():
            net.get_submodule(name)                                    # a real module
            networks.get_layer(spec, path)


def test_parse_spec_and_from_json_reject_bad_specs_clearly():
    good = networks.preset("mnist_simple_cnn")
    assert networks.from_json(networks.to_json(good)) == good
    assert networks.from_json(networks.to_json(good).encode()) == good
    cases = [
        ("{not json", "Not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"input_shape": [3, 32], "layers": []}', "three whole numbers"),
        ('{"input_shape": [3, 99999, 32], "layers": []}', "out of range"),
        ('{"input_shape": [3, 32, 32], "layers": [{"type": "conv"}]}', "unknown layer type"),
        ('{"input_shape": [3, 32, 32], "layers": [{"type": "conv2d", "out": -4}]}', "whole number"),
        ('{"input_shape": [3, 32, 32], "layers": [{"type": "conv2d", "colour": 1}]}', "unknown field"),
        ('{"input_shape": [3, 32, 32], "layers": [{"type": "dropout", "p": 3}]}', "from 0 to 1"),
        ('{"input_shape": [3, 32, 32], "layers": [{"type": "relu", "name": "../x"}]}', "identifier"),
        ('{"torchvision": "resnet1800"}', "no classification model"),
        ('{"input_shape": [3, 32, 32], "layers": "conv"}', "list"),
    ]
    for text, words in cases:
        with pytest.raises(SpecError, match=words):
            networks.from_json(text)
    with pytest.raises(SpecError, match="not text"):
        networks.from_json(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match="at most"):
        networks.from_json(b" " * (networks.MAX_SPEC_BYTES + 1))
    deep = {"input_shape": [3, 8, 8], "layers": [{"type": "relu"}] * (networks.MAX_LAYERS + 1)}
    with pytest.raises(SpecError, match="too big"):
        networks.parse_spec(deep)


def test_editing_returns_new_specs_and_leaves_the_old_one():
    spec = networks.preset("small_resnet")
    before = json.dumps(spec, sort_keys=True)
    a = networks.set_field(spec, (3, 0), "out", 24)
    assert networks.get_layer(a, (3, 0))["out"] == 24
    b = networks.insert_layer(spec, (1,), networks.new_layer("dropout2d"))
    assert networks.get_layer(b, (1,)) == {"type": "dropout2d", "p": 0.25}
    c = networks.remove_layer(spec, (3, 2))
    assert len(networks.get_layer(c, (3,))["layers"]) == 4
    d, where = networks.move_layer(spec, (0,), 1)
    assert where == (1,) and networks.get_layer(d, (1,))["type"] == "conv2d"
    _, clamped = networks.move_layer(spec, (0,), -3)
    assert clamped == (0,)
    e = networks.set_field(networks.preset("mnist_simple_cnn"), (0,), "in", None)
    assert "in" not in networks.get_layer(e, (0,))
    assert json.dumps(spec, sort_keys=True) == before


def test_adapt_and_torchvision_specs_still_work():
    spec = networks.adapt(networks.preset("simple_cnn_cifar10"), (1, 28, 28), 4)
    assert networks.build(spec)(torch.zeros(1, 1, 28, 28)).shape == (1, 4)
    with torch.device("meta"):
        m = networks.build({"torchvision": "resnet18", "num_classes": 3, "freeze": True})
    assert m.fc.out_features == 3 and not m.conv1.weight.requires_grad and m.fc.weight.requires_grad


def test_the_catalogues_are_one_registry_each():
    from playground.networks import zoo

    assert set(zoo.names("imagenet")) <= set(zoo.ZOO) and zoo.names("transfer")
    assert all(zoo.exists(name) for name in zoo.ZOO)           # torchvision really has them
    residual = networks.LAYER_TYPES["residual"].field("activation")
    assert residual.choices == tuple(networks.ACTIVATIONS)
    for t in networks.LAYER_TYPES.values():                    # every default passes the parser
        layer = networks.new_layer(t.name)
        networks.parse_spec({"input_shape": [3, 8, 8], "layers": [layer]})


def test_a_new_layer_type_is_one_registry_entry(monkeypatch):
    """Registering a type (here nn.ELU) makes it buildable, editable, exportable and
    summarizable with no other code change."""
    from playground import export
    from playground.networks.schema import Field, LayerType
    from playground.summary import summarize

    elu = LayerType("elu", "elu", "ELU", (Field("alpha", 1.0, "float", low=0, high=10),),
                    lambda l, shape: nn.ELU(float(l["alpha"])), keeps_shape=True)
    monkeypatch.setitem(networks.LAYER_TYPES, "elu", elu)
    assert networks.new_layer("elu") == {"type": "elu", "alpha": 1.0}
    spec = networks.insert_layer(networks.preset("mnist_simple_cnn"), (1,), networks.new_layer("elu"))
    spec = networks.from_json(networks.to_json(networks.set_field(spec, (1,), "alpha", 0.5)))
    net = networks.build(spec).eval()
    assert isinstance(net.elu1, nn.ELU) and net.elu1.alpha == 0.5
    assert ("elu1", (1,)) in networks.layer_names(spec)
    ns: dict = {}
    exec(compile(export.to_code(spec), "<exported>", "exec"), ns)
    model = ns[export.class_name(spec["name"])]().eval()
    model.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x))
    rows = summarize(spec).rows
    assert any(r.name == "elu1" and r.output_shape is not None for r in rows)
    with pytest.raises(SpecError, match="alpha must be a number"):
        networks.parse_spec({**spec, "layers": [{"type": "elu", "alpha": 99}]})
