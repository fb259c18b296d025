"""What kind of layer a module is (conv, pool, act, norm, ...), by class name: one catalogue
that the inspector's block diagram and Look inside's layer lists both read.

Names, not classes, because the summary's rows carry class names; a module is matched through
its class's MRO, so subclasses (torchvision's ``LayerNorm2d``, a learner's ``MyReLU(nn.ReLU)``)
get their parent's kind.
"""
from __future__ import annotations

from torch import nn

KIND_CLASSES: dict[str, frozenset[str]] = {
    "conv": frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "LazyConv2d"}),
    "pool": frozenset({"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "LPPool2d"}),
    "act": frozenset({"ReLU", "ReLU6", "LeakyReLU", "PReLU", "GELU", "SiLU", "Hardswish", "ELU",
                      "SELU", "Tanh", "Sigmoid", "Hardsigmoid", "Mish", "Softplus"}),
    "norm": frozenset({"BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm",
                       "LayerNorm2d", "LocalResponseNorm"}),
    "drop": frozenset({"Dropout", "Dropout2d", "AlphaDropout", "StochasticDepth", "Identity"}),
    "fc": frozenset({"Linear", "LazyLinear", "Bilinear"}),
    "flatten": frozenset({"Flatten", "flatten"}),
}
_BY_NAME = {name: kind for kind, names in KIND_CLASSES.items() for name in names}


def kind_of_name(type_name: str) -> str | None:
    """The kind of a layer class name ('Conv2d' -> 'conv'), None when it is none of them."""
    return _BY_NAME.get(type_name)


def kind_of(module: nn.Module) -> str | None:
    """The kind of a module, through its class's MRO (None for containers and unknown layers)."""
    for cls in type(module).__mro__:
        kind = _BY_NAME.get(cls.__name__)
        if kind is not None:
            return kind
    return None
