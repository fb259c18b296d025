"""PyTorch source a learner pastes: load it, trace it, fix it in the source, train it.

    >>> from playground import code
    >>> module = code.load_module(source)                  # nn.Module, built under a time limit
    >>> t = code.trace_source(source, (1, 28, 28))         # the summary, as for any network
    >>> t.summary.error.fix                                 # Fix(attr="fc", code="nn.Linear(9216, 10)", ...)
    >>> fixed = code.apply_fix(source, t.summary.error.fix) # that one argument rewritten
    >>> print(code.diff(source, fixed))
    >>> code.code_allowed("127.0.0.1")                      # (True, "... this computer only ...")

Rooms: :mod:`.loader` (what runs, which class, errors with line numbers), :mod:`.guard` (the
time limit), :mod:`.fix` (fixes written into the source), :mod:`.network` (code specs: trace,
train, checkpoints), :mod:`.safety` (the switch).
"""
from .fix import apply_fix, diff
from .guard import BUILD_SECONDS, SOURCE_NAME
from .loader import CodeError, Loaded, load, load_module
from .network import EXAMPLE, Traced, build_for_data, code_spec, is_code_spec, rebuild, suggest_input_shape, trace_source
from .safety import ENV, code_allowed, is_loopback

__all__ = ["BUILD_SECONDS", "ENV", "EXAMPLE", "SOURCE_NAME", "CodeError", "Loaded", "Traced", "apply_fix",
           "build_for_data", "code_allowed", "code_spec", "diff", "is_code_spec", "is_loopback",
           "load", "load_module", "rebuild", "suggest_input_shape", "trace_source"]
