"""Conv arithmetic's "where the windows land" as a small inline SVG: one line per window, its taps
as dots, padding shaded grey and never-read cells red.

Measured with bench/bench_feel.py (headless chromium, 2-core machine): the two plotly charts this
replaces were most of a knob's round trip on the page: chromium laid both out again after each
rerun (~100 ms after the server's last message). An SVG string of the same picture is a few kB,
built in well under a millisecond, and the browser draws it like text. Each window is a
``<g class="win" data-taps="...">`` whose ``<title>`` is the hover text, so tests (and a reader
of the page's source) see exactly which rows each window reads.
"""
from __future__ import annotations

import math

from playground.arithmetic import Windows

WIDTH = 300                           # viewBox units; the SVG scales to its column
LEFT, RIGHT, TOP, BOTTOM = 34, 6, 20, 36
MAX_PLOT_H = 240                      # the rows of windows share at most this height
MIN_PLOT_H = 70                       # and at least this (a few windows get taller rows)
ROW_H = 14                            # one window's row when there are few
DETAILED = 64                         # up to this many windows, each its own group with a hover text
PAD_FILL, UNCOVERED_FILL, UNCOVERED_LINE = "#dee2e6", "#ffd8d8", "#c92a2a"
LINE, DOT = "#748ffc", "#3b5bdb"
CSS = (".ca-win svg{width:100%;height:auto;display:block;font-family:sans-serif}"
       ".ca-win text{fill:#495057;font-size:11px}.ca-win .ax{font-size:12px;fill:#343a40}"
       ".ca-win .win:hover path{stroke:#f08c00}")


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _ticks(lo: int, hi: int, most: int) -> range:
    step = max(1, math.ceil((hi - lo + 1) / most))
    first = lo + (-lo) % step                  # ticks on multiples of the step (0 included)
    return range(first, hi + 1, step)


def windows_svg(w: Windows, axis: str = "rows") -> str:
    """The windows of one dimension (``axis``: "rows" or "columns") as an SVG element.

    Conv and pooling: one line per window (output cell) over the input's cells, padding included.
    Transposed conv (``w.transposed``): one line per input cell over the output cells it writes."""
    one = axis[:-1]
    who = f"input {one}" if w.transposed else "window"
    lo, hi = (0, w.out_size - 1) if w.transposed else (-w.pads[0], w.size + w.pads[1] - 1)
    n, cells = len(w.taps), hi - lo + 1
    cw = (WIDTH - LEFT - RIGHT) / cells
    rh = min(max(ROW_H, MIN_PLOT_H / max(n, 1)), MAX_PLOT_H / max(n, 1))
    plot_h = rh * n
    height = TOP + plot_h + BOTTOM
    x = lambda c: LEFT + (c - lo + 0.5) * cw          # noqa: E731 - a cell's centre
    y = lambda i: TOP + (i + 0.5) * rh                # noqa: E731
    dot = _num(max(2.0, min(9.0, 0.75 * rh, 0.75 * cw)))
    parts = [f"<svg viewBox='0 0 {WIDTH} {_num(height)}' xmlns='http://www.w3.org/2000/svg' role='img' "
             f"aria-label='{n} {who}s along the {one}s'>"]
    if not w.transposed:
        for a, b, where in ((lo, -1, "start"), (w.size, hi, "end")):
            if b >= a:
                parts.append(f"<rect x='{_num(x(a) - cw / 2)}' y='{TOP}' width='{_num((b - a + 1) * cw)}' "
                             f"height='{_num(plot_h)}' fill='{PAD_FILL}'/>")
                parts.append(f"<text x='{_num(x(a) - cw / 2 if where == 'start' else x(b) + cw / 2)}' y='{TOP - 6}' "
                             f"text-anchor='{where}'>padding</text>")
    for u in w.uncovered:
        parts.append(f"<rect class='never' data-cell='{u}' x='{_num(x(u) - cw / 2)}' y='{TOP}' width='{_num(cw)}' "
                     f"height='{_num(plot_h)}' fill='{UNCOVERED_FILL}' stroke='{UNCOVERED_LINE}' stroke-width='0.5'/>")
    parts.append("<g stroke-linecap='round' fill='none'>")
    line_w = _num(max(1.0, float(dot) / 3))
    verb = "writes to output" if w.transposed else "reads"
    if n <= DETAILED:
        for i, taps in enumerate(w.taps):
            yi = _num(y(i))
            parts.append(f"<g class='win' data-taps='{' '.join(map(str, taps))}'><title>{who} {i} {verb} {one}s "
                         f"{', '.join(map(str, taps))}</title>"
                         f"<path d='M{_num(x(taps[0]))} {yi}H{_num(x(taps[-1]))}' stroke='{LINE}' stroke-width='{line_w}'/>"
                         f"<path d='{''.join(f'M{_num(x(t))} {yi}h0' for t in taps)}' stroke='{DOT}' "
                         f"stroke-width='{dot}'/></g>")
    else:                                  # too many to hover one by one: two paths, a few kB
        lines = "".join(f"M{x(t[0]):.0f} {y(i):.0f}H{x(t[-1]):.0f}" for i, t in enumerate(w.taps))
        dots = "".join(f"M{x(c):.0f} {y(i):.0f}h0" for i, t in enumerate(w.taps) for c in t)
        parts.append(f"<path d='{lines}' stroke='{LINE}' stroke-width='{line_w}'/>"
                     f"<path d='{dots}' stroke='{DOT}' stroke-width='{dot}'/>")
    parts.append("</g>")
    base = TOP + plot_h
    for c in _ticks(lo, hi, 10):
        parts.append(f"<text x='{_num(x(c))}' y='{_num(base + 14)}' text-anchor='middle'>{c}</text>")
    for i in _ticks(0, n - 1, 6):
        parts.append(f"<text x='{LEFT - 6}' y='{_num(y(i) + 4)}' text-anchor='end'>{i}</text>")
    where = "output" if w.transposed else "input"
    parts.append(f"<text class='ax' x='{_num(LEFT + (WIDTH - LEFT - RIGHT) / 2)}' y='{_num(height - 6)}' "
                 f"text-anchor='middle'>{where} {one}"
                 + ("  (red: never covered)" if w.uncovered else "") + "</text>")
    parts.append(f"<text class='ax' transform='translate(10 {_num(TOP + plot_h / 2)}) rotate(-90)' "
                 f"text-anchor='middle'>{who}</text></svg>")
    return f"<div class='ca-win'>{''.join(parts)}</div>"
