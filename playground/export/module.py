"""Export a spec as readable, plain PyTorch code.

``to_code(spec)`` writes a self-contained Python module: imports, a ``ResidualBlock`` class
when the network has residual blocks, and an ``nn.Module`` class whose ``__init__`` creates the
layers under the same names :func:`playground.networks.build` gives them (so a checkpoint's
``state_dict`` loads into it unchanged) and whose ``forward`` calls them in order. The sizes
written are the ones the built network really has (inferred ``in`` sizes filled in).

Each layer's constructor call is read off the built ``nn.Module`` itself (its constructor's
signature, and the attributes PyTorch stores under the same names), so any layer type the
schema registers exports with no code here.

torchvision specs export as the torchvision constructor plus the head replacement and freezing.
"""
from __future__ import annotations

import inspect
import keyword
import re
from typing import Any

import torch
from torch import nn

from .. import networks
from ..networks import ResidualBlock, SpecError

__all__ = ["to_code", "class_name", "doc_text", "module_code"]

_SKIP = {"device", "dtype"}        # where the weights live is not the network's business
_NAMED = {"kernel_size"}           # nn.Conv2d(3, 8, kernel_size=3) reads better than (3, 8, 3)
_LITERALS = (bool, int, float, str, type(None))


_TAKEN = {"ResidualBlock", "OrderedDict"}   # names the exported module itself defines


def class_name(name: str) -> str:
    """A Python class name from a spec's name: 'MNIST SimpleCNN (broken)' -> 'MNISTSimpleCNNBroken'.
    Only ASCII letters and digits survive, so any text is safe to write into code."""
    words = re.findall(r"[A-Za-z0-9]+", name if isinstance(name, str) else "")
    out = "".join(w if w[:1].isupper() else w[:1].upper() + w[1:] for w in words)[:80]
    if not out or out[0].isdigit() or keyword.iskeyword(out) or out in _TAKEN:
        out = "Net" + out
    return out


def doc_text(text: str) -> str:
    """Text from a spec (its name) made safe inside a docstring or comment: one line of
    letters, digits, spaces and plain punctuation, no quotes or backslashes."""
    return " ".join(re.sub(r"[^\w ,.:;()+\-/]", " ", str(text)).split())[:200] or "network"


def _identifier(name: str) -> str:
    """A module name as an attribute name; the spec parser allows only such names, this keeps
    the export safe whatever it is given."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SpecError(f"Cannot export a layer named {name[:80]!r}: not a Python identifier.")
    return name


def _literal(v: Any) -> str:
    """Python source for a constructor argument; a square pair is written as one number."""
    if isinstance(v, (tuple, list)):
        return repr(v[0]) if len(set(v)) == 1 else repr(tuple(v))
    return repr(v)


def _stored(m: nn.Module, p: inspect.Parameter) -> Any:
    """The value a constructor argument left on the module: PyTorch keeps most under the
    argument's own name; a ``bias=True`` argument leaves a tensor, ``bias=False`` leaves None."""
    v = getattr(m, p.name)
    if isinstance(v, torch.Tensor):
        return True
    if v is None and isinstance(p.default, bool):
        return False
    return v


def _layer_code(m: nn.Module) -> str:
    """``nn.X(...)`` with the required arguments and those that differ from a module built with
    the required arguments alone (so ``stride`` equal to the kernel of a pool is left out)."""
    cls = type(m)
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.name not in _SKIP and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    values = {}
    for p in params:
        if hasattr(m, p.name):
            values[p.name] = _stored(m, p)
        elif p.default is p.empty:
            raise SpecError(f"Cannot export a {cls.__name__} layer as code.")
    required = [p for p in params if p.default is p.empty]
    try:
        with torch.device("meta"):
            ref = cls(*[values[p.name] for p in required])
        defaults = {p.name: _stored(ref, p) for p in params if p.name in values}
    except Exception:  # noqa: BLE001 - a module that needs more to build: compare with its signature
        defaults = {p.name: p.default for p in params}
    args = []
    for p in params:
        v = values.get(p.name, p.default)
        parts = v if isinstance(v, (tuple, list)) else (v,)
        if not all(isinstance(x, _LITERALS) for x in parts):
            raise SpecError(f"Cannot export a {cls.__name__} layer as code.")
        if p.default is p.empty and p.name not in _NAMED and p.kind != p.KEYWORD_ONLY:
            args.append(_literal(v))
        elif p.default is p.empty or _literal(v) != _literal(defaults.get(p.name, p.default)):
            args.append(f"{p.name}={_literal(v)}")
    return f"nn.{cls.__name__}({', '.join(args)})"


