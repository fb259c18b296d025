"""Per-layer trace of a network on the ``meta`` device: shapes, parameters, MACs, receptive
fields, activation memory, and shape errors explained with a fix.

``summarize(model, input_shape)`` runs the real module (or the one a spec builds) on a batch of
one *meta* tensor (no memory, no arithmetic) with forward hooks on every module, so every output
shape is the one PyTorch computes. On top of that:

- **MACs** come from :class:`torch.utils.flop_counter.FlopCounterMode` (per module). It counts
  the FLOPs of convolutions and matrix products (``2 * multiply-accumulates``); we report
  ``MACs = FLOPs / 2``. Bias adds, BatchNorm, activations, pooling and residual adds are not
  counted (they are a small share, and this is the convention of the papers' "FLOPs" tables).
- **Receptive fields** are propagated through the actual dataflow by a ``TorchFunctionMode``
  that sees every torch function the forward calls (convolutions, pooling, padding, adds,
  concatenations, reshapes, permutes, linear layers). Each tensor carries, along the height,
  where the input pixels that output row ``i`` sees start and end: ``[a + i*jump, b + i*jump]``
  (plus a position-independent part once a global operation such as squeeze-excitation mixed
  in). A conv with kernel ``k``, stride ``s``, padding ``p``, dilation ``d`` maps
  ``a -> a - p*jump``, ``b -> b + (d*(k-1) - p)*jump``, ``jump -> s*jump``; where two paths
  meet (a residual add, a concatenation) the result sees the union, so branching networks get
  the largest field over their paths. ``rf = b - a + 1`` in input pixels.
- **Shape errors** are caught at the layer where they happen and explained in plain words with
  a structured :class:`Fix` that :func:`apply_fix` applies to a spec.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from . import networks
from .networks import SpecError

__all__ = ["Row", "Fix", "ShapeError", "Summary", "summarize", "apply_fix", "fc_comparison"]


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
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


@dataclass
class Fix:
    """A structured fix for a spec. ``action``: ``"set"`` (``field`` of the layer at ``path``
    to ``value``; an empty path means the spec itself, e.g. ``input_shape``), ``"remove"`` (the
    layer at ``path``) or ``"insert"`` (``value``, a layer dict, at ``path``). ``label`` says
    it in words."""

    action: str
    path: tuple[int, ...]
    label: str
    field: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = list(self.path)
        return d


@dataclass
class ShapeError:
    """Where and why the shapes stop fitting."""

    layer: str                          # the row name
    message: str                        # one or two sentences in plain words
    fix: Fix | None = None
    torch_error: str = ""               # what PyTorch says (on CPU, as a student would see it)
    input_shape: tuple[int, ...] | None = None
    path: tuple[int, ...] | None = None

    def __str__(self) -> str:
        return f"{self.layer}: {self.message}"


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


# --------------------------------------------------------------------------------------------
# Receptive-field propagation through the dataflow
# --------------------------------------------------------------------------------------------
@dataclass
class _RF:
    a: float
    b: float
    jump: float
    hdim: int | None                    # which dim is the height; None once spatial is gone
    ga: float | None = None
    gb: float | None = None

    def union(self, other: "_RF") -> "_RF":
        ga = [x for x in (self.ga, other.ga) if x is not None]
        gb = [x for x in (self.gb, other.gb) if x is not None]
        return _RF(min(self.a, other.a), max(self.b, other.b), self.jump, self.hdim,
                   min(ga) if ga else None, max(gb) if gb else None)

    def as_global(self, size: int) -> "_RF":
        """Everything a map of ``size`` rows sees, position-independent from now on."""
        lo, hi = self.a, self.b + (size - 1) * self.jump
        if self.ga is not None:
            lo, hi = min(lo, self.ga), max(hi, self.gb)
        return _RF(lo, hi, self.jump * size, None)


def _i(v: Any, k: int = 0) -> int:
    if isinstance(v, (list, tuple)):
        return int(v[k] if len(v) > k else v[0])
    return int(v)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _fname(func: Any) -> str:
    return getattr(func, "__name__", None) or str(func)


_VISIBLE_SHAPE_OPS = {"flatten", "view", "reshape", "adaptive_avg_pool2d", "adaptive_max_pool2d",
                      "max_pool2d", "avg_pool2d", "mean", "conv2d", "linear", "interpolate",
                      "pad", "_max_pool2d", "max_pool2d_with_indices", "permute", "squeeze"}
_OP_TYPES = {"add": "Add (skip connection)", "__add__": "Add (skip connection)",
             "__iadd__": "Add (skip connection)", "add_": "Add (skip connection)",
             "__radd__": "Add (skip connection)",
             "mul": "Multiply", "__mul__": "Multiply", "__imul__": "Multiply", "mul_": "Multiply",
             "__rmul__": "Multiply", "cat": "Concatenate", "concat": "Concatenate",
             "flatten": "Flatten", "view": "Reshape", "reshape": "Reshape", "squeeze": "Reshape",
             "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "adaptive_max_pool2d": "AdaptiveMaxPool2d",
             "max_pool2d": "MaxPool2d", "_max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
             "mean": "Mean", "permute": "Permute", "pad": "Pad", "interpolate": "Interpolate",
             "conv2d": "Conv2d (function)", "linear": "Linear (function)"}


class _Tracer(TorchFunctionMode):
    """Sees every torch function of the forward; keeps each tensor's receptive field and records
    the operations blocks do in their own ``forward`` as rows."""

    def __init__(self, in_height: int):
        super().__init__()
        self.info: dict[int, tuple[torch.Tensor, _RF]] = {}
        self.stack: list[tuple[str, nn.Module, bool]] = []   # (name, module, is_leaf)
        self.rows: list[Row] = []
        self.counted: set[int] = set()                       # parameters already in a row
        self.op_names: dict[str, int] = {}
        self.failed_op: str | None = None

    def rf(self, t: Any) -> _RF | None:
        if isinstance(t, torch.Tensor):
            got = self.info.get(id(t))
            if got is not None and got[0] is t:
                return got[1]
        return None

    def set(self, t: torch.Tensor, rf: _RF) -> None:
        self.info[id(t)] = (t, rf)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _fname(func)
        try:
            out = func(*args, **kwargs)
        except Exception:
            if self.failed_op is None:
                self.failed_op = name
            raise
        if isinstance(out, torch.Tensor) or (isinstance(out, (tuple, list)) and out
                                               and isinstance(out[0], torch.Tensor)):
            self._propagate(name, args, kwargs, out)
        return out

    # ---------------------------------------------------------------------------------------
    def _propagate(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        tensors: list[torch.Tensor] = []
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                tensors.append(a)
            elif isinstance(a, (list, tuple)):
                tensors += [x for x in a if isinstance(x, torch.Tensor)]
        ins = [(t, r) for t in tensors if (r := self.rf(t)) is not None]
        outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if isinstance(o, torch.Tensor)]
        if not ins:
            return
        y = outs[0]
        # the main input: for a broadcasting op (SE's scale * x) the one shaped like the output
        x, r = next(((t, q) for t, q in ins if tuple(t.shape) == tuple(y.shape)), ins[0])
        new = self._rule(name, args, kwargs, x, r, y, ins)
        for o in outs:
            if o.dtype in (torch.int64, torch.bool) and o is not y:
                continue
            self.set(o, new)
        self._maybe_row(name, args, kwargs, tensors, ins, x, y, new)

    def _rule(self, name: str, args: tuple, kwargs: dict, x: torch.Tensor, r: _RF,
              y: torch.Tensor, ins: list) -> _RF:
        h = r.hdim
        spatial = h is not None and x.dim() >= h + 2
        if name == "conv2d" and spatial:
            w = _arg(args, kwargs, 1, "weight")
            k = int(w.shape[2])
            s = _i(_arg(args, kwargs, 3, "stride", 1))
            p = _arg(args, kwargs, 4, "padding", 0)
            d = _i(_arg(args, kwargs, 5, "dilation", 1))
            if p == "valid":
                p = 0
            elif p == "same":
                p = d * (k - 1) // 2
            return self._window(r, k, s, _i(p), d)
        if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d") and spatial:
            k = _i(_arg(args, kwargs, 1, "kernel_size"))
            s = _arg(args, kwargs, 2, "stride", None)
            s = k if s is None or (isinstance(s, (list, tuple)) and not s) else _i(s)
            p = _i(_arg(args, kwargs, 3, "padding", 0))
            d = _i(_arg(args, kwargs, 4, "dilation", 1)) if "max" in name else 1
            return self._window(r, k, s, p, d)
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d") and spatial:
            hin, hout = int(x.shape[h]), int(y.shape[h])
            if hout == hin:
                return r
            if hout == 1:
                g = r.as_global(hin)
                return _RF(g.a, g.b, g.jump, h)
            k = max(math.ceil((i + 1) * hin / hout) - (i * hin) // hout for i in range(hout))
            return self._window(r, k, hin / hout, 0, 1)
        if name == "pad" and spatial:
            pad = list(_arg(args, kwargs, 1, "pad"))
            idx = 2 * (x.dim() - 1 - h)          # pad lists the last dim first: (left, right, top, ...)
            top = pad[idx] if len(pad) > idx else 0
            return _RF(r.a - top * r.jump, r.b - top * r.jump, r.jump, h, r.ga, r.gb)
        if name in ("permute",) and h is not None:
            dims = [a for a in args[1:]] if len(args) > 1 else list(kwargs.get("dims", ()))
            if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
                dims = list(dims[0])
            dims = [int(d) % x.dim() for d in dims]
            if h in dims and (h + 1) in dims and dims.index(h + 1) == dims.index(h) + 1:
                return _RF(r.a, r.b, r.jump, dims.index(h), r.ga, r.gb)
            return r.as_global(int(x.shape[h]))
        if name == "linear" and h is not None:
            if h >= x.dim() - 1:
                return r.as_global(int(x.shape[h]))
            return self._merge(ins, y, h)
        # Everything else: elementwise, concatenation, reshape, reduction ...
        if not spatial:
            return self._merge(ins, y, None)
        hin, win = int(x.shape[h]), int(x.shape[h + 1])
        if y.dim() == x.dim() and tuple(y.shape[h:h + 2]) == (hin, win):
            return self._merge(ins, y, h)
        # the spatial dims moved (unsqueeze, view that keeps them): find them again
        for q in range(y.dim() - 1):
            if (tuple(y.shape[q:q + 2]) == (hin, win) and math.prod(y.shape[:q]) == math.prod(x.shape[:h])
                    and y.numel() == x.numel() and hin * win > 1):
                return _RF(r.a, r.b, r.jump, q, r.ga, r.gb)
        if y.dim() == x.dim() and int(y.shape[h]) == 1 and hin > 1:     # mean(keepdim) etc.
            g = r.as_global(hin)
            return _RF(g.a, g.b, g.jump, h)
        return self._merge(ins, y, None).as_global(hin) if hin > 1 else _RF(r.a, r.b, r.jump, None, r.ga, r.gb)

    @staticmethod
    def _window(r: _RF, k: int, s: float, p: int, d: int) -> _RF:
        return _RF(r.a - p * r.jump, r.b + (d * (k - 1) - p) * r.jump, r.jump * s, r.hdim, r.ga, r.gb)

    def _merge(self, ins: list, y: torch.Tensor, h: int | None) -> _RF:
        """Union of the inputs' fields; inputs broadcast along the height (size 1 there) join the
        position-independent part."""
        ref = next((r for t, r in ins if tuple(t.shape) == tuple(y.shape)), ins[0][1])
        out = _RF(ref.a, ref.b, ref.jump, h if h is not None else ref.hdim, ref.ga, ref.gb)
        if h is None:
            out.hdim = None
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

    # ---------------------------------------------------------------------------------------
    def _maybe_row(self, name, args, kwargs, tensors, ins, x, y, new: _RF) -> None:
        """Record ops that a block does in its own forward (the residual add, SE multiply,
        torch.flatten ...): not inside a leaf module."""
        if not self.stack or self.stack[-1][2]:
            return
        owner, module, _ = self.stack[-1]
        own_params = {id(p) for p in module.parameters(recurse=False)}
        new_params = [t for t in tensors if id(t) in own_params and id(t) not in self.counted]
        two_paths = len({id(t) for t, _ in ins}) >= 2
        shape_op = name in _VISIBLE_SHAPE_OPS and tuple(y.shape) != tuple(x.shape)
        if not (two_paths or new_params or shape_op):
            return
        base = name.strip("_").removesuffix("_") or name
        if base in ("iadd", "radd"):
            base = "add"
        if base in ("imul", "rmul"):
            base = "mul"
        key = f"{owner}.{base}" if owner else base
        n = self.op_names.get(key, 0) + 1
        self.op_names[key] = n
        row_name = key if n == 1 else f"{key}_{n}"
        params = sum(t.numel() for t in new_params)
        trainable = sum(t.numel() for t in new_params if t.requires_grad)
        self.counted |= {id(t) for t in new_params}
        typ = _OP_TYPES.get(name, name)
        if typ.startswith("Add") and not two_paths:
            typ = "Add"
        if typ == "Multiply" and new_params:
            typ = "Multiply (learned scale)"
        self.rows.append(_row(row_name, typ, x, y, new, params, trainable, op=True,
                              depth=owner.count(".") + (1 if owner else 0)))


class _StackTracker:
    """Stands in for FlopCounterMode's ``ModuleTracker``, which installs *process-wide* module
    hooks: they would also fire in other threads (a training run beside the page) and mix their
    modules into the attribution. Here the module stack comes from this summary's own hooks on
    its private meta copy. FlopCounterMode's counting (its dispatch mode and formula registry,
    both thread-local) is unchanged."""

    def __init__(self, tracer: "_Tracer"):
        self.tracer = tracer

    @property
    def parents(self) -> set[str]:
        return {"Global"} | {name for name, _, _ in self.tracer.stack}

    def __enter__(self) -> "_StackTracker":
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def _row(name: str, typ: str, x: Any, y: Any, r: _RF | None, params: int, trainable: int,
         op: bool = False, depth: int = 0, detail: str = "") -> Row:
    shape = tuple(int(v) for v in y.shape[1:]) if isinstance(y, torch.Tensor) else None
    ins = tuple(int(v) for v in x.shape[1:]) if isinstance(x, torch.Tensor) else None
    mem = int(y[0].numel() * y.element_size()) if isinstance(y, torch.Tensor) and y.dim() else 0
    row = Row(name=name, type=typ, output_shape=shape, params=params, trainable=trainable,
              memory=mem, input_shape=ins, op=op, depth=depth, detail=detail)
    if r is not None:
        _set_rf(row, r)
    return row


def _set_rf(row: Row, r: _RF) -> None:
    row.a, row.b, row.ga, row.gb = float(r.a), float(r.b), r.ga, r.gb
    row.hdim = None if r.hdim is None else r.hdim - 1
    size = r.b - r.a + 1
    if r.ga is not None:
        size = max(size, r.gb - r.ga + 1)
    row.rf = int(round(size))
    row.jump = int(r.jump) if float(r.jump).is_integer() else float(r.jump)
    row.start = (r.a + r.b) / 2


def _detail(m: nn.Module) -> str:
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


# --------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------
def _to_meta(model: nn.Module) -> nn.Module:
    """A meta-device copy of ``model`` without copying its weights' data (requires_grad kept)."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def _meta_model(model: nn.Module | dict | list) -> tuple[nn.Module, dict | None]:
    if isinstance(model, nn.Module):
        spec = getattr(model, "spec", None)
        # always a private copy (cheap: no weight data), so eval(), hooks and the trace never
        # touch the caller's module, which may be training in another thread
        return _to_meta(model), spec if isinstance(spec, dict) else None
    spec = networks.validate(model)
    if "torchvision" in spec:
        spec = {**spec, "weights": None}     # shapes do not depend on weights: never download
    with torch.device("meta"):
        net = networks.build(spec)
    return net, spec


