"""Conv arithmetic: what one Conv2d / MaxPool2d / AvgPool2d / ConvTranspose2d layer does to a shape.

Everything here is plain Python and torch (no Streamlit), usable from a notebook::

    >>> from playground.arithmetic import output_size, explain
    >>> output_size(32, 3, stride=2, padding=1)
    16
    >>> explain(32, 3, stride=2, padding=1).steps[-1]
    'floor((32 - 3 + 2*1) / 2) + 1 = floor(15.5) + 1 = 15 + 1 = 16'

- :func:`output_size` is exactly what PyTorch computes along one dimension, and raises
  ``ValueError`` with a sentence a student understands where PyTorch refuses the configuration.
- :func:`explain` fills in the formula with the numbers (the floor visible).
- :func:`same_padding` / :func:`paddings_for` solve for the padding.
- :func:`window_starts` / :func:`uncovered` / :func:`window_taps` are the sliding-window helpers.
- :class:`Layer` + :func:`analyze` describe a whole 2-D layer: the output shape ``(N, C, H, W)``
  as PyTorch's own module computes it on the ``meta`` device, parameters and MACs from
  ``torch.utils.flop_counter``, and the formulas per dimension.
- :func:`slide` runs the sliding kernel on real values with ``F.conv2d`` / ``F.max_pool2d`` /
  ``F.avg_pool2d`` and writes out each output cell's dot product.
- :func:`course_questions` / :func:`random_question` / :func:`check_answer`: the practice quiz.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("conv", "pool", "transposed")
PADDING_WORDS = ("valid", "same")


# ----------------------------------------------------------------------------------------------
# One dimension
# ----------------------------------------------------------------------------------------------
def _check_int(name: str, value, minimum: int, what: str) -> int:
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise ValueError(f"The {what} must be a whole number, got {value!r}.")
    value = value.__index__()
    if value < minimum:
        if minimum == 1:
            raise ValueError(f"The {what} must be at least 1, got {value}.")
        raise ValueError(f"The {what} cannot be negative, got {value}.")
    return value


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """How many input rows one window spans: ``d*(k-1)+1`` (a 3-tap kernel with dilation 2 spans 5)."""
    return dilation * (kernel - 1) + 1


def same_pads(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding PyTorch's ``padding='same'`` adds: ``d*(k-1)`` in total, the odd
    one after (bottom/right)."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def _normalize(size, kernel, stride, padding, dilation, kind, ceil_mode, output_padding):
    if kind not in KINDS:
        raise ValueError(f"The kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    size = _check_int("size", size, 1, "input size")
    kernel = _check_int("kernel", kernel, 1, "kernel size")
    if stride is None:
        if kind != "pool":
            raise ValueError("Only pooling layers default the stride to the kernel size; give a stride.")
        stride = kernel
    stride = _check_int("stride", stride, 1, "stride")
    dilation = _check_int("dilation", dilation, 1, "dilation")
    output_padding = _check_int("output_padding", output_padding, 0, "output padding")
    if ceil_mode and kind != "pool":
        raise ValueError("The ceil_mode option only exists for pooling layers (MaxPool2d, AvgPool2d).")
    if output_padding and kind != "transposed":
        raise ValueError("The output_padding option only exists for transposed convolutions (ConvTranspose2d).")
    if isinstance(padding, str):
        if kind != "conv":
            layer = "Pooling layers" if kind == "pool" else "ConvTranspose2d"
            raise ValueError(f"{layer} take a number for padding; the words 'valid' and 'same' "
                             "exist only for Conv2d.")
        if padding not in PADDING_WORDS:
            raise ValueError(f"The padding must be a number, 'valid' or 'same'; got {padding!r}.")
    else:
        padding = _check_int("padding", padding, 0, "padding")
    return size, kernel, stride, padding, dilation, output_padding


def output_size(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
                dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False,
                output_padding: int = 0) -> int:
    """Output length along one dimension, exactly as PyTorch computes it.

    ``kind="conv"`` is ``nn.Conv2d`` (``padding`` may be a number, ``"valid"`` or ``"same"``),
    ``"pool"`` is ``nn.MaxPool2d`` (and ``nn.AvgPool2d``, which has no dilation; ``stride=None``
    means the kernel size, as in PyTorch), ``"transposed"`` is ``nn.ConvTranspose2d``.
    Raises ``ValueError`` with an explanation where PyTorch refuses the configuration.
    """
    size, kernel, stride, padding, dilation, output_padding = _normalize(
        size, kernel, stride, padding, dilation, kind, ceil_mode, output_padding)
    span = effective_kernel(kernel, dilation)

    if kind == "transposed":
        if output_padding >= stride and output_padding >= dilation:
            raise ValueError(
                f"The output padding ({output_padding}) must be smaller than the stride ({stride}) or the "
                f"dilation ({dilation}): it only picks among the output sizes that the stride makes "
                "ambiguous, so it can never add a whole extra step.")
        out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
        if out < 1:
            raise ValueError(
                f"The output would have {out} rows/columns: the padding ({padding} on each side) "
                f"removes more than the transposed convolution produces "
                f"({(size - 1) * stride + span + output_padding}). Use less padding.")
        return out

    if kind == "conv":
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if stride != 1:
                raise ValueError(
                    "Padding 'same' only works with stride 1: with a stride of "
                    f"{stride} the output is about 1/{stride} of the input whatever the padding, "
                    "so no padding can keep the size. Use a number for the padding "
                    "(the padding solver suggests one).")
            return size
        padded = size + 2 * padding
        if padded < span:
            dil = f" (with dilation {dilation} it spans {span})" if dilation > 1 else ""
            raise ValueError(
                f"The kernel ({kernel}{dil}) is larger than the padded input "
                f"({size} + 2*{padding} = {padded}): there is no position where it fits. "
                "Use a smaller kernel, more padding or a larger input.")
        return (padded - span) // stride + 1

    # pooling
    if padding > kernel // 2:
        raise ValueError(
            f"Pooling padding must be at most half the kernel size: kernel {kernel} allows padding "
            f"up to {kernel // 2}, got {padding}. More padding would make windows that hold "
            "nothing but padding.")
    numerator = size + 2 * padding - span
    if ceil_mode:
        out = (numerator + stride - 1) // stride + 1   # PyTorch: floor((n + s - 1) / s) + 1
        # the last window must start inside the input or the left padding
        if out >= 1 and (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = numerator // stride + 1
    if out < 1:
        dil = f" (with dilation {dilation} it spans {span})" if dilation > 1 else ""
        raise ValueError(
            f"The pooling window ({kernel}{dil}) is larger than the padded input "
            f"({size} + 2*{padding} = {size + 2 * padding}): the output would be empty. "
            "Use a smaller kernel or a larger input.")
    return out


# ----------------------------------------------------------------------------------------------
# The formula with the numbers filled in
# ----------------------------------------------------------------------------------------------
@dataclass
class Formula:
    """The formula for one dimension: ``general`` in symbols, ``steps`` with the numbers, ``notes``
    in words (effective kernel, 'same' padding, ceil_mode's last-window rule)."""
    general: str
    steps: list[str]
    result: int
    notes: list[str] = field(default_factory=list)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def explain(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
            dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False,
            output_padding: int = 0) -> Formula:
    """The output-size formula with the numbers filled in. Raises ``ValueError`` like
    :func:`output_size` for configurations PyTorch refuses."""
    out = output_size(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode,
                      output_padding=output_padding)
    if stride is None:
        stride = kernel
    span = effective_kernel(kernel, dilation)
    notes: list[str] = []
    k_sym = "k" if dilation == 1 else "k_eff"
    k_val = kernel if dilation == 1 else span
    if dilation > 1:
        notes.append(f"Dilation {dilation} spreads the {kernel} taps apart: effective kernel "
                     f"k_eff = d*(k-1)+1 = {dilation}*({kernel}-1)+1 = {span}.")

    if kind == "transposed":
        general = "out = (in - 1)*s - 2*p + d*(k-1) + output_padding + 1"
        steps = [f"({size} - 1)*{stride} - 2*{padding} + {dilation}*({kernel}-1) + {output_padding} + 1"
                 f" = {(size - 1) * stride} - {2 * padding} + {dilation * (kernel - 1)} + "
                 f"{output_padding} + 1 = {out}"]
        notes.append("A transposed convolution runs the convolution's arithmetic backwards: each "
                     f"input value is spread over a {span}-wide patch of the output, and patches "
                     f"start {stride} apart; padding trims the output's edges.")
        return Formula(general, steps, out, notes)

    if kind == "conv" and padding == "same":
        before, after = same_pads(kernel, dilation)
        general = "padding='same': out = in (stride 1)"
        steps = [f"pad {before} before + {after} after = {before + after} = d*(k-1) in total",
                 f"floor(({size} - {k_val} + {before + after}) / 1) + 1 = {out}"]
        if before != after:
            notes.append(f"The total padding {before + after} is odd, so PyTorch puts the extra row/"
                         "column at the end (bottom/right).")
        return Formula(general, steps, out, notes)
    if padding == "valid":
        notes.append("padding='valid' means no padding (p = 0).")
        padding = 0

    numerator = size - k_val + 2 * padding
    exact = numerator / stride
    if kind == "pool" and ceil_mode:
        general = f"out = ceil((in - {k_sym} + 2*p) / s) + 1   (ceil_mode=True)"
        raw = math.ceil(exact) + 1
        steps = [f"ceil(({size} - {k_val} + 2*{padding}) / {stride}) + 1 = ceil({_num(exact)}) + 1 = "
                 f"{math.ceil(exact)} + 1 = {raw}"]
        last_start = (raw - 1) * stride - padding
        if raw != out:
            notes.append(f"ceil_mode's rule: the last window must start inside the input or the left "
                         f"padding. Window {raw} would start at row ({raw}-1)*{stride} - {padding} = "
                         f"{last_start}, past the input's last row {size - 1}, so PyTorch drops it: "
                         f"out = {out}.")
            steps.append(f"last window starts at {last_start} >= {size}: dropped, out = {out}")
        elif raw != math.floor(exact) + 1:
            notes.append(f"ceil_mode keeps one more, partial window: it starts at row "
                         f"({raw}-1)*{stride} - {padding} = {last_start}, inside the input, and "
                         "runs past its end.")
        return Formula(general, steps, out, notes)

    general = f"out = floor((in - {k_sym} + 2*p) / s) + 1"
    steps = [f"floor(({size} - {k_val} + 2*{padding}) / {stride}) + 1 = floor({_num(exact)}) + 1 = "
             f"{math.floor(exact)} + 1 = {out}"]
    if numerator % stride:
        left = numerator % stride
        notes.append(f"{numerator} / {stride} is not a whole number: the floor drops the last "
                     f"{left} row(s)/column(s) of the padded input, which no window reaches.")
    return Formula(general, steps, out, notes)


# ----------------------------------------------------------------------------------------------
# Padding solvers
# ----------------------------------------------------------------------------------------------
@dataclass
class PaddingSolution:
    """How to keep the size. ``symmetric`` is the per-side padding that keeps ``out == in`` (None
    when none does), ``before``/``after`` what ``padding='same'`` adds (stride 1 only),
    ``strided`` the symmetric padding giving ``ceil(in / s)`` for a stride > 1 (None if none)."""
    size: int
    kernel: int
    stride: int
    dilation: int
    symmetric: int | None
    before: int
    after: int
    strided: int | None
    explanation: list[str]


def paddings_for(size: int, kernel: int, target: int, stride: int = 1, dilation: int = 1, *,
                 kind: str = "conv") -> list[int]:
    """Every symmetric padding (per side) that makes the output exactly ``target``."""
    found = []
    limit = effective_kernel(kernel, dilation) + stride + (kernel // 2 if kind == "pool" else 0)
    for p in range(0, limit + 1):
        try:
            if output_size(size, kernel, stride, p, dilation, kind=kind) == target:
                found.append(p)
        except ValueError:
            continue
    return found


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> PaddingSolution:
    """The padding that keeps the size of a Conv2d, and why ``padding='same'`` needs stride 1."""
    size, kernel, stride, _, dilation, _ = _normalize(size, kernel, stride, 0, dilation, "conv", False, 0)
    total = dilation * (kernel - 1)
    before, after = total // 2, total - total // 2
    lines = [f"To keep the size with stride 1 the padding must add d*(k-1) = {dilation}*({kernel}-1) "
             f"= {total} rows/columns in total."]
    sym = paddings_for(size, kernel, size, 1, dilation)
    symmetric = sym[0] if sym else None
    if total % 2 == 0:
        lines.append(f"{total} is even: padding={total // 2} on each side keeps {size} -> {size}.")
    else:
        lines.append(f"{total} is odd: no equal padding on both sides keeps the size (an even kernel "
                     f"span). padding='same' pads {before} before and {after} after.")
    target = -(-size // stride)
    strided_all = paddings_for(size, kernel, target, stride, dilation)
    strided = strided_all[0] if strided_all else None
    if stride > 1:
        lines.append(f"With stride {stride} no padding keeps {size}: the windows start {stride} apart, "
                     f"so there are only about {size}/{stride} of them. That is why PyTorch refuses "
                     "padding='same' for strided convolutions: the best it could do is "
                     f"ceil({size}/{stride}) = {target} (TensorFlow's 'SAME'), and the padding for that "
                     "depends on the input size, not only on the layer.")
        if strided is not None:
            lines.append(f"padding={strided} gives ceil({size}/{stride}) = {target} here.")
        else:
            lines.append(f"No equal padding on both sides gives exactly {target} here.")
    return PaddingSolution(size, kernel, stride, dilation, symmetric, before, after, strided, lines)


# ----------------------------------------------------------------------------------------------
# Sliding windows
# ----------------------------------------------------------------------------------------------
def _pads(padding, kernel: int, dilation: int) -> tuple[int, int]:
    if padding == "same":
        return same_pads(kernel, dilation)
    if padding == "valid":
        return 0, 0
    return int(padding), int(padding)


def window_starts(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
                  dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False) -> list[int]:
    """Where each window starts, in input coordinates (negative = in the padding before)."""
    if kind == "transposed":
        raise ValueError("A transposed convolution has no sliding windows over its input.")
    out = output_size(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode)
    stride = kernel if stride is None else stride
    before, _ = _pads(padding, kernel, dilation)
    return [i * stride - before for i in range(out)]


def window_taps(start: int, kernel: int, dilation: int = 1) -> list[int]:
    """The rows (or columns) one window reads: ``start, start+d, ..., start+d*(k-1)``."""
    return [start + j * dilation for j in range(kernel)]


def uncovered(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
              dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False) -> list[int]:
    """Input rows (or columns) that no window ever reads: the ones the floor drops at the end, and
    the gaps when the stride is larger than the kernel or the dilation leaves holes."""
    seen = set()
    for s in window_starts(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode):
        seen.update(window_taps(s, kernel, dilation))
    return [i for i in range(size) if i not in seen]


# ----------------------------------------------------------------------------------------------
# A whole 2-D layer
# ----------------------------------------------------------------------------------------------
LAYER_KINDS = {"Conv2d": "conv", "MaxPool2d": "pool", "AvgPool2d": "pool", "ConvTranspose2d": "transposed"}


def _pair(v) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"Expected one number or a (height, width) pair, got {v!r}.")
        return tuple(v)
    return (v, v)


@dataclass
class Layer:
    """One 2-D layer, every knob. ``kind`` is the PyTorch class name (see ``LAYER_KINDS``);
    pairs are (height, width); ``padding`` may be ``"valid"``/``"same"`` for Conv2d."""
    kind: str = "Conv2d"
    in_h: int = 32
    in_w: int = 32
    in_channels: int = 3
    out_channels: int = 16
    kernel: int | tuple[int, int] = 3
    stride: int | tuple[int, int] | None = 1
    padding: int | str | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    ceil_mode: bool = False
    output_padding: int | tuple[int, int] = 0
    bias: bool = True
    batch: int = 1

    def __post_init__(self):
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"The kind must be one of {', '.join(LAYER_KINDS)}; got {self.kind!r}.")

    @property
    def dim_kind(self) -> str:
        return LAYER_KINDS[self.kind]

    @property
    def has_channels_out(self) -> bool:
        return self.kind in ("Conv2d", "ConvTranspose2d")

    def dims(self) -> list[dict]:
        """Keyword arguments of :func:`output_size` for height and width."""
        kh, kw = _pair(self.kernel)
        stride = (None, None) if self.stride is None else _pair(self.stride)
        pad = (self.padding, self.padding) if isinstance(self.padding, str) else _pair(self.padding)
        dh, dw = _pair(self.dilation)
        oph, opw = _pair(self.output_padding)
        kind = self.dim_kind
        out = []
        for size, k, s, p, d, op in ((self.in_h, kh, stride[0], pad[0], dh, oph),
                                     (self.in_w, kw, stride[1], pad[1], dw, opw)):
            out.append(dict(size=size, kernel=k, stride=s, padding=p, dilation=d, kind=kind,
                            ceil_mode=self.ceil_mode if kind == "pool" else False,
                            output_padding=op if kind == "transposed" else 0))
        return out

    def module(self, device: str | torch.device = "meta") -> nn.Module:
        """The PyTorch module (raises ``ValueError`` where PyTorch refuses it)."""
        self.validate()
        kh, kw = _pair(self.kernel)
        stride = None if self.stride is None else _pair(self.stride)
        padding = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        dil = _pair(self.dilation)
        with torch.device(device):
            if self.kind == "Conv2d":
                return nn.Conv2d(self.in_channels, self.out_channels, (kh, kw), stride=stride,
                                 padding=padding, dilation=dil, bias=self.bias)
            if self.kind == "ConvTranspose2d":
                return nn.ConvTranspose2d(self.in_channels, self.out_channels, (kh, kw), stride=stride,
                                          padding=padding, output_padding=_pair(self.output_padding),
                                          dilation=dil, bias=self.bias)
            if self.kind == "MaxPool2d":
                return nn.MaxPool2d((kh, kw), stride=stride, padding=padding, dilation=dil,
                                    ceil_mode=self.ceil_mode)
            return nn.AvgPool2d((kh, kw), stride=stride, padding=padding, ceil_mode=self.ceil_mode)

    def validate(self) -> None:
        _check_int("batch", self.batch, 1, "batch size")
        _check_int("in_channels", self.in_channels, 1, "number of input channels")
        if self.has_channels_out:
            _check_int("out_channels", self.out_channels, 1, "number of output channels")
        if self.kind == "AvgPool2d" and _pair(self.dilation) != (1, 1):
            raise ValueError("AvgPool2d has no dilation: only MaxPool2d and the convolutions do.")
        for d in self.dims():
            output_size(**d)

    def torch_error(self) -> str | None:
        """What PyTorch itself says about this layer (building it and running it on the ``meta``
        device), or None if it accepts it. For the curious: :meth:`validate` says it in words."""
        import warnings

        kh, kw = _pair(self.kernel)
        stride = None if self.stride is None else _pair(self.stride)
        padding = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        try:
            with torch.device("meta"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.kind == "Conv2d":
                    m = nn.Conv2d(self.in_channels, self.out_channels, (kh, kw), stride=stride,
                                  padding=padding, dilation=_pair(self.dilation), bias=self.bias)
                elif self.kind == "ConvTranspose2d":
                    m = nn.ConvTranspose2d(self.in_channels, self.out_channels, (kh, kw), stride=stride,
                                           padding=padding, output_padding=_pair(self.output_padding),
                                           dilation=_pair(self.dilation), bias=self.bias)
                elif self.kind == "MaxPool2d":
                    m = nn.MaxPool2d((kh, kw), stride=stride, padding=padding, dilation=_pair(self.dilation),
                                     ceil_mode=self.ceil_mode)
                else:
                    if _pair(self.dilation) != (1, 1):
                        m = nn.AvgPool2d((kh, kw), stride=stride, padding=padding, ceil_mode=self.ceil_mode,
                                         dilation=_pair(self.dilation))  # TypeError: no such argument
                    m = nn.AvgPool2d((kh, kw), stride=stride, padding=padding, ceil_mode=self.ceil_mode)
                m(torch.empty(self.batch, self.in_channels, self.in_h, self.in_w))
        except Exception as exc:  # noqa: BLE001 - any refusal, reported as PyTorch words it
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        return None

    def code(self) -> str:
        """The layer as one line of PyTorch."""
        def fmt(v):
            a, b = _pair(v)
            return str(a) if a == b else f"({a}, {b})"
        args = []
        if self.has_channels_out:
            args += [str(self.in_channels), str(self.out_channels)]
        args.append(f"kernel_size={fmt(self.kernel)}")
        if self.stride is not None and not (self.dim_kind == "pool" and _pair(self.stride) == _pair(self.kernel)):
            if _pair(self.stride) != (1, 1) or self.dim_kind == "pool":
                args.append(f"stride={fmt(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"padding={self.padding!r}")
        elif _pair(self.padding) != (0, 0):
            args.append(f"padding={fmt(self.padding)}")
        if self.kind == "ConvTranspose2d" and _pair(self.output_padding) != (0, 0):
            args.append(f"output_padding={fmt(self.output_padding)}")
        if self.kind != "AvgPool2d" and _pair(self.dilation) != (1, 1):
            args.append(f"dilation={fmt(self.dilation)}")
        if self.dim_kind == "pool" and self.ceil_mode:
            args.append("ceil_mode=True")
        if self.has_channels_out and not self.bias:
            args.append("bias=False")
        return f"nn.{self.kind}({', '.join(args)})"


@dataclass
class Report:
    """What one layer does: shapes, formulas per dimension, cost, coverage."""
    layer: Layer
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    formulas: tuple[Formula, Formula]
    params: int
    macs: int
    ops: int
    ops_name: str
    uncovered_rows: list[int]
    uncovered_cols: list[int]
    code: str


class _NoModuleTracker:
    """Counts everything under "Global" without touching global module hooks."""

    parents = frozenset({"Global"})

    def __enter__(self) -> "_NoModuleTracker":
        return self

    def __exit__(self, *args: object) -> None:
        return None


def analyze(layer: Layer) -> Report:
    """Run the real module on the ``meta`` device: the output shape is PyTorch's; parameters are
    counted on the module; MACs come from ``torch.utils.flop_counter`` (FLOPs / 2). Pooling has
    no MACs: ``ops`` counts its comparisons (max) or additions (avg), one per tap.
    Raises ``ValueError`` (in words) where PyTorch refuses the configuration."""
    from torch.utils.flop_counter import FlopCounterMode

    layer.validate()
    dims = layer.dims()
    formulas = (explain(**dims[0]), explain(**dims[1]))
    module = layer.module("meta")
    x = torch.empty(layer.batch, layer.in_channels, layer.in_h, layer.in_w, device="meta")
    counter = FlopCounterMode(display=False)
    # FlopCounterMode's default ModuleTracker installs process-wide module hooks that would also
    # fire in a training thread running beside the page; one module needs no per-module split.
    counter.mod_tracker = _NoModuleTracker()
    with counter:
        y = module(x)
    out_shape = tuple(int(v) for v in y.shape)
    expected = (layer.batch, layer.out_channels if layer.has_channels_out else layer.in_channels,
                formulas[0].result, formulas[1].result)
    if out_shape != expected:  # pragma: no cover - the unit tests keep these equal
        raise AssertionError(f"formula {expected} disagrees with PyTorch {out_shape}")
    params = sum(p.numel() for p in module.parameters())
    macs = counter.get_total_flops() // 2
    kh, kw = _pair(layer.kernel)
    if layer.dim_kind == "pool":
        ops = math.prod(out_shape) * kh * kw
        ops_name = "comparisons" if layer.kind == "MaxPool2d" else "additions"
    else:
        ops, ops_name = macs, "MACs"
    if layer.dim_kind == "transposed":
        rows, cols = [], []
    else:
        rows = uncovered(**{k: v for k, v in dims[0].items() if k != "output_padding"})
        cols = uncovered(**{k: v for k, v in dims[1].items() if k != "output_padding"})
    return Report(layer, tuple(x.shape), out_shape, formulas, params, macs, ops, ops_name, rows, cols,
                  layer.code())


# ----------------------------------------------------------------------------------------------
# The sliding kernel on real values
# ----------------------------------------------------------------------------------------------
HORIZONTAL_EDGE = [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
VERTICAL_EDGE = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]


def course_example(name: str) -> tuple[list[list[float]], list[list[float]]]:
    """The course's two worked examples: ``"6x6"`` (a 6x6 image, bright top half (10) and dark
    bottom half (0), with the horizontal-edge kernel) and ``"5x5"`` (its 5x5 image with the vertical-edge
    kernel). Returns (image, kernel) as nested lists."""
    if name == "6x6":
        image = [[10] * 6] * 3 + [[0] * 6] * 3
        return [row[:] for row in image], [r[:] for r in HORIZONTAL_EDGE]
    if name == "5x5":
        image = [[1, 2, 3, 4, 5], [4, 5, 6, 7, 8], [7, 8, 9, 0, 1], [2, 3, 4, 5, 6], [5, 6, 7, 8, 9]]
        return image, [r[:] for r in VERTICAL_EDGE]
    raise ValueError(f"Unknown example {name!r}; choose '6x6' or '5x5'.")


def random_values(h: int, w: int, kh: int, kw: int, seed: int = 0, low: int = -3, high: int = 9
                  ) -> tuple[list[list[float]], list[list[float]]]:
    """Small random integers (easy to add up in your head) for an image and a kernel."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, high + 1, (h, w), generator=g)
    kernel = torch.randint(low, 4, (kh, kw), generator=g)
    return image.tolist(), kernel.tolist()


def image_patch(path, size: int = 8, *, center: tuple[float, float] = (0.5, 0.5),
                scale: int = 4) -> list[list[float]]:
    """A ``size`` x ``size`` patch of a real photo in grey levels 0-255: the photo is shrunk by
    ``scale`` (so the patch shows a recognisable part of it) and cut around ``center`` (fractions
    of height and width)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L")
        im = im.resize((max(size, im.width // scale), max(size, im.height // scale)))
        w, h = im.size
        top = min(max(int(center[0] * h) - size // 2, 0), h - size)
        left = min(max(int(center[1] * w) - size // 2, 0), w - size)
        crop = im.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.asarray(crop, dtype=np.float32)).tolist()


@dataclass
class Step:
    """One output cell: where the window sits and how the value came about."""
    index: int
    out_row: int
    out_col: int
    rows: list[int]          # input rows read (input coordinates; negative/past-end = padding)
    cols: list[int]
    terms: list[tuple[float, float]]   # (input value, weight) for conv; (value, 1) for pooling
    value: float             # the output value, as PyTorch computed it
    expression: str          # the dot product / max / mean written out


@dataclass
class Slide:
    """The sliding kernel over real values: the output computed by PyTorch and each step."""
    kind: str                # "Conv2d", "MaxPool2d" or "AvgPool2d"
    image: list[list[float]]
    kernel: list[list[float]] | None
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]   # ((top, bottom), (left, right))
    output: list[list[float]]
    steps: list[Step]
    uncovered_rows: list[int]
    uncovered_cols: list[int]


def _fmt_value(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _term(a: float, w: float) -> str:
    wa = _fmt_value(w)
    return f"{_fmt_value(a)}*({wa})" if w < 0 else f"{_fmt_value(a)}*{wa}"


def slide(image: Sequence[Sequence[float]], kernel: Sequence[Sequence[float]] | None = None, *,
          kind: str = "Conv2d", kernel_size: int | tuple[int, int] | None = None,
          stride: int | tuple[int, int] = 1, padding: int | str | tuple[int, int] = 0,
          dilation: int | tuple[int, int] = 1, ceil_mode: bool = False) -> Slide:
    """Slide ``kernel`` (weights) over ``image`` (one channel, no bias). The output values come
    from ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d``; each :class:`Step` writes one out."""
    if kind not in ("Conv2d", "MaxPool2d", "AvgPool2d"):
        raise ValueError("The sliding view shows Conv2d, MaxPool2d and AvgPool2d.")
    x = torch.as_tensor(image, dtype=torch.float64)
    if x.ndim != 2 or x.numel() == 0:
        raise ValueError("The input must be a non-empty 2-D grid of numbers.")
    if not torch.isfinite(x).all():
        raise ValueError("The input grid has an empty or non-numeric cell; fill in every value.")
    if kind == "Conv2d":
        if kernel is None:
            raise ValueError("A convolution needs kernel weights.")
        w = torch.as_tensor(kernel, dtype=torch.float64)
        if w.ndim != 2 or w.numel() == 0:
            raise ValueError("The kernel must be a non-empty 2-D grid of numbers.")
        if not torch.isfinite(w).all():
            raise ValueError("The kernel has an empty or non-numeric cell; fill in every weight.")
        kh, kw = w.shape
    else:
        if kernel_size is None:
            raise ValueError("Pooling needs a kernel size.")
        kh, kw = _pair(kernel_size)
        w = None
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    pad_h, pad_w = (padding, padding) if isinstance(padding, str) else _pair(padding)
    dim_kind = "conv" if kind == "Conv2d" else "pool"
    cm = ceil_mode if dim_kind == "pool" else False
    H, W = x.shape
    if kind == "AvgPool2d" and (dh, dw) != (1, 1):
        raise ValueError("AvgPool2d has no dilation: only MaxPool2d and the convolutions do.")
    starts_r = window_starts(H, kh, sh, pad_h, dh, kind=dim_kind, ceil_mode=cm)
    starts_c = window_starts(W, kw, sw, pad_w, dw, kind=dim_kind, ceil_mode=cm)
    pads = (_pads(pad_h, kh, dh), _pads(pad_w, kw, dw))

    xb = x[None, None]
    if kind == "Conv2d":
        torch_pad = padding if isinstance(padding, str) else (pads[0][0], pads[1][0])
        y = F.conv2d(xb, w[None, None], stride=(sh, sw), padding=torch_pad, dilation=(dh, dw))
    elif kind == "MaxPool2d":
        y = F.max_pool2d(xb, (kh, kw), (sh, sw), (pads[0][0], pads[1][0]), (dh, dw), ceil_mode=cm)
    else:
        y = F.avg_pool2d(xb, (kh, kw), (sh, sw), (pads[0][0], pads[1][0]), ceil_mode=cm)
    y = y[0, 0]
    if tuple(y.shape) != (len(starts_r), len(starts_c)):  # pragma: no cover - guarded by tests
        raise AssertionError("window positions disagree with PyTorch's output")

    def value_at(r: int, c: int) -> float:
        return float(x[r, c]) if 0 <= r < H and 0 <= c < W else 0.0

    steps = []
    for i, r0 in enumerate(starts_r):
        for j, c0 in enumerate(starts_c):
            rows = window_taps(r0, kh, dh)
            cols = window_taps(c0, kw, dw)
            val = float(y[i, j])
            if kind == "Conv2d":
                terms = [(value_at(r, c), float(w[a, b])) for a, r in enumerate(rows)
                         for b, c in enumerate(cols)]
                expr = " + ".join(_term(v, wt) for v, wt in terms) + f" = {_fmt_value(val)}"
            else:
                # taps inside the padded input (ceil_mode may run a window past its end)
                inside = [(r, c) for r in rows for c in cols
                          if -pads[0][0] <= r < H + pads[0][1] and -pads[1][0] <= c < W + pads[1][1]]
                if kind == "MaxPool2d":  # padding never wins a max (PyTorch pads with -inf)
                    vals = [float(x[r, c]) for r, c in inside if 0 <= r < H and 0 <= c < W]
                    expr = f"max({', '.join(_fmt_value(v) for v in vals)}) = {_fmt_value(val)}"
                else:  # count_include_pad=True: zeros of the padding count, the divisor is clipped
                    vals = [value_at(r, c) for r, c in inside]
                    expr = (f"({' + '.join(_fmt_value(v) for v in vals)}) / {len(vals)} = "
                            f"{_fmt_value(round(val, 4))}")
                terms = [(v, 1.0) for v in vals]
            steps.append(Step(len(steps), i, j, rows, cols, terms, val, expr))
    seen_r = {r for s in starts_r for r in window_taps(s, kh, dh)}
    seen_c = {c for s in starts_c for c in window_taps(s, kw, dw)}
    return Slide(kind, x.tolist(), None if w is None else w.tolist(), (kh, kw), (sh, sw), (dh, dw),
                 pads, y.tolist(), steps, [r for r in range(H) if r not in seen_r],
                 [c for c in range(W) if c not in seen_c])


# ----------------------------------------------------------------------------------------------
# Practice
# ----------------------------------------------------------------------------------------------
FIELDS = ("input", "kernel", "padding", "stride", "output")


@dataclass
class Question:
    """One line of the practice table: (input, kernel, padding, stride, output) with ``blank`` the
    field to fill. ``kind`` "conv" or "pool". ``prompt`` says it in words; ``chain`` names the
    question whose output is this one's input (the ResNet stem), or None."""
    qid: str
    prompt: str
    input: int
    kernel: int
    padding: int
    stride: int
    output: int
    blank: str = "output"
    kind: str = "conv"
    chain: str | None = None

    def values(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in FIELDS}

    @property
    def answer(self) -> int:
        return getattr(self, self.blank)


def _q(qid, prompt, inp, k, p, s, blank="output", kind="conv", chain=None) -> Question:
    return Question(qid, prompt, inp, k, p, s, output_size(inp, k, s, p, kind=kind), blank, kind, chain)


def course_questions() -> list[Question]:
    """The course's practice questions and its table of (input, kernel, padding, stride, output).
    Every output is computed with :func:`output_size`."""
    return [
        _q("q1", "A 64x64 input, kernel 3, padding 0, stride 1: what is the output size?", 64, 3, 0, 1),
        _q("q2", "A 64x64 input, kernel 3, padding 1, stride 2: what is the output size?", 64, 3, 1, 2),
        _q("stem-conv", "The ResNet stem: a 224x224 image, conv kernel 7, padding 3, stride 2: "
           "output size?", 224, 7, 3, 2),
        _q("stem-pool", "...then the stem's max-pool, kernel 3, stride 2, padding 1: output size?",
           112, 3, 1, 2, kind="pool", chain="stem-conv"),
        _q("t1", "6x6 image, 3x3 kernel (the edge example)", 6, 3, 0, 1),
        _q("t2", "5x5 image, 3x3 kernel (the vertical-edge example)", 5, 3, 0, 1),
        _q("t3", "32x32, keep the size with a 3x3 kernel", 32, 3, 1, 1, blank="padding"),
        _q("t4", "28x28 MNIST digit, 5x5 kernel", 28, 5, 0, 1),
        _q("t5", "Halve 32x32 with a 3x3 kernel", 32, 3, 1, 2, blank="stride"),
        _q("t6", "Which kernel turns 32 into 28?", 32, 5, 0, 1, blank="kernel"),
        _q("t7", "2x2 max-pool, stride 2 on 28x28", 28, 2, 0, 2, kind="pool"),
        _q("t8", "Stride that does not divide evenly", 7, 3, 0, 2),
        _q("t9", "What input gives 56 after kernel 3, padding 1, stride 2?", 112, 3, 1, 2, blank="input"),
    ]


def random_question(seed: int | None = None, *, kind: str | None = None, blank: str | None = None
                    ) -> Question:
    """A new valid question: random input/kernel/padding/stride and a random field left blank."""
    rng = random.Random(seed)
    kind = kind or rng.choice(["conv", "conv", "conv", "pool"])
    while True:
        inp = rng.choice([5, 6, 7, 9, 12, 14, 16, 24, 28, 31, 32, 56, 64, 100, 112, 128, 224])
        if kind == "pool":
            k = rng.choice([2, 2, 3, 3, 4])
            s = rng.choice([1, 2, 2, 3])
            p = rng.randint(0, k // 2)
        else:
            k = rng.choice([1, 3, 3, 3, 5, 5, 7])
            s = rng.choice([1, 1, 2, 2, 3])
            p = rng.randint(0, k // 2 + 1)
        try:
            out = output_size(inp, k, s, p, kind=kind)
        except ValueError:
            continue
        b = blank or rng.choice(["output", "output", "output", "padding", "stride", "kernel", "input"])
        layer = "max-pool" if kind == "pool" else "conv"
        prompt = f"A {layer} layer: fill in the {b}."
        return Question(f"r{seed}", prompt, inp, k, p, s, out, b, kind)


@dataclass
class Verdict:
    correct: bool
    message: str
    steps: list[str]


def _mistakes(q: Question) -> list[tuple[int, str]]:
    """Answers a student gets by a known slip, and the slip in words (output blanks)."""
    n, k, p, s = q.input, q.kernel, q.padding, q.stride
    out = []
    def add(value, why):
        if isinstance(value, (int, float)) and value == int(value):
            out.append((int(value), why))
    add((n - k + 2 * p) // s, "You forgot the final +1: the first window sits at position 0 and "
                              "counts too.")
    add((n - k) // s + 1, "You left out the padding: it adds 2*p (p on each side) before the kernel "
                          "is subtracted.")
    add((n - k + p) // s + 1, "You added the padding once; it goes on both sides, so add 2*p.")
    add(n - k + 2 * p + 1, "You forgot to divide by the stride.")
    add(math.ceil((n - k + 2 * p) / s) + 1, "You rounded up; PyTorch rounds down (floor): a window "
                                            "that would run past the padded input is dropped.")
    add((n - k + 2 * p) / s + 1, "You forgot to round down: the division must be floored.")
    add((n + k + 2 * p) // s + 1, "You added the kernel size; subtract it: the kernel must fit "
                                  "inside the padded input.")
    add(n // s, "You divided the input by the stride; that ignores the kernel and the padding.")
    return out


def check_answer(q: Question, answer) -> Verdict:
    """Is ``answer`` right for the blank of ``q``? Non-output blanks accept every value that makes
    the row true (several inputs can give the same output when the stride is > 1). A wrong answer
    is explained: which step went wrong, and the formula with the right numbers."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Verdict(False, f"{answer!r} is not a number; type a whole number.", [])
    if not value.is_integer():
        return Verdict(False, f"Sizes are whole numbers of pixels; {answer} is not one.", [])
    value = int(value)
    vals = q.values()
    right = explain(q.input, q.kernel, q.stride, q.padding, kind=q.kind)
    steps = [right.general] + right.steps
    if q.blank == "output":
        if value == q.output:
            return Verdict(True, f"Correct: {value}.", steps)
        for wrong, why in _mistakes(q):
            if wrong == value:
                return Verdict(False, f"Not {value}. {why}", steps)
        return Verdict(False, f"Not {value}. Work through the formula step by step:", steps)
    vals[q.blank] = value
    try:
        got = output_size(vals["input"], vals["kernel"], vals["stride"], vals["padding"], kind=q.kind)
    except ValueError as e:
        return Verdict(False, f"With {q.blank} = {value} PyTorch refuses the layer: {e}", steps)
    if got == q.output:
        extra = "" if value == q.answer else f" (so does {q.answer}: with a stride several values fit)"
        return Verdict(True, f"Correct: {q.blank} = {value} gives output {got}.{extra}", steps)
    mine = explain(vals["input"], vals["kernel"], vals["stride"], vals["padding"], kind=q.kind)
    return Verdict(False, f"With {q.blank} = {value} the output is {got}, not {q.output}: "
                          f"{mine.steps[-1]}. One answer that works: {q.answer}.", steps)
