"""A summary's fix, written into the learner's own source.

:func:`apply_fix` finds where the failing layer is made (``self.fc = nn.Linear(16*5*5, 10)``,
found by the layer's attribute path through ``__init__`` assignments, ``nn.Sequential(...)``
arguments (also ``OrderedDict`` names), ``nn.ModuleList([...])`` items and the learner's own
block classes) and replaces only the one argument's text (``16*5*5`` -> ``9216``); every other
byte of the source stays as it was. :func:`diff` shows the change as a unified diff.
"""
from __future__ import annotations

import ast
import difflib
import inspect
from typing import Any

from torch import nn

from ..summary import Fix
from .loader import CodeError, Parsed, parse, pick


def diff(old: str, new: str, name: str = "your_code.py") -> str:
    """A unified diff (difflib) of the learner's code before and after a fix."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{name}", f"b/{name}", n=2))


def _self_assignments(cls: ast.ClassDef) -> dict[str, ast.expr]:
    """``self.<name> = <value>`` in ``__init__`` (the last one of each name wins)."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    out: dict[str, ast.expr] = {}
    for node in ast.walk(init) if init is not None else ():
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) and node.value is not None else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                out[t.attr] = node.value
    return out


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _child(node: ast.expr, part: str, p: Parsed) -> tuple[ast.expr | None, ast.ClassDef | None]:
    """The expression that makes child ``part`` of the module ``node`` makes (and the class whose
    ``__init__`` it is in, when it comes from a class of the source)."""
    kind = _call_name(node)
    if kind == "Sequential" and isinstance(node, ast.Call):
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Call) and _call_name(first) == "OrderedDict" and first.args:
            pairs = first.args[0]
            items = pairs.elts if isinstance(pairs, (ast.List, ast.Tuple)) else []
            for it in items:
                if isinstance(it, ast.Tuple) and len(it.elts) == 2 and \
                        isinstance(it.elts[0], ast.Constant) and it.elts[0].value == part:
                    return it.elts[1], None
            return None, None
        if part.isdigit() and not any(isinstance(a, ast.Starred) for a in node.args):
            i = int(part)
            return (node.args[i] if i < len(node.args) else None), None
        return None, None
    if kind == "ModuleList" and isinstance(node, ast.Call) and node.args \
            and isinstance(node.args[0], ast.List) and part.isdigit():
        elts = node.args[0].elts
        return (elts[int(part)] if int(part) < len(elts) else None), None
    cls = p.classes.get(kind)
    if cls is not None:
        return _self_assignments(cls).get(part), cls
    return None, None


def locate(p: Parsed, root: str, attr: str) -> tuple[ast.Call, ast.ClassDef | None]:
    """The constructor call that makes the layer at ``attr`` of network ``root``."""
    parts = attr.split(".") if attr else []
    if root in p.classes:
        cls: ast.ClassDef | None = p.classes[root]
        node = _self_assignments(cls).get(parts[0]) if parts else None
        parts = parts[1:]
    else:
        cls, node = None, p.sequentials.get(root)
    for part in parts:
        if node is None:
            break
        node, inner = _child(node, part, p)
        cls = inner or cls
    if not isinstance(node, ast.Call):
        raise CodeError(f"Could not find where {attr!r} is made in the code (a layer built in a "
                        f"loop or a helper function). Change it by hand.")
    return node, cls


def _arg_index(layer_type: str, field: str) -> int | None:
    """The position of constructor argument ``field`` of ``nn.<layer_type>``."""
    cls = getattr(nn, layer_type, None)
    if cls is None:
        return None
    names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    return names.index(field) if field in names else None


def _offsets(source: str) -> list[int]:
    """Byte offset of each line's start (ast columns are UTF-8 byte offsets)."""
    starts, total = [0], 0
    for line in source.encode().splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def apply_fix(source: str, fix: Fix | dict[str, Any], class_name: str | None = None) -> str:
    """``source`` with ``fix`` (a :class:`~playground.summary.Fix` of a module's layer) written
    in: the one constructor argument's text replaced, or added as ``name=value`` before the
    call's closing parenthesis. ``class_name`` names the network as :func:`~.loader.load` does
    (None: the same choice). Raises :class:`CodeError` where the layer cannot be found."""
    if isinstance(fix, dict):
        fix = Fix(**{k: v for k, v in fix.items() if k in Fix.__dataclass_fields__})
    if not fix.attr or fix.action != "set" or not fix.field:
        raise CodeError("This fix is not for a layer of pasted code.")
    p = parse(source)
    root = pick(static_modules(p), p.used, list(p.sequentials), class_name)
    call, cls = locate(p, root, fix.attr)
    layer_type = (fix.code or "").split("(", 1)[0].rsplit(".", 1)[-1] or _call_name(call)
    index = _arg_index(layer_type, fix.field)
    value = repr(fix.value)
    target: ast.expr | None = None
    if index is not None and index < len(call.args) and \
            not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        target = call.args[index]
    target = next((k.value for k in call.keywords if k.arg == fix.field), target)
    starts, data = _offsets(source), source.encode()
    if target is not None:
        if cls is not None and root != cls.name and _names_params(cls) & {
                n.id for n in ast.walk(target) if isinstance(n, ast.Name)}:
            raise CodeError(f"{fix.attr} takes its {fix.field} from a parameter of {cls.name}: change "
                            f"the {cls.name}(...) call that passes it, to {fix.value}.", target.lineno)
        a = starts[target.lineno - 1] + target.col_offset
        b = starts[target.end_lineno - 1] + target.end_col_offset
        return (data[:a] + value.encode() + data[b:]).decode()
    end = starts[call.end_lineno - 1] + call.end_col_offset - 1       # the closing parenthesis
    sep = ", " if (call.args or call.keywords) else ""
    inner = data[:end].rstrip()
    if inner.endswith(b","):
        sep = " "
    return (inner + f"{sep}{fix.field}={value}".encode() + data[end:]).decode()


def static_modules(p: Parsed) -> list[str]:
    """The classes that are ``nn.Module`` subclasses as far as the text tells: a base named
    ``Module`` (``nn.Module``, ``torch.nn.Module``), ``Sequential``, ``ModuleList`` or an
    earlier such class, or a ``forward`` method."""
    out: list[str] = []
    for name, c in p.classes.items():
        bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in c.bases}
        has_forward = any(isinstance(n, ast.FunctionDef) and n.name == "forward" for n in c.body)
        if has_forward or bases & {"Module", "Sequential", "ModuleList", *out}:
            out.append(name)
    return out


def _names_params(cls: ast.ClassDef) -> set[str]:
    """The parameters of ``cls.__init__`` (other than self)."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return set()
    a = init.args
    return {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]} - {"self"}
