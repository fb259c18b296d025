"""Receptive fields, propagated through the actual dataflow one torch function at a time.

Each tensor carries, along the height, where the input pixels that output row ``i`` sees start
and end: ``[a + i*jump, b + i*jump]`` (plus a position-independent part ``[ga, gb]`` once a
global operation such as squeeze-excitation mixed in). A conv with kernel ``k``, stride ``s``,
padding ``p``, dilation ``d`` maps ``a -> a - p*jump``, ``b -> b + (d*(k-1) - p)*jump``,
``jump -> s*jump``; where two paths meet (a residual add, a concatenation) the result sees the
union, so branching networks get the largest field over their paths. ``rf = b - a + 1`` in
input pixels.

:func:`propagate` is the one entry: given a torch function's name, its arguments, its main
input ``x`` with field ``r`` and its output ``y``, the output's field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

POOL_OPS = ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d")
ADAPTIVE_OPS = ("adaptive_avg_pool2d", "adaptive_max_pool2d")


@dataclass
class Field:
    """A tensor's receptive field along the height (see the module docstring)."""

    a: float
    b: float
    jump: float
    hdim: int | None                    # which dim is the height; None once spatial is gone
    ga: float | None = None
    gb: float | None = None

    def union(self, other: Field) -> Field:
        ga = [x for x in (self.ga, other.ga) if x is not None]
        gb = [x for x in (self.gb, other.gb) if x is not None]
        return Field(min(self.a, other.a), max(self.b, other.b), self.jump, self.hdim,
                     min(ga) if ga else None, max(gb) if gb else None)

    def as_global(self, size: int) -> Field:
        """Everything a map of ``size`` rows sees, position-independent from now on."""
        lo, hi = self.a, self.b + (size - 1) * self.jump
        if self.ga is not None:
            lo, hi = min(lo, self.ga), max(hi, self.gb)
        return Field(lo, hi, self.jump * size, None)

    def window(self, k: int, s: float, p: int, d: int) -> Field:
        """After a sliding window: kernel ``k``, stride ``s``, padding ``p``, dilation ``d``."""
        return Field(self.a - p * self.jump, self.b + (d * (k - 1) - p) * self.jump,
                     self.jump * s, self.hdim, self.ga, self.gb)

    def moved(self, hdim: int | None, shift: float = 0.0) -> Field:
        """The same field with the height at dim ``hdim``, shifted by ``shift`` input pixels."""
        return Field(self.a + shift, self.b + shift, self.jump, hdim, self.ga, self.gb)


Inputs = list[tuple[torch.Tensor, Field]]       # the tensor arguments that carry a field


def _int(v: Any, k: int = 0) -> int:
    """The height's entry of an int-or-pair argument."""
    if isinstance(v, (list, tuple)):
        return int(v[k] if len(v) > k else v[0])
    return int(v)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def propagate(name: str, args: tuple, kwargs: dict, x: torch.Tensor, r: Field,
              y: torch.Tensor, ins: Inputs) -> Field:
    """The field of ``y = name(*args, **kwargs)``; ``x`` (field ``r``) is its main input and
    ``ins`` every input that carries a field."""
    h = r.hdim
    spatial = h is not None and x.dim() >= h + 2
    if spatial and name == "conv2d":
        return _conv(args, kwargs, r)
    if spatial and name in POOL_OPS:
        return _pool(name, args, kwargs, r)
    if spatial and name in ADAPTIVE_OPS:
        return _adaptive(x, y, r)
    if spatial and name == "pad":
        return _pad(args, kwargs, x, r)
    if h is not None and name == "permute":
        return _permute(args, kwargs, x, r)
    if h is not None and name == "linear":
        return r.as_global(int(x.shape[h])) if h >= x.dim() - 1 else merge(ins, y, h)
    # everything else: elementwise, concatenation, reshape, reduction ...
    if not spatial:
        return merge(ins, y, None)
    return _reshaped(x, r, y, ins)