def summarize(model: nn.Module | dict | list, input_shape: tuple[int, int, int] | list[int] | None = None) -> Summary:
    """Trace ``model`` (an ``nn.Module`` or a spec) on a ``(C, H, W)`` input. Never raises for
    a network whose shapes do not fit: ``Summary.error`` says where and why, and the rows stop
    at that layer. Raises :class:`~playground.networks.SpecError` for a malformed spec."""
    spec_in = model if isinstance(model, (dict, list)) else None
    if input_shape is None:
        src = spec_in if isinstance(spec_in, dict) else getattr(model, "spec", None) or {}
        input_shape = tuple(src.get("input_shape", (3, 224, 224)))
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise SpecError(f"input_shape must be (channels, height, width) >= 1, got {input_shape}.")
    if isinstance(spec_in, (dict, list)):
        spec = networks.validate(spec_in)
        spec["input_shape"] = list(input_shape)
        if "torchvision" not in spec:
            try:
                net, spec = _meta_model(spec)
            except SpecError as e:
                return _build_failure(spec, e)
        else:
            net, spec = _meta_model(spec)
    else:
        net, spec = _meta_model(model)
    return _trace(net, input_shape, spec)


def _trace(net: nn.Module, input_shape: tuple[int, int, int], spec: dict | None) -> Summary:
    net.eval()
    paths: dict[str, tuple[int, ...]] = getattr(net, "paths", None) or {}
    tracer = _Tracer(input_shape[1])
    calls: dict[str, int] = {}
    leaf_rows: dict[str, list[Row]] = {}
    names = {m: n for n, m in net.named_modules()}

    def pre(mod, inputs):
        n = names.get(mod, "?")
        leaf = next(iter(mod.children()), None) is None
        tracer.stack.append((n, mod, leaf))
        mod._summary_input = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None

    def post(mod, inputs, output):
        n, _, leaf = tracer.stack.pop()
        if not leaf:
            return
        y = output if isinstance(output, torch.Tensor) else next(
            (o for o in output if isinstance(o, torch.Tensor)), None) if isinstance(output, (tuple, list)) else None
        calls[n] = calls.get(n, 0) + 1
        own = [p for p in mod.parameters() if id(p) not in tracer.counted]
        tracer.counted |= {id(p) for p in own}
        x = mod._summary_input
        row = _row(n if calls[n] == 1 else f"{n}#{calls[n]}", type(mod).__name__, x, y,
                   tracer.rf(y), sum(p.numel() for p in own),
                   sum(p.numel() for p in own if p.requires_grad), depth=n.count("."),
                   detail=_detail(mod))
        row.path = paths.get(n)
        tracer.rows.append(row)
        leaf_rows.setdefault(n, []).append(row)

    handles = []
    for m in net.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    x = torch.empty((1, *input_shape), device="meta")
    error: ShapeError | None = None
    out = None
    flops = FlopCounterMode(display=False)
    flops.mod_tracker = _StackTracker(tracer)
    try:
        with torch.no_grad(), flops, tracer:
            tracer.set(x, _RF(0.0, 0.0, 1, 2))
            out = net(x)
    except Exception as e:  # noqa: BLE001 - every failure of the forward is explained below
        error = _explain_failure(net, tracer, e, spec, input_shape)
    finally:
        for h in handles:
            h.remove()
        for m in net.modules():
            m.__dict__.pop("_summary_input", None)

    counts = flops.get_flop_counts()
    for n, rows in leaf_rows.items():
        total = sum(counts.get(n, {}).values())
        for r in rows:
            r.macs = int(total // 2 // len(rows))
    params = list(net.parameters())
    buffers = list(net.buffers())
    summary = Summary(
        rows=tracer.rows, input_shape=input_shape,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        buffers=sum(b.numel() for b in buffers),
        total_macs=int(sum(counts.get("Global", {}).values()) // 2),
        param_bytes=sum(p.numel() * p.element_size() for p in params) + sum(b.numel() * b.element_size() for b in buffers),
        error=error,
        output_shape=tuple(int(v) for v in out.shape[1:]) if isinstance(out, torch.Tensor) else None,
        name=str((spec or {}).get("name") or type(net).__name__),
    )
    return summary


# --------------------------------------------------------------------------------------------
# Explaining failures
# --------------------------------------------------------------------------------------------
def _shape_str(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "unknown"
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}x{shape[0]}"
    return "x".join(str(v) for v in shape) if shape else "a single number"


def _torch_error_on_cpu(module: nn.Module, in_shape: tuple[int, ...]) -> str | None:
    """The error text the same layer gives on a real CPU tensor (what a student sees: the meta
    device words some errors differently)."""
    if math.prod(in_shape) > 20_000_000 or sum(p.numel() for p in module.parameters()) > 20_000_000:
        return None                     # too big to materialise just for an error message
    try:
        cpu = copy.deepcopy(module).to_empty(device="cpu")
        with torch.no_grad():
            cpu(torch.zeros((1, *in_shape)))
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


def _explain_failure(net: nn.Module, tracer: _Tracer, exc: Exception, spec: dict | None,
                     input_shape: tuple[int, int, int]) -> ShapeError:
    paths = getattr(net, "paths", None) or {}
    if not tracer.stack:
        return ShapeError("input", f"The network could not run: {exc}", torch_error=f"{type(exc).__name__}: {exc}")
    name, module, leaf = tracer.stack[-1]
    x = getattr(module, "_summary_input", None)
    in_shape = tuple(int(v) for v in x.shape[1:]) if isinstance(x, torch.Tensor) else None
    torch_error = None
    if leaf and in_shape is not None:
        torch_error = _torch_error_on_cpu(module, in_shape)
    torch_error = torch_error or f"{type(exc).__name__}: {exc}"
    path = paths.get(name)
    if not leaf:
        op = (tracer.failed_op or "op").strip("_").removesuffix("_")
        if op in ("iadd", "radd"):
            op = "add"
        layer = f"{name}.{op}" if name else op
    else:
        layer = name
    err = ShapeError(layer=layer, message="", torch_error=torch_error, input_shape=in_shape, path=path)
    _explain(err, module if leaf else None, in_shape, spec, path, input_shape, name, leaf, exc)
    # the failing layer gets a row, marked by output_shape None
    row = Row(name=layer, type=type(module).__name__ if leaf else "Add (skip connection)" if "add" in layer else layer.rsplit(".", 1)[-1],
              output_shape=None, input_shape=in_shape, path=path,
              depth=layer.count("."), detail=_detail(module) if leaf else "")
    if leaf:
        row.params = sum(p.numel() for p in module.parameters() if id(p) not in tracer.counted)
        row.trainable = sum(p.numel() for p in module.parameters() if p.requires_grad and id(p) not in tracer.counted)
        xr = tracer.rf(x)
        if xr is not None:
            _set_rf(row, xr)
    tracer.rows.append(row)
    return err


_PASS_THROUGH = {"relu", "leakyrelu", "gelu", "sigmoid", "tanh", "dropout", "batchnorm1d"}


def _prev_flatten(spec: dict, path: tuple[int, ...]) -> tuple[int, ...] | None:
    """Path of the flatten just before ``path`` in the same list (only activations, dropout
    or batch-norm between them), whose removal gives the layer its image back."""
    items = networks.layer_list(spec, path)
    for j in range(path[-1] - 1, -1, -1):
        t = items[j].get("type")
        if t == "flatten":
            return (*path[:-1], j)
        if t not in _PASS_THROUGH:
            return None
    return None


def _explain(err: ShapeError, module: nn.Module | None, in_shape, spec: dict | None,
             path: tuple[int, ...] | None, input_shape, name: str, leaf: bool, exc: Exception) -> None:
    is_spec = spec is not None and "layers" in spec and path is not None
    shown = _shape_str(in_shape)
    if isinstance(module, nn.Linear):
        need = module.in_features
        if in_shape is not None and len(in_shape) == 1:
            got = in_shape[0]
            err.message = (f"{name} expects {need:,} input features, but the layer before it hands "
                           f"over a vector of {got:,} numbers. The in_features of a Linear layer "
                           f"must equal the flattened size of what arrives: {got:,}.")
            if got * module.out_features > 50_000_000:
                err.message += (f" That layer alone would have {got * module.out_features:,} "
                                f"weights: consider more pooling, or global average pooling, "
                                f"before the Flatten.")
            if is_spec:
                err.fix = Fix("set", path, f"Set {name}'s in_features to {got:,}", "in", got)
        elif in_shape is not None:
            err.message = (f"{name} is a fully-connected layer, but it receives an image-shaped "
                           f"tensor {shown} (height x width x channels). Flatten it to a vector "
                           f"first: a Linear layer works on the last dimension only.")
            if is_spec:
                err.fix = Fix("insert", path, f"Insert a Flatten before {name}", None, {"type": "flatten"})
        return
    if isinstance(module, nn.Conv2d):
        if in_shape is None or len(in_shape) != 3:
            err.message = (f"{name} is a convolution and needs an image-shaped input (channels, "
                           f"height, width), but receives a vector of shape {shown}. Did a "
                           f"Flatten come too early? Convolutions go before the Flatten.")
            fl = _prev_flatten(spec, path) if is_spec else None
            if fl is not None:
                err.fix = Fix("remove", fl, "Remove the Flatten before " + name)
            return
        c, h, w = in_shape
        if c != module.in_channels:
            err.message = (f"{name} expects {module.in_channels} input channels, but the layer "
                           f"before it makes {c} feature maps ({shown}). A conv's in_channels "
                           f"must equal the previous layer's out_channels.")
            if is_spec:
                err.fix = Fix("set", path, f"Set {name}'s in_channels to {c}", "in", c)
            elif "torchvision" in (spec or {}) and name.count(".") <= 2:
                err.fix = Fix("set", (), f"Give the network {module.in_channels}-channel input",
                              "input_shape", [module.in_channels, h, w])
            return
        k, d, s = module.kernel_size[0], module.dilation[0], module.stride[0]
        p = module.padding[0] if not isinstance(module.padding, str) else 0
        side = min(h, w)
        span = d * (k - 1) + 1
        if side + 2 * p < span:
            out = (side + 2 * p - span) // s + 1
            err.message = (f"The size falls to {out} at {name}: its {k}x{k} kernel does not fit on "
                           f"the {h}x{w} map that reaches it (padding {p}): output = "
                           f"floor(({side} + 2*{p} - {span}) / {s}) + 1 = {out}. Pad the input, or "
                           f"remove a pooling layer before it so the map stays bigger.")
            need = math.ceil((span - side) / 2)
            same = d * (k - 1) // 2
            newp = max(need, same)
            if is_spec:
                err.fix = Fix("set", path, f"Set {name}'s padding to {newp}", "padding", newp)
            return
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and in_shape is not None and len(in_shape) == 3:
        k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        err.message = (f"The size falls to zero at {name}: a {k}x{k} pooling window does not fit "
                       f"on the {in_shape[1]}x{in_shape[2]} map that reaches it. There are too "
                       f"many poolings (or strides) for this input size: remove this one, or "
                       f"use a bigger input.")
        if is_spec:
            err.fix = Fix("remove", path, f"Remove {name}")
        return
    if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)) and in_shape:
        c = in_shape[0]
        err.message = (f"{name} normalizes {module.num_features} channels, but receives {c} "
                       f"({shown}). Its num_features must equal the previous layer's channels.")
        if is_spec:
            err.fix = Fix("set", path, f"Set {name}'s features to {c}", "features", c)
        return
    if not leaf:
        # a block's own operation failed: a residual add whose two paths disagree
        err.message = (f"The two paths of {name} do not fit together: {exc}. The body changes the "
                       f"shape, so the skip connection must change it too (a 1x1 projection).")
        block = dict(networks.layer_names(spec)).get(name) if spec and "layers" in spec else None
        if block is not None and networks.get_layer(spec, block).get("type") == "residual":
            err.fix = Fix("set", block, f"Give {name} a projection shortcut", "shortcut", "projection")
        return
    err.message = f"{name} cannot take an input of shape {shown}: {exc}"


