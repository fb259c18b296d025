"""Per-layer trace of a network on the ``meta`` device: shapes, parameters, MACs, receptive
fields, activation memory, and shape errors explained with a fix.

    >>> s = summarize(spec_or_module, (3, 32, 32))
    >>> s.rows[0].output_shape, s.total_macs, s.error

- :mod:`.trace`: the one meta-device tracer (:func:`summarize`, FLOPs through our own module
  stack with :func:`~.trace.flop_counter`).
- :mod:`.receptive`: receptive fields and jumps propagated through the dataflow.
- :mod:`.errors`: :class:`ShapeError`, :class:`Fix`, failures explained, :func:`apply_fix`.
- :mod:`.results`: :class:`Row`, :class:`Summary`, :class:`ModuleOutput`.
- :mod:`.conventions`: what the MACs count, and torchinfo's count beside them.
"""
from .conventions import torchinfo_macs
from .errors import Fix, ShapeError, apply_fix
from .results import ModuleOutput, Row, Summary, fc_comparison
from ..flops import flop_counter
from .trace import summarize

__all__ = ["Row", "Fix", "ShapeError", "Summary", "ModuleOutput", "summarize", "apply_fix",
           "fc_comparison", "flop_counter", "torchinfo_macs"]
