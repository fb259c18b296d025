"""Shape errors in plain words, each with a structured :class:`Fix` that :func:`apply_fix`
applies to a spec.

The tracer catches a failure at the layer where it happens and hands it here with what it
knows (the module, its input shape, the spec path); a spec that does not even build (a conv
after a flatten, whose input channels cannot be inferred) comes through :func:`build_failure`.
"""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .. import networks
from ..networks import SpecError
from .results import Row, Summary

# Layer types that keep the shape between a flatten and the layer after it.
# Layer types a vector passes through unchanged (the schema's flag), looking back for a flatten.
_PASS_THROUGH = frozenset(t for t, entry in networks.LAYER_TYPES.items() if entry.keeps_shape)


@dataclass
class Fix:
    """A structured fix for a spec. ``action``: ``"set"`` (``field`` of the layer at ``path``
    to ``value``; an empty path means the spec itself, e.g. ``input_shape``), ``"remove"`` (the
    layer at ``path``) or ``"insert"`` (``value``, a layer dict, at ``path``). ``label`` says
    it in words.

    For a plain ``nn.Module`` (pasted code) ``attr`` is the layer's attribute path in the module
    (``"fc"``, ``"features.3"``), ``field`` the constructor's argument (``"in_features"``) and
    ``code`` the corrected constructor (``"nn.Linear(9216, 10)"``);
    :func:`playground.code.apply_fix` writes it into the learner's source."""

    action: str
    path: tuple[int, ...]
    label: str
    field: str | None = None
    value: Any = None
    attr: str | None = None
    code: str | None = None

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


def shape_text(shape: tuple[int, ...] | None) -> str:
    """(64, 28, 28) -> '28x28x64' (height x width x channels), as the messages write it."""
    if shape is None:
        return "unknown"
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}x{shape[0]}"
    return "x".join(str(v) for v in shape) if shape else "a single number"


def cpu_error(module: nn.Module, in_shape: tuple[int, ...]) -> str | None:
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


# --------------------------------------------------------------------------------------------
# A forward that failed at one layer
# --------------------------------------------------------------------------------------------
def explain_failure(module: nn.Module | None, name: str, layer: str, in_shape: tuple[int, ...] | None,
                    spec: dict | None, path: tuple[int, ...] | None, exc: Exception) -> ShapeError:
    """The :class:`ShapeError` of a forward that raised ``exc`` in leaf ``module`` (named
    ``name``) or, with ``module`` None, in block ``name``'s own forward (the op ``layer``)."""
    torch_error = cpu_error(module, in_shape) if module is not None and in_shape is not None else None
    err = ShapeError(layer=layer, message="", torch_error=torch_error or f"{type(exc).__name__}: {exc}",
                     input_shape=in_shape, path=path)
    is_spec = spec is not None and "layers" in spec and path is not None
    if not _explain_layer(err, module, name, spec, is_spec, exc):
        err.message = f"{name} cannot take an input of shape {shape_text(in_shape)}: {exc}"
    if err.fix is None and module is not None and not is_spec and "torchvision" not in (spec or {}):
        err.fix = module_fix(module, name, in_shape)
    elif module is None:
        _own_forward(err, name, layer.rsplit(".", 1)[-1], exc)
    return err


def _own_forward(err: ShapeError, name: str, op: str, exc: Exception) -> None:
    """A module's own forward failed outside its layers (not a residual add): a reshape with a
    fixed size, or anything else the learner's code raised."""
    where = f"{name}'s forward" if name else "forward"
    if op in ("view", "reshape"):
        err.message = (f"{err.layer} cannot reshape what arrives ({shape_text(err.input_shape)} per "
                       f"image): {exc}. A fixed size written in forward, like x.view(-1, 16*5*5), "
                       f"breaks when the shapes change: write torch.flatten(x, 1) (or "
                       f"x.view(x.size(0), -1)), and give the next Linear the flattened size.")
    elif op not in ("add", "cat", "stack", "mul", "sub"):
        at = "" if op == "op" else f" at {op}"
        err.message = f"The network stops in {where}{at}: {type(exc).__name__}: {exc}"


def _explain_layer(err: ShapeError, module: nn.Module | None, name: str, spec: dict | None,
                   is_spec: bool, exc: Exception) -> bool:
    """Put the reason (and a fix, for a spec) into ``err``; False where no rule applies."""
    in_shape = err.input_shape
    if module is None:
        _two_paths(err, name, spec, exc)
    elif isinstance(module, nn.Linear):
        _linear(err, module, name, is_spec)
    elif isinstance(module, nn.Conv2d):
        return _conv(err, module, name, spec, is_spec)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and in_shape is not None and len(in_shape) == 3:
        _pool(err, module, name, is_spec)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)) and in_shape:
        _norm(err, module, name, is_spec)
    else:
        return False
    return True


