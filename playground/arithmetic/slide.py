"""The sliding kernel on real numbers: a small grid (a course example, random integers, a patch of
a photo), a kernel or a pooling window, and every output cell written out as the dot product, max
or mean that produced it. The values come from ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d``;
the window positions from :mod:`playground.arithmetic.windows`, checked against PyTorch's shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from playground.arithmetic.sizes import as_pair, side_pads
from playground.arithmetic.windows import window_starts, window_taps

SLIDE_KINDS = ("Conv2d", "MaxPool2d", "AvgPool2d")
HORIZONTAL_EDGE = [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
VERTICAL_EDGE = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]

# The course's worked examples, exactly as the course writes them: (the page's label, image, kernel).
_COURSE_EXAMPLES: dict[str, tuple[str, list[list[int]], list[list[int]]]] = {
    "6x6": ("6x6 image, horizontal-edge kernel (course)",
            [[1, 2, 0, 0, 1, 2],
             [0, 1, 2, 1, 0, 1],
             [1, 0, 3, 1, 2, 0],
             [2, 1, 0, 2, 1, 1],
             [0, 2, 1, 0, 2, 1],
             [1, 1, 0, 1, 0, 2]], HORIZONTAL_EDGE),
    "5x5": ("5x5 image, vertical-edge kernel (course)",
            [[1, 2, 3, 4, 5],
             [4, 5, 6, 7, 8],
             [7, 8, 9, 0, 1],
             [2, 3, 4, 5, 6],
             [5, 6, 7, 8, 9]], VERTICAL_EDGE),
}
# the values a slide starts from, and how the page names them: the course's examples first
PRESETS = {**{key: label for key, (label, _, _) in _COURSE_EXAMPLES.items()},
           "random": "Random values",
           "photo": "A patch of a real photo"}


# ----------------------------------------------------------------------------------------------
# Values to slide over
# ----------------------------------------------------------------------------------------------
def vertical_edge(size: int = 3) -> list[list[int]]:
    """A ``size`` x ``size`` vertical-edge kernel: +1 in the first column, -1 in the last."""
    return [[1 if j == 0 else -1 if j == size - 1 else 0 for j in range(size)] for _ in range(size)]


def course_examples() -> dict[str, tuple[list[list[float]], list[list[float]]]]:
    """The course's worked sliding-kernel examples, the one catalogue the page reads: ``"6x6"``
    (the course's 6x6 image with the horizontal-edge kernel) and ``"5x5"`` (its 5x5 image with
    the vertical-edge kernel), as {name: (image, kernel)} nested lists (fresh copies: edit
    freely). Every output of them is computed by :func:`slide` with ``F.conv2d``."""
    return {key: ([row[:] for row in image], [row[:] for row in kernel])
            for key, (_, image, kernel) in _COURSE_EXAMPLES.items()}


def course_example(name: str) -> tuple[list[list[float]], list[list[float]]]:
    """One of :func:`course_examples` by name: (image, kernel)."""
    examples = course_examples()
    if name not in examples:
        raise ValueError(f"Unknown example {name!r}; choose {' or '.join(map(repr, examples))}.")
    return examples[name]


def random_values(h: int, w: int, kh: int, kw: int, seed: int = 0, low: int = -3, high: int = 9
                  ) -> tuple[list[list[float]], list[list[float]]]:
    """Small random integers (easy to add up in your head) for an image and a kernel."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, high + 1, (h, w), generator=g)
    kernel = torch.randint(low, 4, (kh, kw), generator=g)
    return image.tolist(), kernel.tolist()


