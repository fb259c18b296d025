"""FLOPs from ``torch.utils.flop_counter``, without its process-wide module hooks.

``FlopCounterMode`` attributes FLOPs to modules through a ``ModuleTracker`` that registers
*global* forward hooks on every module of the process: they would also fire in a training
thread running beside the page and mix its modules into the count. :func:`flop_counter` swaps in
a tracker that reports only the module stack the caller keeps (the summary's tracer) or just
"Global" (one layer). The attribute it swaps (``mod_tracker``) is not documented by torch:
``tests/unit/test_summary.py`` pins the totals to torchvision's published figures so a torch
update that changes it fails loudly.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from torch.utils.flop_counter import FlopCounterMode


class _Parents:
    """Stands in for FlopCounterMode's ``ModuleTracker``: ``parents`` is "Global" plus the
    module names the caller's stack holds at each operation."""

    def __init__(self, parents: Callable[[], Iterable[str]]):
        self._parents = parents

    @property
    def parents(self) -> set[str]:
        return {"Global", *self._parents()}

    def __enter__(self) -> "_Parents":
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def flop_counter(parents: Callable[[], Iterable[str]] = lambda: ()) -> FlopCounterMode:
    """A ``FlopCounterMode`` (a context manager) that counts under ``"Global"`` and the module
    names ``parents()`` returns at each operation, and installs no global module hooks.
    ``get_total_flops()`` / ``get_flop_counts()`` read the result; MACs are FLOPs / 2."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _Parents(parents)
    return counter
