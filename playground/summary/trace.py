"""The one meta-device tracer: a network's rows, shapes, MACs and receptive fields from one
forward of a private ``meta`` copy (no memory, no arithmetic).

:func:`summarize` runs the real module (or the one a spec builds) on a batch of one *meta*
tensor with hooks on every module, so every output shape is the one PyTorch computes:

- **Rows**: one per leaf module call, plus the operations blocks do in their own ``forward``
  (the residual add, squeeze-excitation's multiply, ``torch.flatten``), seen by a
  ``TorchFunctionMode`` that also carries each tensor's receptive field (:mod:`.receptive`).
- **MACs** come from :class:`torch.utils.flop_counter.FlopCounterMode`, attributed to modules
  through this tracer's own module stack (:func:`playground.flops.flop_counter`). It counts the FLOPs of
  convolutions and matrix products (``2 * multiply-accumulates``); we report
  ``MACs = FLOPs / 2``. Bias adds, BatchNorm, activations, pooling and residual adds are not
  counted (they are a small share, and this is the convention of the papers' "FLOPs" tables).
- **Every module's output** (containers too) in running order: ``Summary.outputs``, what
  :mod:`playground.explain` picks its layers from.
- **Failures** are caught at the layer where they happen and explained (:mod:`.errors`).
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Iterable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import networks
from ..flops import flop_counter
from ..networks import SpecError
from .errors import ShapeError, build_failure, explain_failure
from .receptive import Field, propagate
from .results import ModuleOutput, Row, Summary, layer_detail

# Ops in a block's own forward that get a row when they change the shape.
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


# --------------------------------------------------------------------------------------------
# The tracer
# --------------------------------------------------------------------------------------------
def _op_base(func_name: str) -> str:
    """``__iadd__`` -> ``add``, ``mul_`` -> ``mul``: the op's name in row names."""
    base = func_name.strip("_").removesuffix("_") or func_name
    return {"iadd": "add", "radd": "add", "imul": "mul", "rmul": "mul"}.get(base, base)


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None