def _linear(err: ShapeError, module: nn.Linear, name: str, is_spec: bool) -> None:
    need, in_shape = module.in_features, err.input_shape
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
            err.fix = Fix("set", err.path, f"Set {name}'s in_features to {got:,}", "in", got)
    elif in_shape is not None:
        err.message = (f"{name} is a fully-connected layer, but it receives an image-shaped "
                       f"tensor {shape_text(in_shape)} (height x width x channels). Flatten it "
                       f"to a vector first: a Linear layer works on the last dimension only.")
        if is_spec:
            err.fix = Fix("insert", err.path, f"Insert a Flatten before {name}", None, {"type": "flatten"})


def _conv(err: ShapeError, module: nn.Conv2d, name: str, spec: dict | None, is_spec: bool) -> bool:
    """Explain a conv's failure; False where none of its own reasons applies."""
    in_shape, shown = err.input_shape, shape_text(err.input_shape)
    if in_shape is None or len(in_shape) != 3:
        err.message = (f"{name} is a convolution and needs an image-shaped input (channels, "
                       f"height, width), but receives a vector of shape {shown}. Did a "
                       f"Flatten come too early? Convolutions go before the Flatten.")
        fl = _prev_flatten(spec, err.path) if is_spec else None
        if fl is not None:
            err.fix = Fix("remove", fl, "Remove the Flatten before " + name)
        return True
    c, h, w = in_shape
    if c != module.in_channels:
        err.message = (f"{name} expects {module.in_channels} input channels, but the layer "
                       f"before it makes {c} feature maps ({shown}). A conv's in_channels "
                       f"must equal the previous layer's out_channels.")
        if is_spec:
            err.fix = Fix("set", err.path, f"Set {name}'s in_channels to {c}", "in", c)
        elif "torchvision" in (spec or {}) and name.count(".") <= 2:
            err.fix = Fix("set", (), f"Give the network {module.in_channels}-channel input",
                          "input_shape", [module.in_channels, h, w])
        return True
    k, d, s = module.kernel_size[0], module.dilation[0], module.stride[0]
    p = module.padding[0] if not isinstance(module.padding, str) else 0
    side = min(h, w)
    span = d * (k - 1) + 1
    if side + 2 * p >= span:
        return False
    out = (side + 2 * p - span) // s + 1
    err.message = (f"The size falls to {out} at {name}: its {k}x{k} kernel does not fit on "
                   f"the {h}x{w} map that reaches it (padding {p}): output = "
                   f"floor(({side} + 2*{p} - {span}) / {s}) + 1 = {out}. Pad the input, or "
                   f"remove a pooling layer before it so the map stays bigger.")
    if is_spec:
        newp = fitting_padding(side, k, d)
        err.fix = Fix("set", err.path, f"Set {name}'s padding to {newp}", "padding", newp)
    return True


