"""One whole 2-D layer: every knob of a Conv2d / MaxPool2d / AvgPool2d / ConvTranspose2d, what it
does to an ``(N, C, H, W)`` shape, what it costs, and what PyTorch itself says about it.

- :func:`analyze` runs the real module on the ``meta`` device (no memory, no compute): the output
  shape is PyTorch's, parameters are counted on the module, MACs come from
  ``torch.utils.flop_counter``.
- :meth:`Layer.torch_error` asks the CPU whether PyTorch accepts the layer. Not the meta device:
  its shape functions are laxer than the CPU kernels (torch 2.14.1's accepts a ConvTranspose2d
  whose output_padding is not smaller than its stride or dilation; the CPU refuses it).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from playground.flops import flop_counter

from playground.arithmetic.sizes import (Formula, PaddingSolution, as_pair, check_whole, effective_kernel,
                                         explain, output_size, same_padding, side_pads)
from playground.arithmetic.windows import Windows, windows_along

LAYER_KINDS = {"Conv2d": "conv", "MaxPool2d": "pool", "AvgPool2d": "pool", "ConvTranspose2d": "transposed"}

# What one CPU check may cost, tensor elements plus multiply-adds. The costliest shrunk layer the
# page can set up (Conv2d, 64x64 kernel, padding 64: one channel, 67x67 outputs) is 18.4M, about
# 20 ms on one core; the default layer (3 -> 16 channels, 32x32) runs as it is, 0.4M in 0.2 ms.
CPU_CHECK_WORK = 25_000_000


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

    @property
    def input_shape(self) -> tuple:
        return (self.batch, self.in_channels, self.in_h, self.in_w)

    def dims(self) -> list[dict]:
        """Keyword arguments of :func:`output_size` for height and width."""
        kh, kw = as_pair(self.kernel)
        stride = (None, None) if self.stride is None else as_pair(self.stride)
        pad = (self.padding, self.padding) if isinstance(self.padding, str) else as_pair(self.padding)
        dh, dw = as_pair(self.dilation)
        oph, opw = as_pair(self.output_padding)
        kind = self.dim_kind
        return [dict(size=size, kernel=k, stride=s, padding=p, dilation=d, kind=kind,
                     ceil_mode=self.ceil_mode if kind == "pool" else False,
                     output_padding=op if kind == "transposed" else 0)
                for size, k, s, p, d, op in ((self.in_h, kh, stride[0], pad[0], dh, oph),
                                             (self.in_w, kw, stride[1], pad[1], dw, opw))]

    def validate(self) -> None:
        """Raise ``ValueError`` in words where PyTorch refuses the layer (the library's own rule)."""
        check_whole(self.batch, 1, "batch size")
        check_whole(self.in_channels, 1, "number of input channels")
        if self.has_channels_out:
            check_whole(self.out_channels, 1, "number of output channels")
        if self.kind == "AvgPool2d" and as_pair(self.dilation) != (1, 1):
            raise ValueError("AvgPool2d has no dilation: only MaxPool2d and the convolutions do.")
        for d in self.dims():
            output_size(**d)

    def module(self, device: str | torch.device = "meta") -> nn.Module:
        """The PyTorch module (raises ``ValueError`` where PyTorch refuses it)."""
        self.validate()
        return self._build(device)

    def _build(self, device) -> nn.Module:
        """PyTorch's constructor with these numbers and none of our checks, so PyTorch speaks."""
        kernel, dil = as_pair(self.kernel), as_pair(self.dilation)
        stride = None if self.stride is None else as_pair(self.stride)
        padding = self.padding if isinstance(self.padding, str) else as_pair(self.padding)
        with torch.device(device):
            if self.kind == "Conv2d":
                return nn.Conv2d(self.in_channels, self.out_channels, kernel, stride=stride,
                                 padding=padding, dilation=dil, bias=self.bias)
            if self.kind == "ConvTranspose2d":
                return nn.ConvTranspose2d(self.in_channels, self.out_channels, kernel, stride=stride,
                                          padding=padding, output_padding=as_pair(self.output_padding),
                                          dilation=dil, bias=self.bias)
            if self.kind == "MaxPool2d":
                return nn.MaxPool2d(kernel, stride=stride, padding=padding, dilation=dil,
                                    ceil_mode=self.ceil_mode)
            # AvgPool2d has no dilation: passing one lets PyTorch say so (a TypeError)
            extra = {} if dil == (1, 1) else {"dilation": dil}
            return nn.AvgPool2d(kernel, stride=stride, padding=padding, ceil_mode=self.ceil_mode, **extra)

    def windows(self) -> tuple[Windows, Windows]:
        """Where the windows land along the height and along the width."""
        return tuple(windows_along(**d) for d in self.dims())

    def keep_size(self) -> tuple[PaddingSolution, PaddingSolution]:
        """The padding that keeps the size of this Conv2d, along the height and the width."""
        return tuple(same_padding(d["size"], d["kernel"], d["stride"], d["dilation"]) for d in self.dims())

    def torch_error(self) -> str | None:
        """What PyTorch itself says about this layer (its exception, first line), or None if it
        accepts it: the layer built and run on the CPU with a batch of 1 (a batch of at least 1
        changes nothing in PyTorch's verdict). A layer too big to run in a moment (over
        ``CPU_CHECK_WORK``) is run as :meth:`shrunk`, which PyTorch judges the same way; one too
        big even then (a kernel spanning thousands of rows; the page cannot set one up) falls back
        to the library's own rule, :meth:`validate`, which the unit tests hold equal to the CPU's;
        so does a layer whose numbers are not numbers (nothing of unknown size is allocated).
        For the curious: :meth:`validate` says it in words."""
        probe = dataclasses.replace(self, batch=1) if _is_whole(self.batch, 1) else self
        if _work(probe) > CPU_CHECK_WORK:
            probe = self.shrunk()
        if _work(probe) > CPU_CHECK_WORK:
            try:
                self.validate()
            except ValueError as exc:
                return f"ValueError: {exc}"
            return None
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")     # 'same' with an even kernel warns it copies
                probe._build("cpu")(torch.zeros(probe.input_shape))
        except Exception as exc:  # noqa: BLE001 - any refusal, reported as PyTorch words it
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        return None

    def shrunk(self) -> "Layer":
        """The smallest copy of this layer that PyTorch accepts or refuses as it does this one: a
        batch of 1, one channel in and out, each input length cut to where the verdict stops
        changing. PyTorch refuses a length only for being too short (the window does not fit, the
        pooled or transposed output would be empty), so every length past that threshold gets
        the same answer; channels (no groups here) and the batch only need to be at least 1.
        Numbers that are not whole and positive are kept: PyTorch has its say on them as given."""
        counts = {name: 1 for name in ("batch", "in_channels", "out_channels")
                  if _is_whole(getattr(self, name), 1)}
        in_h, in_w = (_verdict_length(**d) for d in self.dims())
        return dataclasses.replace(self, in_h=in_h, in_w=in_w, **counts)

    def code(self) -> str:
        """The layer as one line of PyTorch."""
        def fmt(v):
            a, b = as_pair(v)
            return str(a) if a == b else f"({a}, {b})"
        args = []
        if self.has_channels_out:
            args += [str(self.in_channels), str(self.out_channels)]
        args.append(f"kernel_size={fmt(self.kernel)}")
        if self.stride is not None and not (self.dim_kind == "pool" and as_pair(self.stride) == as_pair(self.kernel)):
            if as_pair(self.stride) != (1, 1) or self.dim_kind == "pool":
                args.append(f"stride={fmt(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"padding={self.padding!r}")
        elif as_pair(self.padding) != (0, 0):
            args.append(f"padding={fmt(self.padding)}")
        if self.kind == "ConvTranspose2d" and as_pair(self.output_padding) != (0, 0):
            args.append(f"output_padding={fmt(self.output_padding)}")
        if self.kind != "AvgPool2d" and as_pair(self.dilation) != (1, 1):
            args.append(f"dilation={fmt(self.dilation)}")
        if self.dim_kind == "pool" and self.ceil_mode:
            args.append("ceil_mode=True")
        if self.has_channels_out and not self.bias:
            args.append("bias=False")
        return f"nn.{self.kind}({', '.join(args)})"


def _is_whole(value, minimum: int) -> bool:
    try:
        check_whole(value, minimum, "number")
    except ValueError:
        return False
    return True


def _verdict_length(size, kernel, stride, padding, dilation, kind, ceil_mode, output_padding) -> int:
    """The shortest input length that PyTorch judges as it judges ``size`` (see Layer.shrunk)."""
    numbers = (size, kernel, dilation, kernel if stride is None else stride)
    if not all(_is_whole(v, 1) for v in numbers) or not _is_whole(output_padding, 0):
        return size
    stride = kernel if stride is None else stride
    if kind == "transposed":
        if not _is_whole(padding, 0):
            return min(size, 1)         # words or a negative number: refused at any length
        # out = (in-1)*s - 2p + d*(k-1) + op + 1 is at least 1 once (in-1)*s >= 2p - d*(k-1) - op
        trimmed = 2 * padding - dilation * (kernel - 1) - output_padding
        return min(size, 1 + max(0, -(-trimmed // stride)))
    if not (_is_whole(padding, 0) or padding in ("same", "valid")):
        return size
    before, after = side_pads(padding, kernel, dilation)
    # conv: the window fits; pooling (ceil_mode or not): one window, so the output is not empty
    return min(size, max(1, effective_kernel(kernel, dilation) - before - after))


def _work(layer: Layer) -> float:
    """Tensor elements plus multiply-adds of one CPU run of ``layer``, an upper bound; infinite
    where a number is not a number, so that nothing whose size is unknown is run."""
    try:
        n, c_in, c_out = (max(int(v), 1) for v in (layer.batch, layer.in_channels, layer.out_channels))
        c_out = c_out if layer.has_channels_out else c_in
        taps, inputs, outputs = 1, n * c_in, n * c_out
        for d in layer.dims():
            size, k, dil = (max(int(d[name]), 1) for name in ("size", "kernel", "dilation"))
            stride = max(int(k if d["stride"] is None else d["stride"]), 1)
            padded = sum(max(int(p), 0) for p in side_pads(d["padding"], k, dil))
            if layer.dim_kind == "transposed":
                longest = (size - 1) * stride - padded + effective_kernel(k, dil) + max(int(d["output_padding"]), 0)
            else:   # the conv formula, plus one for ceil_mode
                longest = (size + padded - effective_kernel(k, dil)) // stride + 2
            taps, inputs, outputs = taps * k, inputs * size, outputs * max(longest, 1)
    except (TypeError, ValueError):
        return math.inf
    reads = inputs * c_out if layer.dim_kind == "transposed" else outputs * (c_in if layer.has_channels_out else 1)
    return inputs + outputs + reads * taps


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

    @property
    def output_values(self) -> int:
        """How many numbers the output tensor holds: N*C*H*W."""
        return math.prod(self.output_shape)


def analyze(layer: Layer) -> Report:
    """Run the real module on the ``meta`` device: the output shape is PyTorch's; parameters are
    counted on the module; MACs come from ``torch.utils.flop_counter`` (FLOPs / 2). Pooling has
    no MACs: ``ops`` counts its comparisons (max) or additions (avg), one per tap.
    Raises ``ValueError`` (in words) where PyTorch refuses the configuration."""
    module = layer.module("meta")          # validates first
    formulas = tuple(explain(**d) for d in layer.dims())
    counter = flop_counter()
    with counter:
        y = module(torch.empty(layer.input_shape, device="meta"))
    out_shape = tuple(int(v) for v in y.shape)
    expected = (layer.batch, layer.out_channels if layer.has_channels_out else layer.in_channels,
                formulas[0].result, formulas[1].result)
    if out_shape != expected:  # pragma: no cover - the unit tests keep these equal
        raise AssertionError(f"formula {expected} disagrees with PyTorch {out_shape}")
    macs = counter.get_total_flops() // 2
    if layer.dim_kind == "pool":
        kh, kw = as_pair(layer.kernel)
        ops, ops_name = math.prod(out_shape) * kh * kw, ("comparisons" if layer.kind == "MaxPool2d"
                                                         else "additions")
    else:
        ops, ops_name = macs, "MACs"
    rows, cols = ([], []) if layer.dim_kind == "transposed" else [w.uncovered for w in layer.windows()]
    return Report(layer, layer.input_shape, out_shape, formulas,
                  sum(p.numel() for p in module.parameters()), macs, ops, ops_name, rows, cols, layer.code())
