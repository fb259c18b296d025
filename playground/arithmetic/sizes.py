"""One dimension of a conv / pooling layer: the output size PyTorch computes, the formula with the
numbers filled in, the padding that keeps the size, and where the sliding windows land.

Everything works on one length (a height or a width) and is plain Python: no tensor is made.
Where PyTorch refuses a configuration, :func:`output_size` raises ``ValueError`` with a sentence a
student understands; ``tests/unit/test_arithmetic.py`` holds every answer equal to PyTorch's CPU
kernels on thousands of random configurations, refusals included.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

KINDS = ("conv", "pool", "transposed")   # Conv2d, MaxPool2d/AvgPool2d, ConvTranspose2d
PADDING_WORDS = ("valid", "same")        # the words Conv2d takes for its padding


# ----------------------------------------------------------------------------------------------
# Checking the numbers
# ----------------------------------------------------------------------------------------------
def check_whole(value, minimum: int, what: str) -> int:
    """``value`` as an int if it is a whole number ``>= minimum`` (0 or 1), else ``ValueError``
    naming ``what`` ("kernel size", "padding", ...)."""
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise ValueError(f"The {what} must be a whole number, got {value!r}.")
    value = value.__index__()
    if value < minimum:
        if minimum == 1:
            raise ValueError(f"The {what} must be at least 1, got {value}.")
        raise ValueError(f"The {what} cannot be negative, got {value}.")
    return value


def as_pair(v) -> tuple:
    """``(height, width)`` from one number (used for both) or a pair, as PyTorch's layers take them."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"Expected one number or a (height, width) pair, got {v!r}.")
        return tuple(v)
    return (v, v)


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """How many input rows one window spans: ``d*(k-1)+1`` (a 3-tap kernel with dilation 2 spans 5)."""
    return dilation * (kernel - 1) + 1