def fitting_padding(side: int, k: int, d: int) -> int:
    """The padding that lets a ``k``-kernel (dilation ``d``) fit a ``side`` map: enough to fit,
    at least 'same' padding."""
    return max(math.ceil((d * (k - 1) + 1 - side) / 2), d * (k - 1) // 2)


# --------------------------------------------------------------------------------------------
# A layer of a plain nn.Module (pasted code): the fix is its corrected constructor
# --------------------------------------------------------------------------------------------
def module_fix(module: nn.Module, name: str, in_shape: tuple[int, ...] | None) -> Fix | None:
    """The fix for layer ``name`` of a plain ``nn.Module`` receiving ``in_shape``: one
    constructor argument changed (a Linear's in_features, a conv's in_channels or padding, a
    batch-norm's num_features), as :func:`playground.code.apply_fix` writes it into the source."""
    if not in_shape:
        return None
    change: tuple[str, int] | None = None
    if isinstance(module, nn.Linear) and len(in_shape) == 1 and in_shape[0] != module.in_features:
        change = ("in_features", in_shape[0])
    elif isinstance(module, nn.Conv2d) and len(in_shape) == 3:
        k, d = module.kernel_size[0], module.dilation[0]
        p = module.padding[0] if not isinstance(module.padding, str) else None
        if in_shape[0] != module.in_channels:
            change = ("in_channels", in_shape[0])
        elif p is not None and min(in_shape[1:]) + 2 * p < d * (k - 1) + 1:
            change = ("padding", fitting_padding(min(in_shape[1:]), k, d))
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and in_shape[0] != module.num_features:
        change = ("num_features", in_shape[0])
    if change is None:
        return None
    field, value = change
    code = constructor(module, **{field: value})
    return Fix("set", (), f"Set {name}'s {field} to {value:,}: {code}", field, value,
               attr=name, code=code)


_NOT_ARGS = {"self", "device", "dtype"}


def _arg_text(v: Any) -> str:
    if isinstance(v, tuple) and v and all(x == v[0] for x in v):
        v = v[0]                                        # (3, 3) -> 3, as the course writes it
    return repr(v)


def constructor(module: nn.Module, **changes: Any) -> str:
    """The call that builds ``module`` (with ``changes``): ``nn.Linear(9216, 10)``. Required
    arguments by position, the others by name where they differ from the default."""
    cls = type(module)
    args = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in _NOT_ARGS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in changes:
            v = changes[p.name]
        elif p.name == "bias":
            v = getattr(module, "bias", None) is not None
        elif hasattr(module, p.name):
            v = getattr(module, p.name)
        else:
            continue
        if p.default is p.empty:
            args.append(_arg_text(v))
        elif _arg_text(v) != _arg_text(p.default):
            args.append(f"{p.name}={_arg_text(v)}")
    prefix = "nn." if getattr(nn, cls.__name__, None) is cls else ""
    return f"{prefix}{cls.__name__}({', '.join(args)})"


def _pool(err: ShapeError, module: nn.Module, name: str, is_spec: bool) -> None:
    k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
    err.message = (f"The size falls to zero at {name}: a {k}x{k} pooling window does not fit "
                   f"on the {err.input_shape[1]}x{err.input_shape[2]} map that reaches it. There "
                   f"are too many poolings (or strides) for this input size: remove this one, or "
                   f"use a bigger input.")
    if is_spec:
        err.fix = Fix("remove", err.path, f"Remove {name}")


def _norm(err: ShapeError, module: nn.Module, name: str, is_spec: bool) -> None:
    c = err.input_shape[0]
    err.message = (f"{name} normalizes {module.num_features} channels, but receives {c} "
                   f"({shape_text(err.input_shape)}). Its num_features must equal the previous "
                   f"layer's channels.")
    if is_spec:
        err.fix = Fix("set", err.path, f"Set {name}'s features to {c}", "features", c)


def _two_paths(err: ShapeError, name: str, spec: dict | None, exc: Exception) -> None:
    """A block's own operation failed: a residual add whose two paths disagree."""
    err.message = (f"The two paths of {name} do not fit together: {exc}. The body changes the "
                   f"shape, so the skip connection must change it too (a 1x1 projection).")
    block = dict(networks.layer_names(spec)).get(name) if spec and "layers" in spec else None
    if block is not None and networks.get_layer(spec, block).get("type") == "residual":
        err.fix = Fix("set", block, f"Give {name} a projection shortcut", "shortcut", "projection")


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


# --------------------------------------------------------------------------------------------
# A spec that does not build
# --------------------------------------------------------------------------------------------
def build_failure(spec: dict, e: SpecError, before: Summary) -> Summary:
    """The spec did not build at ``e.path``; ``before`` summarizes the layers before the failing
    top-level one. That summary, with the failing layer explained as its last row."""
    if before.error is not None:
        return before            # an earlier layer is the real first failure
    top = e.path[0] if e.path else 0
    name = e.name or f"layer {top + 1}"
    in_shape = before.output_shape if top > 0 else tuple(spec["input_shape"])
    err = ShapeError(layer=name, message=e.message, torch_error="", input_shape=in_shape, path=e.path)
    try:
        layer = networks.get_layer(spec, e.path) if e.path else {}
    except (IndexError, KeyError):
        layer = {}
    t = layer.get("type")
    if t in ("conv2d", "batchnorm2d") and in_shape is not None and len(in_shape) != 3:
        err.message = (f"{name} ({t}) needs an image-shaped input (channels, height, width), but "
                       f"receives a vector of {shape_text(in_shape)} numbers. Did a Flatten come "
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
    before.rows.append(Row(name=name, type=t or "?", output_shape=None, input_shape=in_shape,
                           path=e.path, depth=len(e.path) - 1))
    before.error = err
    before.output_shape = None
    return before


def apply_fix(spec: dict, fix: Fix | dict) -> dict:
    """A copy of ``spec`` with ``fix`` applied (see :class:`Fix`)."""
    if isinstance(fix, dict):
        fix = Fix(action=fix["action"], path=tuple(fix.get("path", ())), label=fix.get("label", ""),
                  field=fix.get("field"), value=fix.get("value"), attr=fix.get("attr"),
                  code=fix.get("code"))
    if fix.attr is not None:
        raise ValueError("This fix is for a module's source code: apply it with "
                         "playground.code.apply_fix(source, fix).")
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
