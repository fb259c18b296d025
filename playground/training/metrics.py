"""Each training step's line in metrics.jsonl without a host sync each step on CUDA.

Reading a step's loss as a Python number (``float(loss)``) waits for the GPU to finish the step:
on a GPU that wait costs about a whole small step, every step, and leaves the GPU idle while the
host prepares the next one. :class:`StepRecords` keeps the lines of the steps not yet read
(their loss still a tensor on the device; lr and images are host numbers already, read without a
sync) and, every :data:`READ_EVERY_S` seconds, copies their losses in one ``non_blocking`` copy
into pinned host memory behind a CUDA event. The lines are handed back, in order and in the same
format, once that event has completed: the live view runs at most ~half a second behind.

On the CPU (and MPS) it reads each loss at once, as before: a sync is free there. The deferred
mode is device-agnostic (``deferred=True`` on the CPU runs the same code, with no event), so the
unit tests exercise it here (tests/unit/test_async_metrics.py).

A loss that is NaN or infinite is found when its line is read: at once in the eager mode, at most
one read interval (plus the copy) late in the deferred mode. :attr:`StepRecords.blown` is then
that step's line; the lines after it are dropped and the loop stops with :func:`blew_up_message`.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch

# The deferred losses are read this often: a few times a second is all a live curve needs.
READ_EVERY_S = 0.5
# ... or once this many steps wait, whichever comes first (bounds the tensors held).
MAX_PENDING = 1024


def blew_up_message(loss: float, step: int, epoch: int, lr: float) -> str:
    """What the learner reads when the loss of ``step`` (in 1-based ``epoch``) is not finite."""
    return (f"The loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step} (epoch "
            f"{epoch}), so training stopped. The learning rate ({lr:.3g}) is probably too high: "
            "lower it or turn on gradient clipping.")


@dataclass
class _Copy:
    """Losses on their way to the host: ``host`` is complete once ``fence`` has (None: at once)."""
    fence: Any
    host: torch.Tensor
    lines: list[dict]


class StepRecords:
    """The step lines of a run, read eagerly (each loss a Python number at once) or deferred (read
    in batches behind a CUDA event). ``deferred``: None = on CUDA only (:attr:`DEFERRED_ON`)."""

    DEFERRED_ON = ("cuda",)   # device types whose losses are read in batches

    def __init__(self, device: torch.device, deferred: bool | None = None, every: float | None = None):
        self.device = device
        self.deferred = device.type in self.DEFERRED_ON if deferred is None else deferred
        self.every = READ_EVERY_S if every is None else every
        self.pending: list[tuple[dict, torch.Tensor]] = []   # (line without its loss, the loss on the device)
        self.in_flight: deque[_Copy] = deque()
        self.last_read = time.monotonic()
        self.blown: dict | None = None       # the first line whose loss is not finite

    def add(self, line: dict, loss: torch.Tensor | float) -> list[dict]:
        """One step's ``line`` (every field but "loss") and its loss; the lines ready now, in order."""
        if not self.deferred:
            return self._ready([(line, float(loss))])
        self.pending.append((line, loss.detach()))
        ready = self._collect(block=False)
        if self.blown is None and (len(self.pending) >= MAX_PENDING
                                   or time.monotonic() - self.last_read >= self.every):
            self._start_copy()
        return ready

    def drain(self) -> list[dict]:
        """Every line not handed back yet (waits for the device): at an epoch's end or a stop."""
        if self.pending and self.blown is None:
            self._start_copy()
        return self._collect(block=True)

    def _start_copy(self) -> None:
        """The pending losses, stacked on the device, copied to pinned host memory without waiting."""
        lines = [line for line, _ in self.pending]
        losses = torch.stack([loss.float().reshape(()) for _, loss in self.pending])   # (n,)
        self.pending, self.last_read = [], time.monotonic()
        if self.device.type != "cuda":
            self.in_flight.append(_Copy(None, losses.cpu(), lines))
            return
        host = torch.empty(losses.shape, dtype=losses.dtype, pin_memory=True)
        host.copy_(losses, non_blocking=True)
        fence = torch.cuda.Event()
        fence.record(torch.cuda.current_stream(losses.device))   # the copy's stream, after the copy
        self.in_flight.append(_Copy(fence, host, lines))

    def _collect(self, block: bool) -> list[dict]:
        """The lines of the copies that have landed (all of them when ``block``), in order."""
        ready: list[dict] = []
        while self.in_flight and self.blown is None:
            c = self.in_flight[0]
            if c.fence is not None:
                if not block and not c.fence.query():
                    break
                c.fence.synchronize()
            self.in_flight.popleft()
            ready += self._ready(list(zip(c.lines, c.host.tolist())))
        if self.blown is not None:       # nothing after a non-finite loss is written
            self.pending.clear()
            self.in_flight.clear()
        return ready

    def _ready(self, pairs: list[tuple[dict, float]]) -> list[dict]:
        """The lines with their losses, up to and including the first non-finite one."""
        out = []
        for line, loss in pairs:
            line["loss"] = loss
            out.append(line)
            if not math.isfinite(loss):
                self.blown = line
                break
        return out
