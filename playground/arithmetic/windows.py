"""Where the sliding windows land along one dimension: the rows each window reads, and the rows no
window ever reads (their values cannot influence the output, and no gradient reaches them).

For a transposed convolution it is the other way round: each *input* row writes to a few output
rows, and some output rows may receive nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from playground.arithmetic.sizes import output_size, side_pads


def window_starts(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
                  dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False) -> list[int]:
    """Where each window starts, in input coordinates (negative = in the padding before)."""
    if kind == "transposed":
        raise ValueError("A transposed convolution has no sliding windows over its input.")
    out = output_size(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode)
    stride = kernel if stride is None else stride
    before, _ = side_pads(padding, kernel, dilation)
    return [i * stride - before for i in range(out)]


def window_taps(start: int, kernel: int, dilation: int = 1) -> list[int]:
    """The rows (or columns) one window reads: ``start, start+d, ..., start+d*(k-1)``."""
    return [start + j * dilation for j in range(kernel)]


def uncovered(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
              dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False) -> list[int]:
    """Input rows (or columns) that no window ever reads: the ones the floor drops at the end, and
    the gaps when the stride is larger than the kernel or the dilation leaves holes."""
    seen = set()
    for s in window_starts(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode):
        seen.update(window_taps(s, kernel, dilation))
    return [i for i in range(size) if i not in seen]


@dataclass
class Windows:
    """Where the windows land along one dimension, ready to draw.

    Conv and pooling: one entry of ``taps`` per window (per output cell), the input rows it reads
    (negative or past ``size`` = padding, ``pads`` wide); ``uncovered`` are the input rows no window
    reads. Transposed conv: one entry per *input* row, the output rows it writes to (``0`` to
    ``out_size - 1``); ``uncovered`` are the output rows nothing writes to."""
    transposed: bool
    size: int
    out_size: int
    taps: list[list[int]]
    pads: tuple[int, int]
    uncovered: list[int]


def windows_along(size: int, kernel: int, stride: int | None = 1, padding: int | str = 0,
            dilation: int = 1, *, kind: str = "conv", ceil_mode: bool = False,
            output_padding: int = 0) -> Windows:
    """:class:`Windows` for one dimension; takes the arguments of :func:`output_size` (so one of
    ``Layer.dims()`` fits) and raises its ``ValueError`` where PyTorch refuses the layer."""
    out = output_size(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode,
                      output_padding=output_padding)
    if kind != "transposed":
        starts = window_starts(size, kernel, stride, padding, dilation, kind=kind, ceil_mode=ceil_mode)
        taps = [window_taps(s, kernel, dilation) for s in starts]
        read = {t for row in taps for t in row}
        return Windows(False, size, out, taps, side_pads(padding, kernel, dilation),
                       [i for i in range(size) if i not in read])
    taps, written = [], set()
    for i in range(size):
        rows = window_taps(i * stride - padding, kernel, dilation)
        inside = [t for t in rows if 0 <= t < out]
        written.update(inside)
        # a row whose every write the padding trims away is drawn as one dot at the nearest edge
        taps.append(inside or [max(0, min(rows[0], out - 1))])
    return Windows(True, size, out, taps, (0, 0), [t for t in range(out) if t not in written])
