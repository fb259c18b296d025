"""What a summary holds: one :class:`Row` per layer as it ran, every module's output, and the
:class:`Summary` around them. Plain data: the tracer fills it, pages and figures read it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from .errors import ShapeError


@dataclass
class Row:
    """One layer as it ran (leaf modules, plus the adds/multiplies/reshapes that blocks do in
    their ``forward``)."""

    name: str                                # dotted module name (as in the state_dict)
    type: str                                # module class (Conv2d) or the operation (add)
    output_shape: tuple[int, ...] | None     # without the batch; None where it failed
    params: int = 0
    trainable: int = 0
    macs: int = 0
    rf: int = 1                              # receptive field along the height, input pixels
    jump: float = 1                          # input pixels between neighbouring output rows
    start: float = 0.0                       # centre of output row 0's field, input pixels
    memory: int = 0                          # bytes of this output, batch of one
    input_shape: tuple[int, ...] | None = None
    path: tuple[int, ...] | None = None      # spec path, for spec models
    depth: int = 0                           # nesting depth (0 = top level)
    op: bool = False                         # True: a functional op in a block's forward
    detail: str = ""                         # kernel/stride summary for the table
    a: float = 0.0                           # field of output row i: [a + i*jump, b + i*jump]
    b: float = 0.0
    ga: float | None = None                  # position-independent part (global ops), or None
    gb: float | None = None
    hdim: int | None = 1                     # which dim of output_shape is the height

    @property
    def frozen(self) -> int:
        return self.params - self.trainable

    def extent(self, index: int, size: int) -> tuple[int, int]:
        """Input rows (first, last) that output row ``index`` depends on, clipped to an input
        of height ``size`` (what a gradient measurement sees)."""
        lo, hi = self.a + index * self.jump, self.b + index * self.jump
        if self.ga is not None:
            lo, hi = min(lo, self.ga), max(hi, self.gb)
        return max(0, math.ceil(lo)), min(size - 1, math.floor(hi))


@dataclass(frozen=True)
class ModuleOutput:
    """One module's tensor output, containers included (a resnet's ``layer4``, a block)."""

    name: str                   # dotted module path (the root module '' is never listed)
    type: str                   # class name
    shape: tuple[int, ...]      # output shape without the batch dimension
    order: int                  # position in the order modules finished running


@dataclass
class Summary:
    rows: list[Row]
    input_shape: tuple[int, int, int]
    total_params: int = 0
    trainable_params: int = 0
    buffers: int = 0                    # BatchNorm running statistics etc. (numbers, not trained)
    total_macs: int = 0
    param_bytes: int = 0                # parameters + buffers
    error: ShapeError | None = None
    output_shape: tuple[int, ...] | None = None
    name: str = "network"
    # every module's last tensor output in the order modules finished (a module run twice
    # keeps its last); what the Inside page picks its layers from
    outputs: list[ModuleOutput] = field(default_factory=list)

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def size_mb(self) -> float:
        """Model size in MB (10^6 bytes): parameters and buffers as stored (float32 = 4 bytes)."""
        return self.param_bytes / 1e6

    @property
    def activation_bytes(self) -> int:
        """Sum of every row's output, batch of one: the activations a training step keeps."""
        return sum(r.memory for r in self.rows)

    @property
    def activation_mb(self) -> float:
        return self.activation_bytes / 1e6

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def layer_detail(m: nn.Module) -> str:
    """Kernel, stride, padding ... of a leaf module in a few characters, for the table."""
    def two(v):
        v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        return f"{v[0]}" if v[0] == v[1] else f"{v[0]}x{v[1]}"

    if isinstance(m, nn.Conv2d):
        s = f"{m.in_channels}->{m.out_channels}, k{two(m.kernel_size)} s{two(m.stride)}"
        pad = m.padding if isinstance(m.padding, str) else two(m.padding)
        s += f" p{pad}"
        if m.groups > 1:
            s += f" g{m.groups}"
        if tuple(m.dilation) != (1, 1):
            s += f" d{two(m.dilation)}"
        return s
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"k{two(m.kernel_size)} s{two(m.stride)} p{two(m.padding)}"
    if isinstance(m, nn.Linear):
        return f"{m.in_features:,}->{m.out_features:,}"
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return f"{m.num_features}"
    if isinstance(m, (nn.Dropout, nn.Dropout2d)):
        return f"p={m.p}"
    return ""


def fc_comparison(input_shape: tuple[int, int, int], units: int = 1024) -> int:
    """Weights of one dense layer from the flattened input to ``units`` outputs (no bias): the
    course's 224x224x3 -> 1024 example is 154,140,672."""
    return int(math.prod(input_shape)) * int(units)
