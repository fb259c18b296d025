"""The course's networks as specs: ``PRESETS`` by key, ``preset(name)`` for an editable copy.

Each preset is written the way the course's notebook writes the network (explicit ``in``
sizes where the notebook has them), so a preset can be *wrong* the way the course's
broken example is, and the inspector explains it.
"""
from __future__ import annotations

import copy

from .schema import LayerSpec, Spec


def _conv(out: int, k: int = 3, s: int = 1, p: int | str = 0, cin: int | None = None) -> LayerSpec:
    d: LayerSpec = {"type": "conv2d", "out": out, "kernel": k, "stride": s, "padding": p}
    if cin is not None:
        d = {"type": "conv2d", "in": cin, **{k_: v for k_, v in d.items() if k_ != "type"}}
    return d


R: LayerSpec = {"type": "relu"}
POOL2: LayerSpec = {"type": "maxpool2d", "kernel": 2, "stride": 2}


def _cbr(out: int, s: int = 1) -> list[LayerSpec]:
    return [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R]


def _res(out: int, s: int = 1) -> LayerSpec:
    body = [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R,
            _conv(out, 3, 1, 1) | {"bias": False}, {"type": "batchnorm2d"}]
    return {"type": "residual", "layers": body, "shortcut": "auto", "activation": "relu"}


def _plain(out: int, s: int = 1) -> LayerSpec:
    body = [_conv(out, 3, s, 1) | {"bias": False}, {"type": "batchnorm2d"}, R,
            _conv(out, 3, 1, 1) | {"bias": False}, {"type": "batchnorm2d"}, R]
    return {"type": "sequential", "layers": body}


def _mnist(pooling: bool) -> list[LayerSpec]:
    """The course's MNIST net; without pooling its fc still expects 16*5*5 inputs (broken)."""
    pool = [POOL2] if pooling else []
    return [_conv(8, 3, cin=1), R, *pool, _conv(16, 3, cin=8), R, *pool,
            {"type": "flatten"}, {"type": "linear", "in": 16 * 5 * 5, "out": 10}]


PRESETS: dict[str, Spec] = {
    "simple_cnn_cifar10": {
        "name": "SimpleCNN (CIFAR-10)",
        "description": "The course's 3-conv CNN: conv 32/64/128 with a 2x2 max-pool after each, "
                       "fc 128*4*4 -> 512 -> 10, dropout 0.5.",
        "input_shape": [3, 32, 32],
        "layers": [
            _conv(32, 3, 1, 1, cin=3), R, POOL2,
            _conv(64, 3, 1, 1, cin=32), R, POOL2,
            _conv(128, 3, 1, 1, cin=64), R, POOL2,
            {"type": "flatten"},
            {"type": "linear", "in": 128 * 4 * 4, "out": 512}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "in": 512, "out": 10},
        ],
    },
    "deeper_cnn_cifar10": {
        "name": "Deeper SimpleCNN (BatchNorm, Dropout2d, GAP)",
        "description": "conv 32,32 | 64,64 | 128 with BatchNorm, Dropout2d after each pooled stage, "
                       "global average pooling, fc 128 -> 256 -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [
            _conv(32, 3, 1, 1, cin=3), {"type": "batchnorm2d"}, R,
            _conv(32, 3, 1, 1, cin=32), {"type": "batchnorm2d"}, R,
            POOL2, {"type": "dropout2d", "p": 0.25},
            _conv(64, 3, 1, 1, cin=32), {"type": "batchnorm2d"}, R,
            _conv(64, 3, 1, 1, cin=64), {"type": "batchnorm2d"}, R,
            POOL2, {"type": "dropout2d", "p": 0.25},
            _conv(128, 3, 1, 1, cin=64), {"type": "batchnorm2d"}, R,
            {"type": "globalavgpool"}, {"type": "flatten"},
            {"type": "linear", "in": 128, "out": 256}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "in": 256, "out": 10},
        ],
    },
    "mnist_simple_cnn": {
        "name": "MNIST SimpleCNN",
        "description": "conv 1->8 k3, conv 8->16 k3, 2x2 max-pool after each, fc 16*5*5 -> 10.",
        "input_shape": [1, 28, 28],
        "layers": _mnist(pooling=True),
    },
    "mnist_no_pool_broken": {
        "name": "MNIST SimpleCNN without pooling (broken)",
        "description": "The same network with the pooling layers removed: fc still expects "
                       "16*5*5 inputs, so the shapes no longer fit. The inspector explains the fix.",
        "input_shape": [1, 28, 28],
        "layers": _mnist(pooling=False),
    },
    "vgg_style": {
        "name": "VGG-style (3 blocks)",
        "description": "Three VGG blocks of two 3x3 convs and a 2x2 max-pool (64, 128, 256), "
                       "then fc 256*4*4 -> 256 -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [
            {"type": "sequential", "name": "block1", "layers": [_conv(64, 3, 1, 1), R, _conv(64, 3, 1, 1), R, POOL2]},
            {"type": "sequential", "name": "block2", "layers": [_conv(128, 3, 1, 1), R, _conv(128, 3, 1, 1), R, POOL2]},
            {"type": "sequential", "name": "block3", "layers": [_conv(256, 3, 1, 1), R, _conv(256, 3, 1, 1), R, POOL2]},
            {"type": "flatten"},
            {"type": "linear", "out": 256}, R, {"type": "dropout", "p": 0.5},
            {"type": "linear", "out": 10},
        ],
    },
    "small_resnet": {
        "name": "Small ResNet (CIFAR)",
        "description": "A stem conv, six residual basic blocks (16, 32, 64 channels; projection "
                       "shortcuts where the shape changes), global average pooling, fc -> 10.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(16), _res(16), _res(16), _res(32, 2), _res(32), _res(64, 2), _res(64),
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 10}],
    },
    "small_plain": {
        "name": "Small plain net (no skips)",
        "description": "The small ResNet's exact depth and widths without skip connections, "
                       "for comparison.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(16), _plain(16), _plain(16), _plain(32, 2), _plain(32), _plain(64, 2),
                   _plain(64), {"type": "globalavgpool"}, {"type": "flatten"},
                   {"type": "linear", "out": 10}],
    },
    "tiny_vgg": {
        "name": "TinyVGG (CNN Explainer)",
        "description": "Two blocks of conv 10 k3 + ReLU twice and a 2x2 max-pool on a 64x64 "
                       "image, fc 10*13*13 -> 10.",
        "input_shape": [3, 64, 64],
        "layers": [
            _conv(10, 3, cin=3), R, _conv(10, 3, cin=10), R, POOL2,
            _conv(10, 3, cin=10), R, _conv(10, 3, cin=10), R, POOL2,
            {"type": "flatten"}, {"type": "linear", "in": 10 * 13 * 13, "out": 10},
        ],
    },
    "shapes_cnn": {
        "name": "Shapes CNN (the default model)",
        "description": "The shipped default model's network: five conv-BN-ReLU layers (24, 48, 64, "
                       "64, 64 channels, 3x3) with two 2x2 max-pools, global average pooling and "
                       "one linear layer. Small and all-conv; its last layer's receptive field "
                       "(34 px) covers a whole shape from every position, so Grad-CAM on it "
                       "peaks on the shape itself.",
        "input_shape": [3, 32, 32],
        "layers": [*_cbr(24), POOL2, *_cbr(48), POOL2, *_cbr(64), *_cbr(64), *_cbr(64),
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 8}],
    },
}


def preset(name: str) -> Spec:
    """A deep copy of a course preset (so callers may edit it)."""
    if name not in PRESETS:
        raise KeyError(f"No preset {name!r}. Presets: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