def image_patch(path, size: int = 8, *, center: tuple[float, float] = (0.5, 0.5),
                scale: int = 4) -> list[list[float]]:
    """A ``size`` x ``size`` patch of a real photo in grey levels 0-255: the photo is shrunk by
    ``scale`` (so the patch shows a recognisable part of it) and cut around ``center`` (fractions
    of height and width)."""
    with Image.open(path) as im:
        im = im.convert("L")
        im = im.resize((max(size, im.width // scale), max(size, im.height // scale)))
        w, h = im.size
        top = min(max(int(center[0] * h) - size // 2, 0), h - size)
        left = min(max(int(center[1] * w) - size // 2, 0), w - size)
        crop = im.crop((left, top, left + size, top + size))
        return np.asarray(crop, dtype=np.float32).tolist()


def starting_values(preset: str, *, size: int = 6, kernel_size: int = 3, seed: int = 0,
                    photo: str | Path | None = None) -> tuple[list[list[float]], list[list[float]]]:
    """(image, kernel) a slide starts from. ``preset`` is a key of ``PRESETS``: a course example
    (its own sizes), ``"random"`` (a ``size`` grid and ``kernel_size`` kernel drawn with ``seed``)
    or ``"photo"`` (a ``size`` patch of ``photo`` with a vertical-edge kernel)."""
    if preset in _COURSE_EXAMPLES:
        return course_example(preset)
    if preset == "random":
        return random_values(size, size, kernel_size, kernel_size, seed=seed)
    if preset == "photo":
        if photo is None:
            raise ValueError("The photo preset needs a photo.")
        return image_patch(photo, size), vertical_edge(kernel_size)
    raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")


# ----------------------------------------------------------------------------------------------
# The slide
# ----------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One output cell: where the window sits and how the value came about."""
    index: int
    out_row: int
    out_col: int
    rows: list[int]          # input rows read (input coordinates; negative/past-end = padding)
    cols: list[int]
    terms: list[tuple[float, float]]   # (input value, weight) for conv; (value, 1) for pooling
    value: float             # the output value, as PyTorch computed it
    expression: str          # the dot product / max / mean written out


@dataclass
class Slide:
    """The sliding kernel over real values: the output computed by PyTorch and each step."""
    kind: str                # "Conv2d", "MaxPool2d" or "AvgPool2d"
    image: list[list[float]]
    kernel: list[list[float]] | None
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]   # ((top, bottom), (left, right))
    output: list[list[float]]
    steps: list[Step]
    uncovered_rows: list[int]
    uncovered_cols: list[int]


def format_value(v: float) -> str:
    """A grid value as the slide writes it: whole numbers bare, others to 3 significant digits."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _term(a: float, w: float) -> str:
    wa = format_value(w)
    return f"{format_value(a)}*({wa})" if w < 0 else f"{format_value(a)}*{wa}"


def _grid(values, what: str, holder: str, cell: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64)
    if t.ndim != 2 or t.numel() == 0:
        raise ValueError(f"The {what} must be a non-empty 2-D grid of numbers.")
    if not torch.isfinite(t).all():
        raise ValueError(f"The {holder} has an empty or non-numeric cell; fill in every {cell}.")
    return t


def slide(image: Sequence[Sequence[float]], kernel: Sequence[Sequence[float]] | None = None, *,
          kind: str = "Conv2d", kernel_size: int | tuple[int, int] | None = None,
          stride: int | tuple[int, int] = 1, padding: int | str | tuple[int, int] = 0,
          dilation: int | tuple[int, int] = 1, ceil_mode: bool = False) -> Slide:
    """Slide ``kernel`` (weights) over ``image`` (one channel, no bias). The output values come
    from ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d``; each :class:`Step` writes one out."""
    if kind not in SLIDE_KINDS:
        raise ValueError("The sliding view shows Conv2d, MaxPool2d and AvgPool2d.")
    x = _grid(image, "input", "input grid", "value")
    if kind == "Conv2d":
        if kernel is None:
            raise ValueError("A convolution needs kernel weights.")
        w = _grid(kernel, "kernel", "kernel", "weight")
        kh, kw = w.shape
    else:
        if kernel_size is None:
            raise ValueError("Pooling needs a kernel size.")
        (kh, kw), w = as_pair(kernel_size), None
    (sh, sw), (dh, dw) = as_pair(stride), as_pair(dilation)
    pad_h, pad_w = (padding, padding) if isinstance(padding, str) else as_pair(padding)
    if kind == "AvgPool2d" and (dh, dw) != (1, 1):
        raise ValueError("AvgPool2d has no dilation: only MaxPool2d and the convolutions do.")
    dim_kind, ceil_mode = ("conv", False) if kind == "Conv2d" else ("pool", ceil_mode)
    H, W = x.shape
    starts_r = window_starts(H, kh, sh, pad_h, dh, kind=dim_kind, ceil_mode=ceil_mode)
    starts_c = window_starts(W, kw, sw, pad_w, dw, kind=dim_kind, ceil_mode=ceil_mode)
    pads = (side_pads(pad_h, kh, dh), side_pads(pad_w, kw, dw))

    xb, before = x[None, None], (pads[0][0], pads[1][0])
    if kind == "Conv2d":
        y = F.conv2d(xb, w[None, None], stride=(sh, sw), dilation=(dh, dw),
                     padding=padding if isinstance(padding, str) else before)
    elif kind == "MaxPool2d":
        y = F.max_pool2d(xb, (kh, kw), (sh, sw), before, (dh, dw), ceil_mode=ceil_mode)
    else:
        y = F.avg_pool2d(xb, (kh, kw), (sh, sw), before, ceil_mode=ceil_mode)
    y = y[0, 0]
    if tuple(y.shape) != (len(starts_r), len(starts_c)):  # pragma: no cover - guarded by tests
        raise AssertionError("window positions disagree with PyTorch's output")

    steps = []
    for i, r0 in enumerate(starts_r):
        for j, c0 in enumerate(starts_c):
            rows, cols = window_taps(r0, kh, dh), window_taps(c0, kw, dw)
            terms, expr = _written_out(kind, x, w, rows, cols, pads, float(y[i, j]))
            steps.append(Step(len(steps), i, j, rows, cols, terms, float(y[i, j]), expr))
    seen_r = {r for s in starts_r for r in window_taps(s, kh, dh)}
    seen_c = {c for s in starts_c for c in window_taps(s, kw, dw)}
    return Slide(kind, x.tolist(), None if w is None else w.tolist(), (kh, kw), (sh, sw), (dh, dw),
                 pads, y.tolist(), steps, [r for r in range(H) if r not in seen_r],
                 [c for c in range(W) if c not in seen_c])


def _written_out(kind: str, x: torch.Tensor, w: torch.Tensor | None, rows: list[int], cols: list[int],
                 pads, value: float) -> tuple[list[tuple[float, float]], str]:
    """One output cell's terms and its expression: the dot product, the max or the mean."""
    H, W = x.shape

    def value_at(r: int, c: int) -> float:
        return float(x[r, c]) if 0 <= r < H and 0 <= c < W else 0.0

    if kind == "Conv2d":
        terms = [(value_at(r, c), float(w[a, b])) for a, r in enumerate(rows) for b, c in enumerate(cols)]
        return terms, " + ".join(_term(v, wt) for v, wt in terms) + f" = {format_value(value)}"
    # taps inside the padded input (ceil_mode may run a window past its end)
    inside = [(r, c) for r in rows for c in cols
              if -pads[0][0] <= r < H + pads[0][1] and -pads[1][0] <= c < W + pads[1][1]]
    if kind == "MaxPool2d":  # padding never wins a max (PyTorch pads with -inf)
        vals = [float(x[r, c]) for r, c in inside if 0 <= r < H and 0 <= c < W]
        expr = f"max({', '.join(format_value(v) for v in vals)}) = {format_value(value)}"
    else:  # count_include_pad=True: zeros of the padding count, the divisor is clipped
        vals = [value_at(r, c) for r, c in inside]
        expr = f"({' + '.join(format_value(v) for v in vals)}) / {len(vals)} = {format_value(round(value, 4))}"
    return [(v, 1.0) for v in vals], expr