def same_pads(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding PyTorch's ``padding='same'`` adds: ``d*(k-1)`` in total, the odd
    one after (bottom/right)."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def side_pads(padding: int | str, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding along one dimension: a number pads both sides, ``'valid'`` nothing,
    ``'same'`` what PyTorch adds (:func:`same_pads`)."""
    if padding == "same":
        return same_pads(kernel, dilation)
    if padding == "valid":
        return 0, 0
    return int(padding), int(padding)


def _normalize(size, kernel, stride, padding, dilation, kind, ceil_mode, output_padding):
    if kind not in KINDS:
        raise ValueError(f"The kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    size = check_whole(size, 1, "input size")
    kernel = check_whole(kernel, 1, "kernel size")
    if stride is None:
        if kind != "pool":
            raise ValueError("Only pooling layers default the stride to the kernel size; give a stride.")
        stride = kernel
    stride = check_whole(stride, 1, "stride")
    dilation = check_whole(dilation, 1, "dilation")
    output_padding = check_whole(output_padding, 0, "output padding")
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
        padding = check_whole(padding, 0, "padding")
    return size, kernel, stride, padding, dilation, output_padding


# ----------------------------------------------------------------------------------------------
# The output size
# ----------------------------------------------------------------------------------------------
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
    if kind == "transposed":
        return _transposed_size(size, kernel, stride, padding, dilation, output_padding)
    if kind == "conv":
        return _conv_size(size, kernel, stride, padding, dilation)
    return _pool_size(size, kernel, stride, padding, dilation, ceil_mode)


def _transposed_size(size, kernel, stride, padding, dilation, output_padding) -> int:
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
            f"({(size - 1) * stride + effective_kernel(kernel, dilation) + output_padding}). "
            "Use less padding.")
    return out


def _conv_size(size, kernel, stride, padding, dilation) -> int:
    span = effective_kernel(kernel, dilation)
    if padding == "same":
        if stride != 1:
            raise ValueError(
                "Padding 'same' only works with stride 1: with a stride of "
                f"{stride} the output is about 1/{stride} of the input whatever the padding, "
                "so no padding can keep the size. Use a number for the padding "
                "(the padding solver suggests one).")
        return size
    padding = 0 if padding == "valid" else padding
    padded = size + 2 * padding
    if padded < span:
        dil = f" (with dilation {dilation} it spans {span})" if dilation > 1 else ""
        raise ValueError(
            f"The kernel ({kernel}{dil}) is larger than the padded input "
            f"({size} + 2*{padding} = {padded}): there is no position where it fits. "
            "Use a smaller kernel, more padding or a larger input.")
    return (padded - span) // stride + 1


def _pool_size(size, kernel, stride, padding, dilation, ceil_mode) -> int:
    if padding > kernel // 2:
        raise ValueError(
            f"Pooling padding must be at most half the kernel size: kernel {kernel} allows padding "
            f"up to {kernel // 2}, got {padding}. More padding would make windows that hold "
            "nothing but padding.")
    span = effective_kernel(kernel, dilation)
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
    if dilation > 1:
        notes.append(f"Dilation {dilation} spreads the {kernel} taps apart: effective kernel "
                     f"k_eff = d*(k-1)+1 = {dilation}*({kernel}-1)+1 = {span}.")
    if kind == "transposed":
        return _explain_transposed(size, kernel, stride, padding, dilation, output_padding, out, notes)
    if kind == "conv" and padding == "same":
        return _explain_same(size, kernel, dilation, out, notes)
    if padding == "valid":
        notes.append("padding='valid' means no padding (p = 0).")
        padding = 0
    if kind == "pool" and ceil_mode:
        return _explain_ceil(size, kernel, stride, padding, dilation, out, notes)

    k_sym, k_val = ("k", kernel) if dilation == 1 else ("k_eff", span)
    numerator = size - k_val + 2 * padding
    exact = numerator / stride
    general = f"out = floor((in - {k_sym} + 2*p) / s) + 1"
    steps = [f"floor(({size} - {k_val} + 2*{padding}) / {stride}) + 1 = floor({_num(exact)}) + 1 = "
             f"{math.floor(exact)} + 1 = {out}"]
    if numerator % stride:
        notes.append(f"{numerator} / {stride} is not a whole number: the floor drops the last "
                     f"{numerator % stride} row(s)/column(s) of the padded input, which no window reaches.")
    return Formula(general, steps, out, notes)


def _explain_transposed(size, kernel, stride, padding, dilation, output_padding, out, notes) -> Formula:
    general = "out = (in - 1)*s - 2*p + d*(k-1) + output_padding + 1"
    steps = [f"({size} - 1)*{stride} - 2*{padding} + {dilation}*({kernel}-1) + {output_padding} + 1"
             f" = {(size - 1) * stride} - {2 * padding} + {dilation * (kernel - 1)} + "
             f"{output_padding} + 1 = {out}"]
    notes.append("A transposed convolution runs the convolution's arithmetic backwards: each "
                 f"input value is spread over a {effective_kernel(kernel, dilation)}-wide patch of the "
                 f"output, and patches start {stride} apart; padding trims the output's edges.")
    return Formula(general, steps, out, notes)


def _explain_same(size, kernel, dilation, out, notes) -> Formula:
    before, after = same_pads(kernel, dilation)
    k_val = kernel if dilation == 1 else effective_kernel(kernel, dilation)
    steps = [f"pad {before} before + {after} after = {before + after} = d*(k-1) in total",
             f"floor(({size} - {k_val} + {before + after}) / 1) + 1 = {out}"]
    if before != after:
        notes.append(f"The total padding {before + after} is odd, so PyTorch puts the extra row/"
                     "column at the end (bottom/right).")
    return Formula("padding='same': out = in (stride 1)", steps, out, notes)


def _explain_ceil(size, kernel, stride, padding, dilation, out, notes) -> Formula:
    k_sym, k_val = ("k", kernel) if dilation == 1 else ("k_eff", effective_kernel(kernel, dilation))
    exact = (size - k_val + 2 * padding) / stride
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

    @property
    def best(self) -> int | None:
        """The padding to suggest: the one that keeps the size (stride 1) or gives ``ceil(in / s)``."""
        return self.symmetric if self.stride == 1 else self.strided


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
    before, after = same_pads(kernel, dilation)
    lines = [f"To keep the size with stride 1 the padding must add d*(k-1) = {dilation}*({kernel}-1) "
             f"= {total} rows/columns in total."]
    sym = paddings_for(size, kernel, size, 1, dilation)
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
    return PaddingSolution(size, kernel, stride, dilation, sym[0] if sym else None, before, after,
                           strided, lines)