class _Tracer(TorchFunctionMode):
    """Module hooks keep the module stack and the leaf rows; the torch-function mode sees every
    torch function of the forward, keeps each tensor's receptive field and records the
    operations blocks do in their own ``forward`` as rows."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.names = {m: n for n, m in net.named_modules()}
        self.paths: dict[str, tuple[int, ...]] = getattr(net, "paths", None) or {}
        self.fields: dict[int, tuple[torch.Tensor, Field]] = {}
        self.stack: list[tuple[str, nn.Module, bool]] = []   # (name, module, is_leaf)
        self.inputs: dict[nn.Module, torch.Tensor | None] = {}
        self.rows: list[Row] = []
        self.leaf_rows: dict[str, list[Row]] = {}            # a leaf's rows (one per call)
        self.outputs: OrderedDict[str, ModuleOutput] = OrderedDict()   # in finishing order
        self.finished = 0                                    # modules that returned a tensor
        self.counted: set[int] = set()                       # parameters already in a row
        self.op_names: dict[str, int] = {}
        self.failed_op: str | None = None

    def field(self, t: Any) -> Field | None:
        if isinstance(t, torch.Tensor):
            got = self.fields.get(id(t))
            if got is not None and got[0] is t:
                return got[1]
        return None

    def set_field(self, t: torch.Tensor, f: Field) -> None:
        self.fields[id(t)] = (t, f)

    def module_names(self) -> list[str]:
        return [name for name, _, _ in self.stack]

    def _take_params(self, params: Iterable[torch.Tensor]) -> tuple[int, int]:
        """(count, trainable) of ``params`` not yet in a row, which are in one from now on."""
        new = [p for p in params if id(p) not in self.counted]
        self.counted |= {id(p) for p in new}
        return sum(p.numel() for p in new), sum(p.numel() for p in new if p.requires_grad)

    # -- module hooks ------------------------------------------------------------------------
    def attach(self, net: nn.Module) -> list:
        return [h for m in net.modules()
                for h in (m.register_forward_pre_hook(self._pre), m.register_forward_hook(self._post))]

    def _pre(self, mod: nn.Module, inputs: tuple) -> None:
        leaf = next(iter(mod.children()), None) is None
        self.stack.append((self.names.get(mod, "?"), mod, leaf))
        self.inputs[mod] = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None

    def _post(self, mod: nn.Module, inputs: tuple, output: Any) -> None:
        n, _, leaf = self.stack.pop()
        if n and isinstance(output, torch.Tensor):
            self.outputs.pop(n, None)
            self.finished += 1
            self.outputs[n] = ModuleOutput(n, type(mod).__name__,
                                           tuple(int(v) for v in output.shape[1:]), self.finished)
        if not leaf:
            return
        y = _first_tensor(output)
        calls = self.leaf_rows.setdefault(n, [])
        params, trainable = self._take_params(mod.parameters())
        row = _new_row(n if not calls else f"{n}#{len(calls) + 1}", type(mod).__name__,
                       self.inputs[mod], y, self.field(y), params, trainable,
                       depth=n.count("."), detail=layer_detail(mod))
        row.path = self.paths.get(n)
        self.rows.append(row)
        calls.append(row)

    # -- torch functions ---------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", None) or str(func)
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

    def _propagate(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        tensors: list[torch.Tensor] = []
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                tensors.append(a)
            elif isinstance(a, (list, tuple)):
                tensors += [x for x in a if isinstance(x, torch.Tensor)]
        ins = [(t, r) for t in tensors if (r := self.field(t)) is not None]
        if not ins:
            return
        outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if isinstance(o, torch.Tensor)]
        y = outs[0]
        # the main input: for a broadcasting op (SE's scale * x) the one shaped like the output
        x, r = next(((t, q) for t, q in ins if tuple(t.shape) == tuple(y.shape)), ins[0])
        new = propagate(name, args, kwargs, x, r, y, ins)
        for o in outs:
            if o.dtype in (torch.int64, torch.bool) and o is not y:
                continue            # max_pool2d's indices
            self.set_field(o, new)
        self._op_row(name, tensors, ins, x, y, new)

    def _op_row(self, name: str, tensors: list, ins: list, x: torch.Tensor, y: torch.Tensor,
                new: Field) -> None:
        """A row for an op that a block does in its own forward (the residual add, SE multiply,
        torch.flatten ...), not inside a leaf module: one that joins two paths, uses the block's
        own parameters, or changes the shape."""
        if not self.stack or self.stack[-1][2]:
            return
        owner, module, _ = self.stack[-1]
        own = {id(p) for p in module.parameters(recurse=False)}
        own_used = [t for t in tensors if id(t) in own and id(t) not in self.counted]
        two_paths = len({id(t) for t, _ in ins}) >= 2
        shape_op = name in _VISIBLE_SHAPE_OPS and tuple(y.shape) != tuple(x.shape)
        if not (two_paths or own_used or shape_op):
            return
        key = f"{owner}.{_op_base(name)}" if owner else _op_base(name)
        n = self.op_names[key] = self.op_names.get(key, 0) + 1
        typ = _OP_TYPES.get(name, name)
        if typ.startswith("Add") and not two_paths:
            typ = "Add"
        if typ == "Multiply" and own_used:
            typ = "Multiply (learned scale)"
        params, trainable = self._take_params(own_used)
        self.rows.append(_new_row(key if n == 1 else f"{key}_{n}", typ, x, y, new, params, trainable,
                                  op=True, depth=owner.count(".") + (1 if owner else 0)))

    # -- a failed forward --------------------------------------------------------------------
    def failure(self, exc: Exception, spec: dict | None) -> ShapeError:
        """Explain ``exc`` at the innermost module still running; its row ends the table,
        marked by ``output_shape`` None."""
        if not self.stack:
            return ShapeError("input", f"The network could not run: {exc}",
                              torch_error=f"{type(exc).__name__}: {exc}")
        name, module, leaf = self.stack[-1]
        x = self.inputs.get(module)
        in_shape = tuple(int(v) for v in x.shape[1:]) if isinstance(x, torch.Tensor) else None
        op = _op_base(self.failed_op or "op")
        layer = name if leaf else f"{name}.{op}" if name else op
        path = self.paths.get(name)
        err = explain_failure(module if leaf else None, name, layer, in_shape, spec, path, exc)
        typ = type(module).__name__ if leaf else "Add (skip connection)" if "add" in layer \
            else layer.rsplit(".", 1)[-1]
        row = Row(name=layer, type=typ, output_shape=None, input_shape=in_shape, path=path,
                  depth=layer.count("."), detail=layer_detail(module) if leaf else "")
        if leaf:
            row.params, row.trainable = self._take_params(module.parameters())
            if (xf := self.field(x)) is not None:
                _with_field(row, xf)
        self.rows.append(row)
        return err


def _new_row(name: str, typ: str, x: Any, y: Any, f: Field | None, params: int, trainable: int,
             op: bool = False, depth: int = 0, detail: str = "") -> Row:
    shape = tuple(int(v) for v in y.shape[1:]) if isinstance(y, torch.Tensor) else None
    ins = tuple(int(v) for v in x.shape[1:]) if isinstance(x, torch.Tensor) else None
    mem = int(y[0].numel() * y.element_size()) if isinstance(y, torch.Tensor) and y.dim() else 0
    row = Row(name=name, type=typ, output_shape=shape, params=params, trainable=trainable,
              memory=mem, input_shape=ins, op=op, depth=depth, detail=detail)
    if f is not None:
        _with_field(row, f)
    return row


def _with_field(row: Row, f: Field) -> None:
    """Copy a tensor's field into the row (the row's height dim counts without the batch)."""
    row.a, row.b, row.ga, row.gb = float(f.a), float(f.b), f.ga, f.gb
    row.hdim = None if f.hdim is None else f.hdim - 1
    size = f.b - f.a + 1
    if f.ga is not None:
        size = max(size, f.gb - f.ga + 1)
    row.rf = int(round(size))
    row.jump = int(f.jump) if float(f.jump).is_integer() else float(f.jump)
    row.start = (f.a + f.b) / 2


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


def _build_meta(spec: dict) -> nn.Module:
    if "torchvision" in spec:
        spec = {**spec, "weights": None}     # shapes do not depend on weights: never download
    with torch.device("meta"):
        return networks.build(spec)


def meta_model(model: nn.Module | dict) -> nn.Module:
    """A meta-device module for ``model``: a private copy of a module (no weight data), or the
    one a spec builds (torchvision specs without weights: never a download)."""
    return _build_meta(networks.parse_spec(model)) if isinstance(model, dict) else _to_meta(model)


def summarize(model: nn.Module | dict | list, input_shape: tuple[int, int, int] | list[int] | None = None) -> Summary:
    """Trace ``model`` (an ``nn.Module`` or a spec) on a ``(C, H, W)`` input. Never raises for
    a network whose shapes do not fit: ``Summary.error`` says where and why, and the rows stop
    at that layer. Raises :class:`~playground.networks.SpecError` for a malformed spec."""
    is_spec = isinstance(model, (dict, list))
    if input_shape is None:
        src = model if is_spec and isinstance(model, dict) else getattr(model, "spec", None) or {}
        input_shape = tuple(src.get("input_shape", (3, 224, 224)))
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise SpecError(f"input_shape must be (channels, height, width) >= 1, got {input_shape}.")
    if not is_spec:
        # always a private copy (cheap: no weight data), so eval(), hooks and the trace never
        # touch the caller's module, which may be training in another thread
        spec = getattr(model, "spec", None)
        return trace(_to_meta(model), input_shape, spec if isinstance(spec, dict) else None)
    spec = networks.parse_spec(model)                   # a list of layers becomes a spec
    spec = networks.parse_spec({**spec, "input_shape": list(input_shape)})
    try:
        net = _build_meta(spec)
    except SpecError as e:
        if "torchvision" in spec:
            raise
        # summarize the layers before the failing one, then explain the failing one
        top = e.path[0] if e.path else 0
        before = summarize({**spec, "layers": spec["layers"][:top]}, input_shape) if top > 0 \
            else Summary(rows=[], input_shape=input_shape)
        return build_failure(spec, e, before)
    return trace(net, input_shape, spec)


def trace(net: nn.Module, input_shape: tuple[int, int, int], spec: dict | None = None) -> Summary:
    """One instrumented forward of ``net`` (already on the meta device; it is put in eval
    mode and hooked for the call) on a ``(C, H, W)`` input: the summary. ``spec``, where the
    network was built from one, lets failures be explained with a fix to it."""
    net.eval()
    tracer = _Tracer(net)
    flops = flop_counter(tracer.module_names)
    x = torch.empty((1, *input_shape), device="meta")
    out, caught = None, None
    handles = tracer.attach(net)
    try:
        with torch.no_grad(), flops, tracer:
            tracer.set_field(x, Field(0.0, 0.0, 1, 2))
            out = net(x)
    except Exception as e:  # noqa: BLE001 - every failure of the forward is explained below
        caught = e
    finally:
        for h in handles:
            h.remove()
    error = tracer.failure(caught, spec) if caught is not None else None
    counts = flops.get_flop_counts()
    for n, rows in tracer.leaf_rows.items():
        total = sum(counts.get(n, {}).values())
        for r in rows:
            r.macs = int(total // 2 // len(rows))     # a module called twice: half each
    params, buffers = list(net.parameters()), list(net.buffers())
    return Summary(
        rows=tracer.rows, input_shape=input_shape,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        buffers=sum(b.numel() for b in buffers),
        total_macs=int(sum(counts.get("Global", {}).values()) // 2),
        param_bytes=sum(t.numel() * t.element_size() for t in params + buffers),
        error=error,
        output_shape=tuple(int(v) for v in out.shape[1:]) if isinstance(out, torch.Tensor) else None,
        name=str((spec or {}).get("name") or type(net).__name__),
        outputs=list(tracer.outputs.values()),
    )
