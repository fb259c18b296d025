"""A time limit for running pasted code: building the module, and its ``forward`` while traced.

Pasted code runs in this process (the module it builds is used here: traced, trained, saved), in
a worker thread with a *line tracer* on the pasted file only (``sys.settrace``; frames of torch
and of this app are not traced, so their speed is untouched). Past the deadline the tracer raises
:class:`Overtime` at the next line of the learner's code, which ends a ``while True:`` loop within
milliseconds (tests/unit/test_code.py). The trade-off, decided here:

- a subprocess could be killed at any point, but the module it builds cannot come back (its class
  exists only in that process), so the code would run twice, and a fresh ``python -c "import
  torch"`` costs 1.6 s on this 2-core machine, on every trace;
- the tracer stops any loop written in Python, but not one long C call (``torch.randn(10**5,
  10**5)``): then the caller stops waiting at the deadline, says so, and the thread is left to
  finish that call (the tracer ends it at its next Python line). A ``except BaseException`` or a bare
  ``except:`` around the loop can swallow :class:`Overtime`; the caller still returns at the
  deadline.

The limit guards against mistakes, not malice: code that means harm can switch the tracer off.
That is why pasted code runs only where :func:`playground.code.code_allowed` says so.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

import torch

SOURCE_NAME = "<your code>"     # the file name pasted code is compiled under (tracebacks say it)
# Measured on this 2-core CPU: a class of 40 conv+BN+ReLU blocks builds in 14 ms plainly and in
# 32 ms through load() (parse, exec, the tracer); a `while True:` stops 1 ms after its limit.
# 10 s leaves room for a slow machine and big layers, and stops a mistake soon enough.
BUILD_SECONDS = 10.0
GRACE_SECONDS = 0.5             # how long the caller waits past the deadline for the tracer to act


class Overtime(BaseException):
    """Raised inside pasted code past its deadline (a BaseException: ``except Exception`` in the
    learner's code does not swallow it)."""


class Outcome:
    """What a limited call did: its ``value`` or ``error``, whether it ran out of ``time``, and
    the last ``line`` of pasted code it ran."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.overtime = False
        self.line: int | None = None


def run_limited(fn: Callable[[], Any], seconds: float = BUILD_SECONDS,
                filename: str = SOURCE_NAME) -> Outcome:
    """Call ``fn()`` in a worker thread; lines of code compiled as ``filename`` stop with
    :class:`Overtime` after ``seconds``. The caller's default device (``with
    torch.device("meta")``) carries over to the worker. Never raises: see :class:`Outcome`."""
    out = Outcome()
    deadline = time.monotonic() + seconds
    device = torch.get_default_device()

    def local(frame, event, arg):            # per line of pasted code only
        out.line = frame.f_lineno
        if time.monotonic() > deadline:
            out.overtime = True
            raise Overtime()
        return local

    def on_call(frame, event, arg):          # every new frame: trace only the pasted file's
        return local if frame.f_code.co_filename == filename else None

    def work() -> None:
        sys.settrace(on_call)
        try:
            with torch.device(device):
                out.value = fn()
        except Overtime:
            out.overtime = True
        except BaseException as e:  # noqa: BLE001 - handed to the caller, explained there
            out.error = e
        finally:
            sys.settrace(None)

    worker = threading.Thread(target=work, name="pasted-code", daemon=True)
    worker.start()
    worker.join(seconds + GRACE_SECONDS)
    if worker.is_alive():                    # stuck in one C call: stop waiting, say so
        out.overtime, out.value = True, None
    return out
