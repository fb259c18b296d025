"""Export a spec as readable, plain PyTorch code.

``to_code(spec)`` writes a self-contained Python module: imports, a ``ResidualBlock`` class
when the network has residual blocks, and an ``nn.Module`` class whose ``__init__`` creates the
layers under the same names :func:`playground.networks.build` gives them (so a checkpoint's
``state_dict`` loads into it unchanged) and whose ``forward`` calls them in order. The sizes
written are the ones the built network really has (inferred ``in`` sizes filled in).

torchvision specs export as the torchvision constructor plus the head replacement and freezing.
"""
from __future__ import annotations

import keyword
import re
from typing import Any

from torch import nn

from . import networks
from .networks import ResidualBlock, SpecError

__all__ = ["to_code", "class_name", "module_code"]

_RESIDUAL_CLASS = '''

class ResidualBlock(nn.Module):
    """out = activation(body(x) + shortcut(x)): the skip connection of a ResNet."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, act: nn.Module):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))
'''


def class_name(name: str) -> str:
    """A Python class name from a spec's name: 'MNIST SimpleCNN (broken)' -> 'MNISTSimpleCNNBroken'."""
    words = re.findall(r"[A-Za-z0-9]+", name or "")
    out = "".join(w if w[:1].isupper() else w[:1].upper() + w[1:] for w in words)
    if not out or out[0].isdigit() or keyword.iskeyword(out):
        out = "Net" + out
    return out


