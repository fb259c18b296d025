"""A pasted network as data: its *code spec*, traced like any network, trained like a preset and
rebuilt from a checkpoint, all through :func:`~.loader.load`.

A code spec is JSON-able and is what the inspector holds, what ``RunConfig.model`` carries
(``{"code": source, "class_name": ...}``) and what a checkpoint keeps beside the weights::

    {"name": "SimpleCNN", "code": "<the source>", "class_name": "SimpleCNN",
     "input_shape": [1, 28, 28],
     "head": "fc", "num_classes": 8}     # only when training gave the last Linear a new size
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..summary import Summary, summarize
from .guard import BUILD_SECONDS, run_limited
from .loader import CodeError, load, materialize


# The course's MNIST exercise with the pooling taken out of forward: fc still expects 16*5*5
# features, and 9,216 arrive. The inspector's starting code; the fix is in_features = 9216.
EXAMPLE = """import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)    # 28x28 -> 26x26
        self.conv2 = nn.Conv2d(8, 16, 3)   # 26x26 -> 24x24
        self.fc = nn.Linear(16*5*5, 10)    # written for the net with pooling

    def forward(self, x):
        x = F.relu(self.conv1(x))          # the pooling was taken out here ...
        x = F.relu(self.conv2(x))          # ... and here
        x = torch.flatten(x, 1)
        return self.fc(x)
"""


def code_spec(source: str, class_name: str | None, input_shape, **extra: Any) -> dict[str, Any]:
    return {"name": class_name or "Pasted network", "code": source, "class_name": class_name,
            "input_shape": [int(v) for v in input_shape], **extra}


def is_code_spec(spec: Any) -> bool:
    return isinstance(spec, dict) and isinstance(spec.get("code"), str)


def suggest_input_shape(source: str, class_name: str | None = None) -> tuple[int, int, int]:
    """An input for a network whose code names none: the first conv's channels, 28x28 for one
    channel (MNIST), else 32x32 (CIFAR-10); (1, 28, 28) when nothing tells."""
    with torch.device("meta"):
        module = load(source, class_name).module
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    c = conv.in_channels if conv is not None else 1
    return (c, 28, 28) if c == 1 else (c, 32, 32)


@dataclass
class Traced:
    summary: Summary
    name: str                                   # the network that was built
    choices: list[str]                          # every network the code offers
    notes: list[str] = field(default_factory=list)


def trace_source(source: str, input_shape, class_name: str | None = None, *,
                 seconds: float = BUILD_SECONDS) -> Traced:
    """Load ``source`` on the meta device (no memory, however big its layers) and trace it on a
    (C, H, W) input, both under the time limit. A shape error is in ``summary.error``, with a
    fix for :func:`~.fix.apply_fix`; code that does not load raises :class:`CodeError`."""
    shape = tuple(int(v) for v in input_shape)
    with torch.device("meta"):
        loaded = load(source, class_name, seconds=seconds)
        materialize(loaded.module, shape)
    loaded.module.spec = code_spec(source, loaded.name, shape)
    out = run_limited(lambda: summarize(loaded.module, shape), seconds)
    if out.overtime:
        raise CodeError(f"{loaded.name}'s forward did not finish within {seconds:g} s on one "
                        f"image (it was at line {out.line}). Does it loop forever?", out.line)
    if out.error is not None:
        raise CodeError(f"{loaded.name} could not be traced: {out.error}") from out.error
    return Traced(out.value, loaded.name, loaded.choices, loaded.notes)


# --------------------------------------------------------------------------------------------
# Training and checkpoints
# --------------------------------------------------------------------------------------------
def fit_head(module: nn.Module, head: str, num_classes: int) -> None:
    """Give the Linear at attribute path ``head`` ``num_classes`` outputs (a new layer)."""
    old = module.get_submodule(head)
    parent, _, leaf = head.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf,
            nn.Linear(old.in_features, num_classes, bias=old.bias is not None))


def build_for_data(m: dict[str, Any], data_shape, num_classes: int
                   ) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int]]:
    """(module, code spec, input shape) for ``RunConfig.model`` ``{"code": ..., "class_name":
    ..., "input_shape": optional}``: built for real, taking ``input_shape`` (default: the data's;
    the loop resizes the data to it). When it ends in a Linear with another number of outputs,
    that Linear is replaced by one with ``num_classes`` (as torchvision heads are)."""
    shape = tuple(int(v) for v in (m.get("input_shape") or data_shape))
    loaded = load(m["code"], m.get("class_name"))
    module = loaded.module
    materialize(module, shape)
    spec = code_spec(m["code"], loaded.name, shape)
    module.spec = spec
    out = run_limited(lambda: summarize(module, shape))
    s: Summary | None = out.value
    if s is None or s.error is not None:
        why = s.error if s is not None else "its forward did not finish" if out.overtime else out.error
        raise CodeError(f"{loaded.name} does not run on a {'x'.join(map(str, shape))} input: {why}. "
                        f"Trace it in the Network inspector to see where and how to fix it.")
    if s.output_shape != (num_classes,):
        last = next((r for r in reversed(s.rows) if not r.op), None)
        if last is None or last.type != "Linear" or s.output_shape != last.output_shape:
            raise CodeError(f"{loaded.name} gives outputs of shape {s.output_shape}, but the data has "
                            f"{num_classes} classes: it must end in one score per class (a Linear "
                            f"layer with {num_classes} outputs).")
        fit_head(module, last.name, num_classes)
        spec.update(head=last.name, num_classes=int(num_classes))
    return module, spec, shape  # type: ignore[return-value]


def rebuild(spec: dict[str, Any]) -> nn.Module:
    """The module of a saved code spec, ready for its checkpoint's ``state_dict``."""
    module = load(spec["code"], spec.get("class_name")).module
    materialize(module, tuple(spec.get("input_shape") or ()))
    if spec.get("head"):
        fit_head(module, spec["head"], int(spec["num_classes"]))
    module.spec = spec
    return module
