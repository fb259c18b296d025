"""PyTorch source as a learner pastes it from a notebook, loaded into an ``nn.Module``.

    >>> m = load_module(source)                    # the network class, built with no arguments
    >>> info = load(source, "SimpleCNN")           # the module and what was decided, in words

What runs: the top-level imports, class and function definitions and plain constants
(``NUM_CLASSES = 10``); anything else a notebook cell holds (``model = SimpleCNN()``, a training
loop, ``print(model)``) is skipped and listed in :attr:`Loaded.notes`. The network is, in order:
the class named ``class_name``; else the last ``nn.Module`` class that no other class (nor an
``nn.Sequential(...)`` expression) uses; else the last ``nn.Sequential(...)`` expression (bare or
assigned, ``model = nn.Sequential(...)``). It is built with no arguments under the time limit of
:mod:`.guard`. Every failure is a :class:`CodeError` whose message names the line.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import traceback
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from .guard import BUILD_SECONDS, SOURCE_NAME, run_limited

MAX_SOURCE_BYTES = 200_000      # a notebook's network cell is a few KB; this is a paste gone wrong
SEQUENTIAL = "nn.Sequential"    # the choice label of a bare nn.Sequential(...) expression


class CodeError(ValueError):
    """Pasted code that cannot give a network; ``line`` (1-based) where it applies."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"Line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass
class Loaded:
    module: nn.Module
    name: str                       # the class (or the Sequential's variable) that was built
    choices: list[str]              # every network the source offers, in source order
    notes: list[str] = field(default_factory=list)   # what was decided or skipped, in words


@dataclass
class Parsed:
    """What the source offers, found statically."""
    tree: ast.Module
    classes: dict[str, ast.ClassDef]                   # every top-level class, in order
    sequentials: dict[str, ast.expr]                   # name -> the nn.Sequential(...) call
    used: set[str]                                     # names used inside classes / expressions
    kept: list[ast.stmt]                               # the statements that run
    notes: list[str]


def _call_name(node: ast.AST) -> str:
    """``nn.Sequential(...)`` -> 'Sequential'; ``Net()`` -> 'Net'."""
    f = node.func if isinstance(node, ast.Call) else None
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _is_constant(node: ast.expr) -> bool:
    """Literals and arithmetic on names: ``10``, ``16 * 5 * 5``, ``(1, 28, 28)``, ``H // 4``."""
    return all(isinstance(n, (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List,
                              ast.operator, ast.unaryop, ast.Load, ast.expr_context))
               for n in ast.walk(node))


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def parse(source: str) -> Parsed:
    """The source's classes, Sequential expressions and runnable statements; CodeError for text
    that is not Python."""
    if not source or not source.strip():
        raise CodeError("There is no code: paste an nn.Module class (with __init__ and forward) "
                        "or an nn.Sequential(...) expression.")
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise CodeError(f"The code is {len(source.encode()):,} bytes; the limit is "
                        f"{MAX_SOURCE_BYTES:,}. Paste only the network's classes.")
    try:
        tree = ast.parse(source, filename=SOURCE_NAME)
    except SyntaxError as e:
        raise CodeError(f"this is not valid Python: {e.msg}.", e.lineno) from None
    p = Parsed(tree, {}, {}, set(), [], [])
    skipped: list[str] = []
    for st in tree.body:
        if isinstance(st, (ast.Import, ast.ImportFrom, ast.FunctionDef)):
            p.kept.append(st)
        elif isinstance(st, ast.ClassDef):
            p.kept.append(st)
            p.classes[st.name] = st
        elif isinstance(st, (ast.Assign, ast.Expr)) and _call_name(st.value) == "Sequential":
            target = st.targets[-1] if isinstance(st, ast.Assign) else None
            p.sequentials[target.id if isinstance(target, ast.Name) else SEQUENTIAL] = st.value
        elif isinstance(st, (ast.Assign, ast.AnnAssign)) and st.value is not None \
                and _is_constant(st.value):
            p.kept.append(st)
        else:
            first = (ast.get_source_segment(source, st) or "").splitlines()[0][:60]
            skipped.append(f"line {st.lineno} `{first}`")
    if skipped:
        p.notes.append(f"Not run (only imports, classes, functions and constants are): "
                       f"{', '.join(skipped)}.")
    for name, cls in p.classes.items():
        p.used |= _names(cls) - {name}
    for expr in p.sequentials.values():
        p.used |= _names(expr)
    return p


def pick(names: list[str], used: set[str], sequentials: list[str], class_name: str | None) -> str:
    """The network to build: ``class_name``; else the last module class nobody uses; else the
    last Sequential expression. ``names``: the module classes, in source order."""
    choices = [*names, *sequentials]
    if class_name:
        if class_name not in choices:
            raise CodeError(f"There is no network called {class_name!r} in the code; found: "
                            f"{', '.join(choices) or 'none'}.")
        return class_name
    top = [n for n in names if n not in used]
    if top:
        return top[-1]
    if sequentials:
        return sequentials[-1]
    if names:
        return names[-1]
    raise CodeError("No nn.Module found: paste a class that subclasses nn.Module (with __init__ "
                    "and forward), or an nn.Sequential(...) expression.")


