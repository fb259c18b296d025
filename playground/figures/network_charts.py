"""The inspector's two charts as inline SVG: weight sharing in numbers (one dense layer beside the
whole network and its first conv) and the receptive field growing layer by layer.

Data in (a :class:`playground.summary.Summary`), an ``<svg>`` string out, like the block diagram
(``network.diagram_svg``). As plotly charts both were drawn again by chromium after every knob of
the page (a changing plotly chart costs 50-110 ms of a round trip there, measured with
bench/bench_feel.py); as SVG text the browser lays them out like a paragraph. Every bar and point
is a ``<g>`` whose ``<title>`` is its hover text and whose ``data-*`` attributes hold its numbers,
so tests (and a reader of the page's source) read exactly what is drawn.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

from ..summary import Summary, fc_comparison
from .network import COLORS

WIDTH = 460                     # viewBox units: about the px of its half-page column
DETAILED = 200                  # up to this many points, each its own group with a hover text
CSS = ("<style>.net-pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem 2rem}"
       "@media (max-width:640px){.net-pair{grid-template-columns:1fr}}"
       ".net-chart svg{width:100%;height:auto;display:block;font-family:sans-serif}"
       ".net-chart text{fill:#31333f;font-size:13px}.net-chart .ax{font-size:14px}"
       ".net-chart .bar:hover rect,.net-chart .pt:hover circle{stroke:#f08c00;stroke-width:3}</style>")


@dataclass(frozen=True)
class Bar:
    title: str                  # escaped text
    sub: str
    value: int
    unit: str                   # "weights" or "parameters"
    kind: str                   # a key of COLORS


def _esc(s: object) -> str:
    return html.escape(str(s))


def _clip(name: str, most: int = 24) -> str:
    """A name that fits left of the bars (escaped; the bar's hover text is its count)."""
    return _esc(name if len(name) <= most else name[:most - 1] + "…")


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def fc_bars(summary: Summary) -> list[Bar]:
    """One dense layer on the same input (the flattened image to ``fc_comparison``'s units), the
    whole network, and its first conv layer (when it has one): weight sharing, in numbers."""
    c, h, w = summary.input_shape
    dense = fc_comparison(summary.input_shape)
    bars = [Bar("One dense layer", f"{h}x{w}x{c} -> {dense // (c * h * w):,}", dense, "weights", "fc"),
            Bar("The whole network", _clip(summary.name), summary.total_params, "parameters", "block")]
    first_conv = next((r for r in summary.rows if r.type == "Conv2d"), None)
    if first_conv is not None:
        bars.append(Bar("Its first conv layer", _clip(first_conv.name), first_conv.params, "weights", "conv"))
    return bars


def _short(v: float) -> str:
    """1000 -> '1k', 10**6 -> '1M': the log axis's tick labels."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            return f"{v / size:g}{unit}"
    return f"{v:g}"


def fc_comparison_svg(summary: Summary) -> str:
    """:func:`fc_bars` as horizontal bars on a log axis, each labelled with its count."""
    bars = fc_bars(summary)
    left, right, top, row = 170, 18, 10, 78
    plot_w, plot_h = WIDTH - left - right, row * len(bars)
    top_exp = math.log10(max([b.value for b in bars] + [10])) + 0.3
    x = lambda v: left + plot_w * (math.log10(v) / top_exp if v >= 1 else 0)   # noqa: E731
    height = top + plot_h + 44
    parts = [f"<svg viewBox='0 0 {WIDTH} {height}' xmlns='http://www.w3.org/2000/svg' role='img' "
             "aria-label='parameters: one dense layer, the network, its first conv'>"]
    for e in range(int(top_exp) + 1):
        xe = _num(x(10 ** e))
        parts.append(f"<line x1='{xe}' y1='{top}' x2='{xe}' y2='{top + plot_h}' stroke='#e6e9ef'/>"
                     f"<text x='{xe}' y='{top + plot_h + 16}' text-anchor='middle'>{_short(10 ** e)}</text>")
    for i, b in enumerate(bars):
        y = top + i * row
        parts.append(f"<g class='bar' data-value='{b.value}' data-kind='{b.kind}'>"
                     f"<title>{b.title}: {b.value:,} {b.unit}</title>"
                     f"<rect x='{left}' y='{y + 12}' width='{_num(x(b.value) - left)}' height='{row - 24}' "
                     f"fill='{COLORS[b.kind]}'/>"
                     f"<text x='{left - 8}' y='{y + 24}' text-anchor='end' font-weight='700'>{b.title}</text>"
                     f"<text x='{left - 8}' y='{y + 42}' text-anchor='end'>{b.sub}</text>"
                     f"<text x='{left - 8}' y='{y + 60}' text-anchor='end'>{b.value:,} {b.unit}</text></g>")
    parts.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#8a8f98'/>"
                 f"<text class='ax' x='{left + plot_w / 2:.0f}' y='{height - 6}' text-anchor='middle'>"
                 "parameters (log scale)</text></svg>")
    return f"<div class='net-chart' data-testid='net-fc'>{''.join(parts)}</div>"


def _nice_step(hi: float, most: int = 6) -> float:
    raw = max(hi, 1) / most
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def receptive_field_svg(summary: Summary) -> str:
    """Each layer's receptive field (input pixels, along the height) in execution order, with the
    input height dashed for reference; a point's hover text names the layer and its jump."""
    rows = [r for r in summary.rows if r.output_shape is not None]
    in_h = summary.input_shape[1]
    left, right, top, bottom, height = 56, 12, 24, 46, 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    step = _nice_step(max([r.rf for r in rows] + [in_h]) * 1.05)
    y_hi = step * math.ceil(max([r.rf for r in rows] + [in_h]) * 1.05 / step)
    n = max(len(rows), 1)
    x = lambda i: left + plot_w * ((i + 0.5) / n)              # noqa: E731 - layer i (0-based)
    y = lambda v: top + plot_h * (1 - v / y_hi)                # noqa: E731
    parts = [f"<svg viewBox='0 0 {WIDTH} {height}' xmlns='http://www.w3.org/2000/svg' role='img' "
             f"aria-label='receptive field of {len(rows)} layers'>"]
    for k in range(int(round(y_hi / step)) + 1):
        yk = _num(y(k * step))
        parts.append(f"<line x1='{left}' y1='{yk}' x2='{WIDTH - right}' y2='{yk}' stroke='#e6e9ef'/>"
                     f"<text x='{left - 6}' y='{_num(float(yk) + 4)}' text-anchor='end'>{k * step:,g}</text>")
    x_step = max(1, int(_nice_step(n, 8)))
    for i in range(x_step if n > 10 else 1, n + 1, x_step):
        parts.append(f"<text x='{_num(x(i - 1))}' y='{top + plot_h + 16}' text-anchor='middle'>{i}</text>")
    yh = _num(y(in_h))
    parts.append(f"<g class='input-height' data-value='{in_h}'><line x1='{left}' y1='{yh}' x2='{WIDTH - right}' "
                 f"y2='{yh}' stroke='#E45756' stroke-dasharray='6 4' stroke-width='1.5'/>"
                 f"<text x='{left + 4}' y='{_num(float(yh) - 5)}' fill='#c92a2a' style='fill:#c92a2a'>"
                 f"input height {in_h} px</text></g>")
    parts.append(_rf_points(rows, x, y))
    parts.append(f"<text class='ax' x='{left + plot_w / 2:.0f}' y='{height - 8}' text-anchor='middle'>"
                 f"layer (execution order)</text><text class='ax' transform='translate(16 {top + plot_h / 2:.0f}) "
                 "rotate(-90)' text-anchor='middle'>receptive field (input pixels)</text></svg>")
    return f"<div class='net-chart' data-testid='net-rf'>{''.join(parts)}</div>"


def _rf_points(rows: list, x, y) -> str:
    """The receptive-field line (all values in its ``data-rf``) and, up to DETAILED layers, one
    hoverable point per layer."""
    line = "".join(f"{'L' if i else 'M'}{_num(x(i))} {_num(y(r.rf))}" for i, r in enumerate(rows))
    out = [f"<path class='rf-line' d='{line}' fill='none' stroke='{COLORS['conv']}' stroke-width='3' "
           f"data-rf='{' '.join(str(r.rf) for r in rows)}'/>"]
    if len(rows) <= DETAILED:
        out += [f"<g class='pt' data-rf='{r.rf}' data-jump='{r.jump}'><title>{_esc(r.name)} "
                f"({_esc(r.type)}): receptive field {r.rf:,} px, jump {r.jump} px</title>"
                f"<circle cx='{_num(x(i))}' cy='{_num(y(r.rf))}' r='4' fill='{COLORS['conv']}' "
                "stroke='white' stroke-width='1'/></g>" for i, r in enumerate(rows)]
    return "".join(out)