def _two(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return str(v[0]) if len(set(v)) == 1 else str(tuple(v))
    return repr(v)


def module_code(m: nn.Module, indent: int = 8) -> str:
    """Constructor code for one module, with only the arguments that differ from defaults."""
    pad = " " * indent
    if isinstance(m, nn.Conv2d):
        args = [str(m.in_channels), str(m.out_channels), f"kernel_size={_two(m.kernel_size)}"]
        if tuple(m.stride) != (1, 1):
            args.append(f"stride={_two(m.stride)}")
        if isinstance(m.padding, str):
            args.append(f"padding={m.padding!r}")
        elif tuple(m.padding) != (0, 0):
            args.append(f"padding={_two(m.padding)}")
        if tuple(m.dilation) != (1, 1):
            args.append(f"dilation={_two(m.dilation)}")
        if m.groups != 1:
            args.append(f"groups={m.groups}")
        if m.bias is None:
            args.append("bias=False")
        return f"nn.Conv2d({', '.join(args)})"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        cls = type(m).__name__
        args = [f"kernel_size={_two(m.kernel_size)}"]
        if _two(m.stride) != _two(m.kernel_size):
            args.append(f"stride={_two(m.stride)}")
        if _two(m.padding) != "0":
            args.append(f"padding={_two(m.padding)}")
        if m.ceil_mode:
            args.append("ceil_mode=True")
        return f"nn.{cls}({', '.join(args)})"
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return f"nn.AdaptiveAvgPool2d({_two(m.output_size)})"
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return f"nn.{type(m).__name__}({m.num_features})"
    if isinstance(m, nn.Linear):
        bias = "" if m.bias is not None else ", bias=False"
        return f"nn.Linear({m.in_features}, {m.out_features}{bias})"
    if isinstance(m, nn.LeakyReLU):
        return f"nn.LeakyReLU({m.negative_slope})" if m.negative_slope != 0.01 else "nn.LeakyReLU()"
    if isinstance(m, (nn.Dropout, nn.Dropout2d)):
        return f"nn.{type(m).__name__}(p={m.p})"
    if isinstance(m, (nn.ReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Flatten, nn.Identity)):
        return f"nn.{type(m).__name__}()"
    if isinstance(m, ResidualBlock):
        inner = pad + "    "
        return (f"ResidualBlock(\n{inner}body={module_code(m.body, indent + 4)},\n"
                f"{inner}shortcut={module_code(m.shortcut, indent + 4)},\n"
                f"{inner}act={module_code(m.act, indent + 4)},\n{pad})")
    if isinstance(m, nn.Sequential):
        inner = pad + "    "
        lines = [f"{inner}({name!r}, {module_code(child, indent + 4)})," for name, child in m.named_children()]
        return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + f"\n{pad}]))"
    raise SpecError(f"Cannot export a {type(m).__name__} layer as code.")


def to_code(spec: dict) -> str:
    """Readable PyTorch code that builds the network ``spec`` describes."""
    spec = networks.validate(spec)
    name = spec.get("name") or "network"
    cls = class_name(name)
    c, h, w = spec["input_shape"]
    if "torchvision" in spec:
        return _torchvision_code(spec, cls)
    import torch

    with torch.device("meta"):        # sizes only: no memory for the weights, however big
        net = networks.build(spec)
    uses_residual = any(isinstance(m, ResidualBlock) for m in net.modules())
    uses_ordered = any(isinstance(m, nn.Sequential) for _, m in net.named_children())
    lines = [f'"""{name}: exported from CNN Playground.', "",
             f"Input: {c} channel(s), {h}x{w} pixels. Build it with `{cls}()`; the layer names "
             "match the", 'playground\'s, so a checkpoint\'s state_dict loads with `load_state_dict`."""',
             "from collections import OrderedDict" if uses_ordered or uses_residual else None,
             "", "import torch", "from torch import nn"]
    lines = [ln for ln in lines if ln is not None]
    code = "\n".join(lines) + "\n"
    if uses_residual:
        code += _RESIDUAL_CLASS
    body = []
    for child_name, child in net.named_children():
        body.append(f"        self.{child_name} = {module_code(child)}")
    fwd = [f"        x = self.{child_name}(x)" for child_name, _ in net.named_children()]
    code += (f"\n\nclass {cls}(nn.Module):\n"
             f"    def __init__(self):\n"
             f"        super().__init__()\n" + "\n".join(body) + "\n\n"
             f"    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
             f"        # x: (batch, {c}, {h}, {w})\n" + "\n".join(fwd) + "\n        return x\n\n\n"
             f"if __name__ == \"__main__\":\n"
             f"    model = {cls}()\n"
             f"    print(model(torch.zeros(1, {c}, {h}, {w})).shape)\n")
    return code


def _torchvision_code(spec: dict, cls: str) -> str:
    name = spec["torchvision"]
    weights = spec.get("weights")
    c, h, w = spec["input_shape"]
    wl = f'"{weights}"' if weights else "None"
    lines = [f'"""{spec.get("name") or name}: torchvision\'s {name}, exported from CNN Playground."""',
             "import torch", "import torchvision", "from torch import nn", "", "",
             f"def {re.sub(r'[^a-z0-9_]', '_', name.lower())}_model() -> nn.Module:",
             f"    model = torchvision.models.get_model({name!r}, weights={wl})"]
    nc = spec.get("num_classes")
    if nc is not None:
        import torch

        with torch.device("meta"):
            probe = networks.build_torchvision(name, weights=None)
        head = networks._head_path(probe)
        old = probe.get_submodule(head)
        default = old.out_features if isinstance(old, nn.Linear) else old.out_channels
        if nc != default:
            parent, _, attr = head.rpartition(".")
            where = f"model.get_submodule({parent!r})" if parent else "model"
            new = (f"nn.Linear({old.in_features}, {nc})" if isinstance(old, nn.Linear)
                   else f"nn.Conv2d({old.in_channels}, {nc}, kernel_size={_two(old.kernel_size)})")
            lines.append(f"    # a new head: {nc} classes")
            lines.append(f"    setattr({where}, {attr!r}, {new})")
        if spec.get("freeze"):
            lines.append("    # train only the head")
            lines.append("    for name, p in model.named_parameters():")
            lines.append(f"        p.requires_grad = name.startswith({head + '.'!r})")
    lines += ["    return model", "", "", 'if __name__ == "__main__":',
              f"    print({re.sub(r'[^a-z0-9_]', '_', name.lower())}_model()(torch.zeros(1, {c}, {h}, {w})).shape)", ""]
    return "\n".join(lines)