def module_code(m: nn.Module, indent: int = 8) -> str:
    """Constructor code for one module, with only the arguments that differ from defaults."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(m, ResidualBlock):
        return (f"ResidualBlock(\n{inner}body={module_code(m.body, indent + 4)},\n"
                f"{inner}shortcut={module_code(m.shortcut, indent + 4)},\n"
                f"{inner}activation={module_code(m.act, indent + 4)},\n{pad})")
    if isinstance(m, nn.Sequential):
        lines = [f"{inner}({name!r}, {module_code(child, indent + 4)}),"
                 for name, child in m.named_children()]
        return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + f"\n{pad}]))"
    if type(m).__module__.startswith("torch.nn.modules"):
        return _layer_code(m)
    raise SpecError(f"Cannot export a {type(m).__name__} layer as code.")


def _header(name: str, cls: str, shape: list[int], ordered: bool) -> str:
    c, h, w = shape
    lines = [f'"""{doc_text(name)}: exported from CNN Playground.', "",
             f"Input: {c} channel(s), {h}x{w} pixels. Build it with `{cls}()`; the layer names "
             "match the", 'playground\'s, so a checkpoint\'s state_dict loads with `load_state_dict`."""',
             *(["from collections import OrderedDict"] if ordered else []),
             "", "import torch", "from torch import nn"]
    return "\n".join(lines) + "\n"


def to_code(spec: dict) -> str:
    """Readable PyTorch code that builds the network ``spec`` describes."""
    spec = networks.parse_spec(spec)
    name = spec.get("name") or "network"
    cls = class_name(name)
    if "torchvision" in spec:
        return _torchvision_code(spec)
    c, h, w = spec["input_shape"]
    with torch.device("meta"):        # sizes only: no memory for the weights, however big
        net = networks.build(spec)
    uses_residual = any(isinstance(m, ResidualBlock) for m in net.modules())
    uses_ordered = uses_residual or any(isinstance(m, nn.Sequential) for _, m in net.named_children())
    code = _header(name, cls, spec["input_shape"], uses_ordered)
    if uses_residual:
        code += "\n\n" + inspect.getsource(ResidualBlock)
    children = [child_name for child_name, _ in net.named_children()]
    body = [f"        self.{_identifier(n)} = {module_code(net.get_submodule(n))}" for n in children]
    fwd = [f"        x = self.{_identifier(n)}(x)" for n in children]
    code += (f"\n\nclass {cls}(nn.Module):\n"
             f"    def __init__(self):\n"
             f"        super().__init__()\n" + "\n".join(body) + "\n\n"
             f"    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
             f"        # x: (batch, {c}, {h}, {w})\n" + "\n".join(fwd) + "\n        return x\n\n\n"
             f"if __name__ == \"__main__\":\n"
             f"    model = {cls}().eval()   # eval: batch-norm layers take a batch of one\n"
             f"    print(model(torch.zeros(1, {c}, {h}, {w})).shape)\n")
    return code


def _head_code(spec: dict) -> list[str]:
    """Lines that give a torchvision model the spec's head and freezing."""
    name, nc = spec["torchvision"], spec.get("num_classes")
    if nc is None:
        return []
    with torch.device("meta"):
        probe = networks.build_torchvision(name, weights=None)
    head = networks.head_path(probe)
    old = probe.get_submodule(head)
    lines = []
    if nc != networks.zoo.head_outputs(probe):
        parent, _, attr = head.rpartition(".")
        where = f"model.get_submodule({parent!r})" if parent else "model"
        new = (f"nn.Linear({old.in_features}, {nc})" if isinstance(old, nn.Linear)
               else f"nn.Conv2d({old.in_channels}, {nc}, kernel_size={_literal(old.kernel_size)})")
        lines += [f"    # a new head: {nc} classes", f"    setattr({where}, {attr!r}, {new})"]
    if spec.get("freeze"):
        lines += ["    # train only the head", "    for name, p in model.named_parameters():",
                  f"        p.requires_grad = name.startswith({head + '.'!r})"]
    return lines


def _torchvision_code(spec: dict) -> str:
    name = spec["torchvision"]
    weights = spec.get("weights")
    c, h, w = spec["input_shape"]
    fn = re.sub(r"[^a-z0-9_]", "_", name.lower()) + "_model"
    wl = repr(str(weights)) if weights else "None"
    lines = [f'"""{doc_text(spec.get("name") or name)}: torchvision\'s {doc_text(name)}, exported '
             f'from CNN Playground."""',
             "import torch", "import torchvision", "from torch import nn", "", "",
             f"def {fn}() -> nn.Module:",
             f"    model = torchvision.models.get_model({name!r}, weights={wl})",
             *_head_code(spec),
             "    return model", "", "", 'if __name__ == "__main__":',
             f"    print({fn}().eval()(torch.zeros(1, {c}, {h}, {w})).shape)", ""]
    return "\n".join(lines)
