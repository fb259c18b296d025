"""The Network inspector's block diagram in the course's style (its two charts:
``network_charts.py``).

Data in (a :class:`playground.summary.Summary`), an ``<svg>`` string out.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, replace

from ..networks.kinds import KIND_CLASSES, kind_of_name
from ..summary import Summary

COLORS = {"conv": "#4C78A8", "pool": "#F58518", "fc": "#54A24B", "block": "#B279A2",
          "flatten": "#9D9D9D", "norm": "#72B7B2", "input": "#555555", "error": "#E45756",
          "other": "#BAB0AC"}

_ACT, _NORM, _DROP = KIND_CLASSES["act"], KIND_CLASSES["norm"], KIND_CLASSES["drop"]

# At most this many boxes are drawn: a longer network is folded (runs of equal boxes become one
# "250x Conv+ReLU" box, then the middle becomes "... 480 more layers"; the first box that does
# not fit always stays). Measured before folding: the diagram took 3 s at 50 layers, 43 s at 200,
# and the inspector 211 s at 500 (then a plotly figure, quadratic in its shapes).
MAX_BOXES = 40


@dataclass
class Box:
    label: str                       # e.g. "Conv+ReLU"
    shape: tuple[int, ...] | None    # output shape (C, H, W) or (N,)
    kind: str                        # a key of COLORS
    rows: int = 1                    # how many table rows it stands for
    detail: str = ""                 # hover text
    sub: str = ""                    # a second, smaller line (what a block holds)


def shape_text(shape: tuple[int, ...] | None) -> str:
    """(64, 112, 112) -> '112x112x64' (the course writes height x width x channels)."""
    if shape is None:
        return "error"
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}x{shape[0]}"
    return "x".join(f"{v:,}" for v in shape)


def _kind(t: str) -> str:
    kind = kind_of_name(t)
    if kind in COLORS:
        return kind
    return "conv" if t.startswith("Conv") else "pool" if "Pool" in t else "other"


def _short(t: str) -> str:
    return {"Conv2d": "Conv", "MaxPool2d": "MaxPool", "AvgPool2d": "AvgPool", "Linear": "FC",
            "BatchNorm2d": "BN", "BatchNorm1d": "BN", "Flatten": "Flatten", "flatten": "Flatten",
            "LayerNorm": "LN", "LayerNorm2d": "LN", "GroupNorm": "GN"}.get(t, t)


def _group(rows: list, depth: int) -> list[list]:
    groups: list[list] = []
    for r in rows:
        parts = r.name.split("#")[0].split(".")
        key = ".".join(parts[:depth + 1]) if len(parts) > depth + 1 else None
        if key is not None and groups and groups[-1][0] == key:
            groups[-1][1].append(r)
        else:
            groups.append([key, [r]])
    return groups


def boxes(summary: Summary, max_boxes: int = 24, min_boxes: int = 6) -> list[Box]:
    """The summary's rows grouped the way the course draws a network: a conv with its
    BatchNorm and activation is one box ("Conv+BN+ReLU"), a residual or VGG block is one box;
    for deep networks whole stages (resnet's layer1 ...) become one box each. The coarsest
    grouping with at least ``min_boxes`` boxes (and at most ``max_boxes``) is used."""
    best: list[Box] = []
    for depth in range(4):
        merged = _merge_leaves(_group(summary.rows, depth))
        if best and len(merged) > max_boxes:
            break
        best = merged
        if len(merged) >= min_boxes:
            break
    return best


def _merge_leaves(groups: list[list]) -> list[Box]:
    out: list[Box] = []
    for key, rs in groups:
        if key is not None:
            err = any(r.output_shape is None for r in rs)
            n_conv = sum(r.type.startswith("Conv") for r in rs)
            n_add = sum(r.type.startswith("Add (skip") for r in rs)
            last = key.split(".")[-1]
            label = _text(key if last.isdigit() else last)
            bits = []
            if n_add == 1:
                bits.append("residual")
            elif n_add > 1:
                bits.append(f"{n_add} residual blocks")
            if n_conv:
                bits.append(f"{n_conv} conv")
            if not bits:
                bits.append(", ".join(dict.fromkeys(_short(r.type) for r in rs if r.type not in _DROP)))
            shape = rs[-1].output_shape if not err else None
            inner = _merge_leaves([[None, [r]] for r in rs]) if not err and not n_add else []
            if len(inner) == 1:           # e.g. torchvision's Conv2dNormActivation: Conv+BN+ReLU6
                inner[0].sub, inner[0].rows = _text(key), len(rs)
                out.append(inner[0])
                continue
            out.append(Box(label, shape, "error" if err else "block", len(rs),
                           f"{_text(key)}: {len(rs)} layers, {sum(r.params for r in rs):,} params",
                           sub=", ".join(bits)))
            continue
        r = rs[0]
        t = r.type
        err = r.output_shape is None
        prev = out[-1] if out else None
        if (t in _ACT or t in _NORM) and prev is not None and prev.kind in ("conv", "fc") and not err \
                and prev.shape == r.output_shape:
            prev.label += "+" + _short(t)
            prev.rows += 1
            prev.detail += f"<br>{_text(r.name)} ({_text(t)})"
            continue
        if t in _DROP and prev is not None and not err:
            prev.rows += 1
            prev.detail += f"<br>{_text(r.name)} ({_text(t)})"
            continue
        kind = "error" if err else _kind(t)
        label = _short(t)
        if t.startswith("Adaptive") and r.output_shape and len(r.output_shape) == 3:
            label = "GlobalAvgPool" if r.output_shape[1:] == (1, 1) else "AdaptivePool"
        out.append(Box(label, r.output_shape, kind, 1,
                       _text(f"{r.name} ({t}) {r.detail}".strip()) + f"<br>{r.params:,} params"))
    return out


def fold(items: list[Box], limit: int = MAX_BOXES) -> list[Box]:
    """At most about ``limit`` boxes: first runs of equal consecutive boxes (same label, shape
    and kind) become one box "Nx label"; if that is still too many, the middle is replaced by
    "... N more layers" boxes, keeping the head, the tail and the first box that does not fit."""
    if len(items) <= limit:
        return items
    runs: list[Box] = []
    bases: list[str] = []            # each run's label before "Nx "
    counts: list[int] = []
    firsts: list[str] = []           # each run's first box's hover text
    for b in items:
        prev = runs[-1] if runs else None
        if prev is not None and b.kind != "error" and prev.kind == b.kind and b.rows \
                and (prev.shape, prev.sub, bases[-1]) == (b.shape, b.sub, b.label):
            counts[-1] += 1
            runs[-1] = replace(prev, label=f"{counts[-1]}x {b.label}", rows=prev.rows + b.rows,
                               detail=f"{counts[-1]} alike; the first: {firsts[-1]}")
            continue
        runs.append(b)
        bases.append(b.label)
        counts.append(1)
        firsts.append(b.detail)
    if len(runs) <= limit:
        return runs
    head, tail = limit * 2 // 3, limit // 4
    keep = set(range(head)) | set(range(len(runs) - tail, len(runs)))
    keep |= {next((i for i, b in enumerate(runs) if b.kind == "error"), 0)}   # the first failure
    out: list[Box] = []
    hidden: list[Box] = []
    for i, b in enumerate(runs):
        if i in keep:
            if hidden:
                out.append(_more(hidden))
                hidden = []
            out.append(b)
        else:
            hidden.append(b)
    if hidden:
        out.append(_more(hidden))
    return out


def _more(hidden: list[Box]) -> Box:
    n = sum(b.rows for b in hidden)
    return Box(f"... {n:,} more<br>layers", hidden[-1].shape, "other", n,
               f"{len(hidden):,} boxes folded: see the table for every layer")


def _two_lines(label: str) -> str:
    """'Conv+BN+ReLU' -> 'Conv<br>+BN+ReLU' so boxes stay narrow enough for a whole line."""
    if "+" in label:
        head, _, rest = label.partition("+")
        return f"{head}<br>+{rest}"
    return {"GlobalAvgPool": "Global<br>AvgPool", "AdaptivePool": "Adaptive<br>AvgPool"}.get(label, label)


def _text(s: str) -> str:
    """Names in a figure are text: plotly renders a subset of HTML (links too) in labels."""
    return html.escape(str(s), quote=False)


def diagram_items(summary: Summary) -> list[Box]:
    """The diagram's boxes: the input, the network's (folded) boxes, the classes."""
    items = [Box("Input", tuple(summary.input_shape), "input", 0, "the image")] + fold(boxes(summary))
    if summary.error is None and summary.output_shape and len(summary.output_shape) == 1:
        items.append(Box(f"{summary.output_shape[0]:,}<br>classes", None, "fc", 0, "one score per class"))
    return items


def balanced(n: int, per_line: int) -> int:
    """Boxes per line so that ``n`` boxes fill their lines evenly, at most ``per_line``."""
    return max(2, math.ceil(n / math.ceil(n / per_line)))


# ------------------------------------------------------------------------------------------
# The block diagram, as inline SVG (what the inspector shows): Input HxWxC -> Conv+ReLU -> Pool ->
# ... -> FC -> classes, shapes written on the arrows, long networks wrapped onto several lines. As
# a plotly figure it was redrawn in chromium on every knob of the page (~5,700 DOM changes, most of
# a ~400 ms round trip, measured with bench/bench_feel.py); as SVG text the browser draws it like a
# paragraph.
# ------------------------------------------------------------------------------------------
SVG_BOX, SVG_GAP, SVG_LINE = 110, 80, 120      # box width, arrow length, line step (px)


def _svg_lines(label: str) -> list[tuple[str, bool]]:
    """A plotly-style label ('<b>Conv</b><br>...') as lines of (escaped text, small)."""
    small = label.split("<span", 1)
    lines = [(t, False) for t in small[0].replace("<b>", "").replace("</b>", "").split("<br>") if t]
    if len(small) > 1:
        inner = small[1].split(">", 1)[1].replace("</span>", "")
        lines += [(t, True) for t in inner.split("<br>") if t]
    return lines


def diagram_svg(summary: Summary, per_line: int = 7) -> str:
    """The block diagram as an ``<svg>`` string; each box's ``<title>`` is its hover text (the
    layers it stands for)."""
    items = diagram_items(summary)
    per_line = balanced(len(items), per_line)
    step, n_lines = SVG_BOX + SVG_GAP, math.ceil(len(items) / per_line)
    left = 20 if n_lines == 1 else SVG_GAP       # room for the arrow that wraps onto a line
    width, height = left + max(per_line, 6) * step - SVG_GAP + 10, 20 + (n_lines - 1) * SVG_LINE + 78 + 12
    parts = [f"<svg viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg' role='img' "
             "style='width:100%;height:auto;font-family:sans-serif' aria-label='the network, box by box'>",
             "<defs><marker id='nd-arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
             "markerHeight='7' orient='auto'><path d='M0,0L10,5L0,10z' fill='#444'/></marker></defs>"]
    for i, box in enumerate(items):
        line, col = divmod(i, per_line)
        x, y = left + col * step, 20 + line * SVG_LINE        # the box's top-left
        color = COLORS.get(box.kind, COLORS["other"])
        err = box.kind == "error"
        label = f"<b>{box.label}</b><br>does not fit" if err else f"<b>{_two_lines(box.label)}</b>" + (
            "<br><span>" + "<br>".join(box.sub.split(", ")) + "</span>" if box.sub else "")
        lines = _svg_lines(label)
        title = box.detail.replace("<br>", "&#10;")
        parts.append(f"<g class='box'><title>{title}</title><rect x='{x}' y='{y}' width='{SVG_BOX}' "
                     f"height='78' rx='3' fill='{color}' stroke='{'#9B1C1C' if err else color}' "
                     f"stroke-width='{4 if err else 1}'/>")
        y0 = y + 39 - 8 * (len(lines) - 1)
        for k, (t, sm) in enumerate(lines):
            parts.append(f"<text x='{x + SVG_BOX / 2}' y='{y0 + 16 * k + 5}' text-anchor='middle' "
                         f"fill='white' font-size='{11 if sm else 14}' font-weight='{400 if sm else 700}'>{t}</text>")
        parts.append("</g>")
        if i + 1 < len(items):
            txt = shape_text(box.shape) if box.shape is not None else "?"
            nline = (i + 1) // per_line
            x1, yy = (x + step, y + 39) if nline == line else (left, 20 + nline * SVG_LINE + 39)
            x0 = x + SVG_BOX if nline == line else 2
            parts.append(f"<line x1='{x0}' y1='{yy}' x2='{x1 - 2}' y2='{yy}' stroke='#444' stroke-width='2' "
                         f"marker-end='url(#nd-arrow)'/><text x='{(x0 + x1) / 2}' y='{yy - 6}' "
                         f"text-anchor='middle' font-size='13' fill='#111'>{txt}</text>")
    return "".join(parts) + "</svg>"
