"""Figures of detection runs: a scene drawn with its S x S grid, the true boxes and each one's
responsible cell, the objectness of every cell as a heatmap, the predicted boxes with their class
names and scores; mAP@0.5 and mAP per epoch. Data in (numpy images, plain box dicts from
:func:`playground.tasks.detect.decode_view`), a uint8 RGB picture (PIL drawing) or ``go.Figure``
out."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from .segment import MASK_COLOURS
from .training import FONT, LEGEND_BELOW, PALETTE

SCALE = 4            # a 64 px scene is drawn 256 px wide (nearest: the pixels stay visible)
GRID_COLOUR = (255, 255, 255, 110)
CELL_COLOUR = (255, 212, 59)           # a true object's responsible cell
TRUE_COLOUR = (255, 255, 255)


def class_colour(k: int) -> tuple[int, int, int]:
    """Class k's colour: the mask palette without its background (class 0 = the first hue)."""
    c = MASK_COLOURS[1 + k % (len(MASK_COLOURS) - 1)]
    return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (C, H, W), gray or colour, as (H, W, 3)."""
    x = np.asarray(image).transpose(1, 2, 0)
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x[..., :3]


def _canvas(image: np.ndarray, scale: int) -> Image.Image:
    return Image.fromarray(_rgb(image)).resize((image.shape[2] * scale, image.shape[1] * scale),
                                               Image.NEAREST).convert("RGBA")


def _grid(draw: ImageDraw.ImageDraw, side: int, cells: int) -> None:
    step = side / cells
    for i in range(1, cells):
        draw.line([(round(i * step), 0), (round(i * step), side)], fill=GRID_COLOUR, width=1)
        draw.line([(0, round(i * step)), (side, round(i * step))], fill=GRID_COLOUR, width=1)


def responsible_cells(truth: np.ndarray, cells: int, side: int) -> list[tuple[int, int]]:
    """(row, column) of the cell holding each true box's centre (padding rows, class < 0, left
    out): the cell the loss makes answer for it (the same rule as ``detect.assign``)."""
    out = []
    for c, x1, y1, x2, y2 in np.asarray(truth, dtype=np.float64).reshape(-1, 5):
        if c >= 0:
            col = min(cells - 1, max(0, int((x1 + x2) / 2 / side * cells)))
            row = min(cells - 1, max(0, int((y1 + y2) / 2 / side * cells)))
            out.append((row, col))
    return out


def _label(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, colour: tuple) -> None:
    w = draw.textlength(text)
    y0 = max(0.0, y - 12)
    draw.rectangle([x, y0, x + w + 4, y0 + 12], fill=(*colour, 220))
    draw.text((x + 2, y0), text, fill=(0, 0, 0))


def truth_picture(image: np.ndarray, truth: np.ndarray, cells: int, class_names: Sequence[str],
                  scale: int = SCALE) -> np.ndarray:
    """The scene with its grid, each true object's responsible cell filled and its true box drawn
    (white, class name above)."""
    pic = _canvas(image, scale)
    side = image.shape[1]
    over = Image.new("RGBA", pic.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    step = pic.size[0] / cells
    for row, col in responsible_cells(truth, cells, side):
        draw.rectangle([col * step, row * step, (col + 1) * step, (row + 1) * step], fill=(*CELL_COLOUR, 90),
                       outline=(*CELL_COLOUR, 255), width=3)
    _grid(draw, pic.size[0], cells)
    for c, x1, y1, x2, y2 in np.asarray(truth).reshape(-1, 5):
        if c >= 0:
            draw.rectangle([x1 * scale, y1 * scale, x2 * scale - 1, y2 * scale - 1], outline=(*TRUE_COLOUR, 255), width=2)
            name = class_names[int(c)] if int(c) < len(class_names) else f"class {int(c)}"
            _label(draw, x1 * scale, y1 * scale, str(name), TRUE_COLOUR)
    return np.asarray(Image.alpha_composite(pic, over).convert("RGB"))


def objectness_picture(image: np.ndarray, objectness: Sequence[Sequence[float]], scale: int = SCALE) -> np.ndarray:
    """The scene dimmed, each cell tinted by its objectness (sigmoid, 0 to 1) and its value
    written in it: where the network believes an object's centre lies."""
    pic = _canvas(image, scale)
    obj = np.asarray(objectness, dtype=np.float64)
    cells = obj.shape[0]
    over = Image.new("RGBA", pic.size, (0, 0, 0, 140))
    draw = ImageDraw.Draw(over)
    step = pic.size[0] / cells
    for r in range(cells):
        for c in range(obj.shape[1]):
            v = float(np.clip(obj[r, c], 0, 1))
            box = [c * step, r * step, (c + 1) * step, (r + 1) * step]
            draw.rectangle(box, fill=(255, 140, 0, int(200 * v)))
            if v >= 0.1:
                draw.text((box[0] + 3, box[1] + 3), f"{v:.1f}", fill=(255, 255, 255, 255))
    _grid(draw, pic.size[0], cells)
    return np.asarray(Image.alpha_composite(pic, over).convert("RGB"))


def boxes_picture(image: np.ndarray, boxes: list[dict[str, Any]], cells: int, scale: int = SCALE,
                  max_boxes: int = 64) -> np.ndarray:
    """The scene with predicted boxes (``decode_view``'s dicts), each in its class's colour with
    its class name and score; the best ``max_boxes``."""
    pic = _canvas(image, scale)
    over = Image.new("RGBA", pic.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    _grid(draw, pic.size[0], cells)
    for b in reversed(boxes[:max_boxes]):      # the best drawn last, on top
        colour = class_colour(int(b["label"]))
        x1, y1, x2, y2 = (v * scale for v in b["box"])
        draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=(*colour, 255), width=2)
        _label(draw, x1, y1, f"{b['name']} {b['score']:.2f}", colour)
    return np.asarray(Image.alpha_composite(pic, over).convert("RGB"))


def detect_curves(epochs: list[dict[str, Any]]) -> go.Figure:
    """Validation mAP@0.5 and COCO's mAP (IoU 0.5 to 0.95) per epoch."""
    ep = [e["epoch"] for e in epochs]
    data = [dict(type="scatter", x=ep, y=[e.get(k) for e in epochs], mode="lines+markers", name=name,
                 line=dict(color=PALETTE[i], width=3), marker=dict(size=9))
            for i, (k, name) in enumerate((("val_map50", "validation mAP@0.5"),
                                           ("val_map", "validation mAP (IoU 0.5 to 0.95)")))]
    layout = dict(title=dict(text="Boxes per epoch: mAP", font=dict(size=18)), height=400, font=FONT,
                  uirevision="keep", **LEGEND_BELOW,
                  xaxis=dict(title=dict(text="epoch"), dtick=1 if len(ep) <= 20 else None),
                  yaxis=dict(title=dict(text="mean average precision"), range=[0, 1.02]))
    return go.Figure(data=data, layout=layout)