def error_line(exc: BaseException) -> int | None:
    """The last line of pasted code in ``exc``'s traceback (SyntaxErrors carry their own)."""
    if isinstance(exc, SyntaxError) and exc.filename == SOURCE_NAME:
        return exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SOURCE_NAME]
    return frames[-1].lineno if frames else None


def _run(fn, what: str, seconds: float):
    """``fn()`` under the time limit; its failures as CodeErrors naming the line."""
    out = run_limited(fn, seconds)
    if out.overtime:
        where = f" (it was at line {out.line})" if out.line else ""
        raise CodeError(f"{what} did not finish within {seconds:g} s{where}. Does it loop forever?",
                        out.line)
    if out.error is not None:
        e = out.error
        if isinstance(e, CodeError):
            raise e
        raise CodeError(f"{what} failed: {type(e).__name__}: {e}", error_line(e)) from None
    return out.value


def _check_class(cls: type, node: ast.ClassDef) -> None:
    """A class the app can build: ``cls()`` with no arguments, and a forward of its own."""
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), node)
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    need = [p.name for p in sig.parameters.values() if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if need:
        args = ", ".join(need)
        example = ", ".join(f"{n}=..." for n in need)
        raise CodeError(f"{cls.__name__}'s constructor needs the argument{'s' * (len(need) > 1)} "
                        f"{args}. Give each a default value (def __init__(self, {example})) so the "
                        f"app can build it as {cls.__name__}().", init.lineno)
    if cls.forward is nn.Module.forward:
        raise CodeError(f"{cls.__name__} has no forward method: an nn.Module needs "
                        f"def forward(self, x) that returns the output.", node.lineno)


def load(source: str, class_name: str | None = None, *, seconds: float = BUILD_SECONDS) -> Loaded:
    """Load the network in ``source`` (see the module's docstring); raises :class:`CodeError`."""
    p = parse(source)
    body = ast.Module(body=p.kept, type_ignores=[])
    namespace: dict = {"__name__": "playground_pasted_code", "__builtins__": builtins}
    try:
        compiled = compile(body, SOURCE_NAME, "exec")
    except SyntaxError as e:
        raise CodeError(f"this is not valid Python: {e.msg}.", e.lineno) from None
    _run(lambda: exec(compiled, namespace), "Running the code", seconds)  # noqa: S102 - the point
    modules = [n for n in p.classes if isinstance(namespace.get(n), type)
               and issubclass(namespace[n], nn.Module)]
    if p.classes and not modules and not p.sequentials:
        first = next(iter(p.classes.values()))
        raise CodeError(f"No nn.Module found: {', '.join(p.classes)} do not subclass nn.Module. "
                        f"Write class {first.name}(nn.Module):", first.lineno)
    name = pick(modules, p.used, list(p.sequentials), class_name)
    notes = list(p.notes)
    choices = [*modules, *p.sequentials]
    if len(choices) > 1 and not class_name:
        notes.insert(0, f"The code defines {', '.join(choices)}; showing {name}, the last one no "
                        f"other uses. Pick another in the list.")
    if name in p.sequentials:
        expr = compile(ast.Expression(p.sequentials[name]), SOURCE_NAME, "eval")
        module = _run(lambda: eval(expr, namespace), "Building the nn.Sequential", seconds)  # noqa: S307
    else:
        cls = namespace[name]
        _check_class(cls, p.classes[name])
        module = _run(cls, f"Building {name}()", seconds)
    if not isinstance(module, nn.Module):
        raise CodeError(f"{name} did not give an nn.Module but a {type(module).__name__}.")
    return Loaded(module, name, choices, notes)


def load_module(source: str, class_name: str | None = None, *,
                input_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """The ``nn.Module`` the pasted ``source`` defines (see :func:`load`), built with no
    arguments under a time limit. With ``input_shape`` (C, H, W), lazy layers
    (``nn.LazyLinear``) get their sizes from one forward of zeros."""
    module = load(source, class_name).module
    if input_shape is not None:
        materialize(module, tuple(input_shape))
    return module


def materialize(module: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Give lazy layers their sizes with one forward of zeros (a no-op without lazy layers)."""
    if not any(isinstance(m, LazyModuleMixin) for m in module.modules()):
        return
    device = next((b.device for b in module.buffers()), torch.get_default_device())
    was_training = module.training

    def forward():
        with torch.no_grad():
            module.eval()(torch.zeros((1, *input_shape), device=device))
    try:
        _run(forward, "Sizing the lazy layers with one forward", BUILD_SECONDS)
    finally:
        module.train(was_training)