def _build_failure(spec: dict, e: SpecError) -> Summary:
    """The spec did not build (e.g. a conv after a flatten, whose input channels cannot be
    inferred). Summarize the layers before the failing one and explain the failing one."""
    top = e.path[0] if e.path else 0
    prefix = {**spec, "layers": spec["layers"][:top]}
    summary = summarize(prefix, tuple(spec["input_shape"])) if top > 0 else Summary(
        rows=[], input_shape=tuple(spec["input_shape"]))
    if summary.error is not None:
        return summary            # an earlier layer is the real first failure
    name = e.name or f"layer {top + 1}"
    in_shape = summary.output_shape if top > 0 else tuple(spec["input_shape"])
    err = ShapeError(layer=name, message=e.message, torch_error="", input_shape=in_shape, path=e.path)
    try:
        layer = networks.get_layer(spec, e.path) if e.path else {}
    except (IndexError, KeyError):
        layer = {}
    t = layer.get("type")
    if t in ("conv2d", "batchnorm2d") and in_shape is not None and len(in_shape) != 3:
        err.message = (f"{name} ({t}) needs an image-shaped input (channels, height, width), but "
                       f"receives a vector of {_shape_str(in_shape)} numbers. Did a Flatten come "
                       f"too early?")
        fl = _prev_flatten(spec, e.path)
        if fl is not None:
            err.fix = Fix("remove", fl, f"Remove the Flatten before {name}")
        else:
            err.message += " Convolutions and 2-D batch-norm go before the Flatten."
    elif t == "conv2d" and "divisible by groups" in e.message:
        err.message = (f"{name} splits its channels into {layer.get('groups')} groups, but "
                       f"{e.message.split(': ', 1)[-1]}: the input channels and the output "
                       f"channels must both divide evenly into the groups.")
        err.fix = Fix("set", e.path, f"Set {name}'s groups to 1", "groups", 1)
    summary.rows.append(Row(name=name, type=t or "?", output_shape=None, input_shape=in_shape,
                            path=e.path, depth=len(e.path) - 1))
    summary.error = err
    summary.output_shape = None
    return summary


def apply_fix(spec: dict, fix: Fix | dict) -> dict:
    """A copy of ``spec`` with ``fix`` applied (see :class:`Fix`)."""
    if isinstance(fix, dict):
        fix = Fix(action=fix["action"], path=tuple(fix.get("path", ())), label=fix.get("label", ""),
                  field=fix.get("field"), value=fix.get("value"))
    path = tuple(fix.path)
    if fix.action == "set":
        if not path:
            new = copy.deepcopy(spec)
            new[fix.field] = copy.deepcopy(fix.value)
            return new
        return networks.set_field(spec, path, fix.field, fix.value)
    if fix.action == "remove":
        return networks.remove_layer(spec, path)
    if fix.action == "insert":
        return networks.insert_layer(spec, path, fix.value)
    raise ValueError(f"Unknown fix action {fix.action!r}")


def fc_comparison(input_shape: tuple[int, int, int], units: int = 1024) -> int:
    """Weights of one dense layer from the flattened input to ``units`` outputs (no bias): the
    course's 224x224x3 -> 1024 example is 154,140,672."""
    return int(math.prod(input_shape)) * int(units)
