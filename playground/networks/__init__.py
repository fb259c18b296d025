"""Networks as data.

A *spec* is a JSON-able dict::

    {"name": "MNIST SimpleCNN", "input_shape": [1, 28, 28],
     "layers": [{"type": "conv2d", "out": 8, "kernel": 3}, {"type": "relu"}, ...]}

Each layer is a dict with a ``type`` and its fields (:mod:`.schema`: the one catalogue of layer
types). Input channels of conv / batch-norm layers and ``in`` of linear layers may be left out:
they are inferred from the shape that reaches the layer. When they are given (as the course's
code writes them, e.g. ``"in": 400``) they are used as written, so a spec can be *wrong* the way
a student's code is wrong, and the inspector (:mod:`playground.summary`) explains the mismatch.

Blocks hold their own list: ``{"type": "sequential", "layers": [...]}`` groups layers (a VGG
block), ``{"type": "residual", "layers": [...], "shortcut": "auto"}`` adds a skip connection
around its body (identity when shapes match, else a 1x1 conv + BatchNorm projection).

torchvision models enter by name (:mod:`.zoo`): ``{"torchvision": "resnet18", "weights":
"DEFAULT", "num_classes": 2, "freeze": true, "input_shape": [3, 224, 224]}``.

Rooms: ``schema`` (layer types), ``build`` (spec -> module), ``edit`` (change a spec by layer
path), ``presets`` (the course's networks), ``zoo`` (torchvision), ``io`` (JSON and checking
untrusted specs).
"""
from . import vit, zoo
from .build import DEFAULT_INPUT, SpecNet, adapt, build, num_classes, output_shape, probe
from .edit import (get_layer, insert_layer, layer_list, layer_names, move_layer, new_layer,
                   remove_layer, set_field, walk)
from .io import (MAX_ACTIVATION_BYTES, MAX_CHANNELS, MAX_LAYERS, MAX_NESTING, MAX_PARAMS, MAX_SIDE,
                 MAX_SPEC_BYTES, check_budget, cost, from_json, parse_spec, to_json, validate)
from .presets import PRESETS, preset
from .schema import (ACTIVATIONS, LAYER_TYPES, Field, LayerSpec, LayerType, ResidualBlock, Spec,
                     SpecError, is_block, layer_type)
from .zoo import (WeightsUnavailable, build_torchvision, freeze_backbone, head_path, replace_head,
                  torchvision_weights)

__all__ = [
    "ACTIVATIONS", "DEFAULT_INPUT", "LAYER_TYPES", "MAX_ACTIVATION_BYTES", "MAX_CHANNELS",
    "MAX_LAYERS", "MAX_NESTING", "MAX_PARAMS", "MAX_SIDE", "MAX_SPEC_BYTES", "check_budget", "cost",
    "PRESETS", "Field", "LayerSpec", "LayerType", "ResidualBlock", "Spec", "SpecError", "SpecNet",
    "WeightsUnavailable", "adapt", "build", "build_torchvision", "freeze_backbone", "from_json",
    "get_layer", "head_path", "insert_layer", "is_block", "layer_list", "layer_names",
    "layer_type", "move_layer", "new_layer", "num_classes", "output_shape", "parse_spec", "preset",
    "probe", "remove_layer", "replace_head", "set_field", "to_json", "torchvision_weights", "validate", "walk",
    "vit", "zoo",
]