def _conv(args: tuple, kwargs: dict, r: Field) -> Field:
    w = _arg(args, kwargs, 1, "weight")
    k = int(w.shape[2])
    s = _int(_arg(args, kwargs, 3, "stride", 1))
    p = _arg(args, kwargs, 4, "padding", 0)
    d = _int(_arg(args, kwargs, 5, "dilation", 1))
    if p == "valid":
        p = 0
    elif p == "same":
        p = d * (k - 1) // 2
    return r.window(k, s, _int(p), d)


def _pool(name: str, args: tuple, kwargs: dict, r: Field) -> Field:
    k = _int(_arg(args, kwargs, 1, "kernel_size"))
    s = _arg(args, kwargs, 2, "stride", None)
    s = k if s is None or (isinstance(s, (list, tuple)) and not s) else _int(s)
    p = _int(_arg(args, kwargs, 3, "padding", 0))
    d = _int(_arg(args, kwargs, 4, "dilation", 1)) if "max" in name else 1
    return r.window(k, s, p, d)


def _adaptive(x: torch.Tensor, y: torch.Tensor, r: Field) -> Field:
    h = r.hdim
    hin, hout = int(x.shape[h]), int(y.shape[h])
    if hout == hin:
        return r
    if hout == 1:
        return r.as_global(hin).moved(h)
    # PyTorch's adaptive windows: output row i pools rows floor(i*hin/hout) .. ceil((i+1)*hin/hout)
    k = max(math.ceil((i + 1) * hin / hout) - (i * hin) // hout for i in range(hout))
    return r.window(k, hin / hout, 0, 1)


def _pad(args: tuple, kwargs: dict, x: torch.Tensor, r: Field) -> Field:
    pad = list(_arg(args, kwargs, 1, "pad"))
    idx = 2 * (x.dim() - 1 - r.hdim)     # pad lists the last dim first: (left, right, top, ...)
    top = pad[idx] if len(pad) > idx else 0
    return r.moved(r.hdim, -top * r.jump)


def _permute(args: tuple, kwargs: dict, x: torch.Tensor, r: Field) -> Field:
    h = r.hdim
    dims = list(args[1:]) if len(args) > 1 else list(kwargs.get("dims", ()))
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    dims = [int(d) % x.dim() for d in dims]
    if h in dims and (h + 1) in dims and dims.index(h + 1) == dims.index(h) + 1:
        return r.moved(dims.index(h))
    return r.as_global(int(x.shape[h]))


def _reshaped(x: torch.Tensor, r: Field, y: torch.Tensor, ins: Inputs) -> Field:
    """An op on a spatial input that is none of the windows above."""
    h = r.hdim
    hin, win = int(x.shape[h]), int(x.shape[h + 1])
    if y.dim() == x.dim() and tuple(y.shape[h:h + 2]) == (hin, win):
        return merge(ins, y, h)
    # the spatial dims moved (unsqueeze, view that keeps them): find them again
    for q in range(y.dim() - 1):
        if (tuple(y.shape[q:q + 2]) == (hin, win) and math.prod(y.shape[:q]) == math.prod(x.shape[:h])
                and y.numel() == x.numel() and hin * win > 1):
            return r.moved(q)
    if y.dim() == x.dim() and int(y.shape[h]) == 1 and hin > 1:     # mean(keepdim) etc.
        return r.as_global(hin).moved(h)
    return merge(ins, y, None).as_global(hin) if hin > 1 else r.moved(None)


def merge(ins: Inputs, y: torch.Tensor, h: int | None) -> Field:
    """Union of the inputs' fields; inputs broadcast along the height (size 1 there) join the
    position-independent part."""
    ref = next((r for t, r in ins if tuple(t.shape) == tuple(y.shape)), ins[0][1])
    out = ref.moved(h)
    for t, r in ins:
        if r is ref:
            continue
        th = r.hdim
        broadcast = th is None or int(t.shape[th]) == 1 if t.dim() > (th or 0) else True
        if broadcast and h is not None and int(y.shape[h]) > 1:
            lo = min(r.a, r.ga) if r.ga is not None else r.a
            hi = max(r.b, r.gb) if r.gb is not None else r.b
            out.ga = lo if out.ga is None else min(out.ga, lo)
            out.gb = hi if out.gb is None else max(out.gb, hi)
        else:
            out = out.union(r)
    return out
