"""The live loss curve as one inline SVG (plain data in, an HTML string out), for the page to draw
while a run goes: chromium redraws a changed plotly chart for 0.15-0.20 of a core at 2 Hz, an
SVG path for about what a line of text costs (ui/watch.py has the measurements). A finished run
keeps the plotly figure (training.loss_curve: hover and zoom); both read the same series, words
and colours from figures/training.py.

Each line is a ``<polyline>`` whose ``points`` are the data themselves (x: training step, y: loss),
placed by a transform (``vector-effect: non-scaling-stroke`` keeps its width): a test reads the
values straight from the page, and nothing is sent twice. Its ``data-series`` names the line,
``data-n`` counts its points; the validation loss's markers carry ``data-x``/``data-y``.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

from ..training.coach import Advice
from . import training as figs

WIDTH, HEIGHT = 900, 360                     # the viewBox; the SVG scales to the column's width
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 46    # the plot area's margins, viewBox units
LIVE_POINTS = 400                            # points per line (a tick sends ~5 kB for both)
FONT = "font-family:inherit;font-size:14px;fill:#31333f"


def nice_ticks(hi: float, most: int = 6) -> list[float]:
    """Ticks 0, d, 2d, ... up to ``hi`` with d = 1, 2 or 5 times a power of ten, at most ``most``."""
    if not hi > 0 or not math.isfinite(hi):
        return [0.0]
    base = 10 ** math.floor(math.log10(hi / most))
    d = next(m * base for m in (1, 2, 5, 10, 20) if hi / (m * base) <= most)
    return [i * d for i in range(int(hi / d + 1e-9) + 1)]


def _num(v: float) -> str:
    return f"{v:.4g}"


def _tick_label(v: float, step: float) -> str:
    return f"{v:,.0f}" if step >= 1 else f"{v:.{max(0, -math.floor(math.log10(step)))}f}"


class _Frame:
    """Data units to viewBox units for x in [0, xmax], y in [0, ymax]."""

    def __init__(self, xmax: float, ymax: float) -> None:
        self.sx = (WIDTH - LEFT - RIGHT) / xmax
        self.sy = (HEIGHT - TOP - BOTTOM) / ymax

    def x(self, v: float) -> float:
        return LEFT + v * self.sx

    def y(self, v: float) -> float:
        return HEIGHT - BOTTOM - v * self.sy

    def transform(self) -> str:
        return f"matrix({self.sx:.6g},0,0,{-self.sy:.6g},{LEFT},{HEIGHT - BOTTOM})"


def _line(fr: _Frame, series: str, xs: Sequence, ys: Sequence, width: float, dash: str = "") -> str:
    pts = " ".join(f"{x:g},{_num(y)}" for x, y in zip(xs, ys) if y is not None)
    name, color = figs.LOSS_LINES[series]
    dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
    return (f"<polyline data-series='{series}' data-n='{pts.count(',')}' aria-label='{name}' points='{pts}' "
            f"transform='{fr.transform()}' fill='none' stroke='{color}' stroke-width='{width}'{dash_attr} "
            "vector-effect='non-scaling-stroke' stroke-linejoin='round'/>")


def _axes(fr: _Frame, xmax: float, ymax: float) -> str:
    out = []
    xt, yt = nice_ticks(xmax, 8), nice_ticks(ymax, 6)
    for v in yt:
        y = fr.y(v)
        out.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e6e9ef'/>"
                   f"<text x='{LEFT - 6}' y='{y + 5:.1f}' text-anchor='end' style=\"{FONT}\">"
                   f"{_tick_label(v, yt[1] - yt[0] if len(yt) > 1 else 1)}</text>")
    for v in xt:
        x = fr.x(v)
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{TOP}' y2='{HEIGHT - BOTTOM}' stroke='#f0f2f6'/>"
                   f"<text x='{x:.1f}' y='{HEIGHT - BOTTOM + 18}' text-anchor='middle' style=\"{FONT}\">"
                   f"{_tick_label(v, xt[1] - xt[0] if len(xt) > 1 else 1)}</text>")
    xa, ya = figs.LOSS_AXES
    out.append(f"<text x='{(LEFT + WIDTH - RIGHT) / 2:.0f}' y='{HEIGHT - 6}' text-anchor='middle' "
               f"style=\"{FONT}\">{xa}</text><text transform='translate(16,{(TOP + HEIGHT - BOTTOM) / 2:.0f}) "
               f"rotate(-90)' text-anchor='middle' style=\"{FONT}\">{ya}</text>")
    return "".join(out)


def _legend(series: Sequence[str]) -> str:
    out, x = [], LEFT
    for s in series:
        name, color = figs.LOSS_LINES[s]
        out.append(f"<line x1='{x}' x2='{x + 22}' y1='14' y2='14' stroke='{color}' stroke-width='3'/>"
                   f"<text x='{x + 28}' y='19' style=\"{FONT}\">{name}</text>")
        x += 40 + 7 * len(name)
    return "".join(out)


def _chance(fr: _Frame, num_classes: int) -> str:
    y = fr.y(math.log(num_classes))
    return (f"<line data-chance='{math.log(num_classes):.4f}' x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y:.1f}' "
            f"y2='{y:.1f}' stroke='{figs.CHANCE_COLOR}' stroke-width='2' stroke-dasharray='2,4'/>"
            f"<text x='{LEFT + 8}' y='{y - 5:.1f}' style=\"{FONT};fill:#495057\">{figs.chance_note(num_classes)}</text>")


def _markers(fr: _Frame, advice: Sequence[Advice], epochs: list[dict]) -> str:
    out = []
    for a in advice:
        at = figs.marker_step(a, epochs)
        if at is None:
            continue
        x, color = fr.x(at), figs.advice_color(a)
        out.append(f"<line data-step='{at}' x1='{x:.1f}' x2='{x:.1f}' y1='{TOP}' y2='{HEIGHT - BOTTOM}' "
                   f"stroke='{color}' stroke-width='2' stroke-dasharray='6,4'/><text x='{x - 4:.1f}' y='{TOP + 16}' "
                   f"text-anchor='end' style=\"{FONT};fill:{color}\">{html.escape(a.title.split(':')[0])}</text>")
    return "".join(out)


def _validation(fr: _Frame, epochs: list[dict]) -> tuple[str, str]:
    pts = [(e["step"], e["val_loss"]) for e in epochs
           if isinstance(e.get("val_loss"), (int, float)) and math.isfinite(e["val_loss"]) and e.get("step") is not None]
    if not pts:
        return "", ""
    dots = "".join(f"<circle data-x='{x}' data-y='{_num(y)}' cx='{fr.x(x):.1f}' cy='{fr.y(y):.1f}' r='4.5' "
                   f"fill='{figs.LOSS_LINES['val'][1]}'/>" for x, y in pts)
    return _line(fr, "val", [p[0] for p in pts], [p[1] for p in pts], 3) + dots, "val"


def loss_svg(steps: list[dict], epochs: list[dict] | None = None, advice: Sequence[Advice] = (),
             *, num_classes: int | None = None, alpha: float = 0.9, max_points: int = LIVE_POINTS) -> str:
    """The live loss curve: raw and smoothed training loss per step, validation loss per epoch,
    the chance level ln(classes), the coach's findings as dashed lines; its title above it."""
    epochs = epochs or []
    (xr, yr), (xs, ys) = figs.loss_series(steps, alpha, max_points)
    chance = math.log(num_classes) if num_classes and num_classes > 1 else None
    finite = [v for v in yr if v is not None] + [e["val_loss"] for e in epochs
                                                 if isinstance(e.get("val_loss"), (int, float))
                                                 and math.isfinite(e["val_loss"])]
    ymax = 1.05 * max([*finite, chance or 0.0, 1e-3])
    xmax = max([*xr, *(e.get("step") or 0 for e in epochs), 1])
    fr = _Frame(xmax, ymax)
    val, val_name = _validation(fr, epochs)
    body = (_axes(fr, xmax, ymax) + (_chance(fr, num_classes) if chance else "")
            + _line(fr, "raw", xr, yr, 1) + _line(fr, "smoothed", xs, ys, 3) + val
            + _markers(fr, advice, epochs) + _legend(["raw", "smoothed", *([val_name] if val_name else [])]))
    return (f"<div class='pg-chart' data-testid='pgLiveLoss'><div style='font-size:1.15rem;font-weight:600;"
            f"margin:0.4rem 0 0.1rem 0'>{figs.LOSS_TITLE}</div><svg viewBox='0 0 {WIDTH} {HEIGHT}' width='100%' "
            f"role='img' aria-label='{figs.LOSS_TITLE}' style='display:block;max-width:100%;height:auto'>"
            f"{body}</svg></div>")
