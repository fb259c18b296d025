"""Figures of segmentation runs: the mask colours (one palette, background first), masks as
coloured pictures, mIoU and Dice per epoch, IoU per class. Data in, ``go.Figure`` (or a uint8
picture) out."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from .training import FONT, LEGEND_BELOW, PALETTE


def _layout(title: str, height: int = 360) -> dict[str, Any]:
    return dict(title=dict(text=title, font=dict(size=18)), height=height, font=FONT,
                margin=dict(l=60, r=20, t=60, b=50), uirevision="keep",
                legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))

# Class k's colour in every mask picture: background dark grey, then distinct hues (the legend
# and the pictures read this one list); classes beyond it cycle.
MASK_COLOURS = ["#343a40", "#f03e3e", "#1c7ed6", "#37b24d", "#f59f00", "#ae3ec9", "#1098ad",
                "#f76707", "#74b816", "#d6336c", "#4263eb", "#ffd43b"]


def mask_colour(k: int) -> str:
    return MASK_COLOURS[k % len(MASK_COLOURS)]


def _rgb_table() -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in MASK_COLOURS], dtype=np.uint8)


def colour_masks(masks: np.ndarray) -> np.ndarray:
    """Class indices (..., H, W) -> RGB uint8 (..., H, W, 3) in :data:`MASK_COLOURS`."""
    table = _rgb_table()
    return table[np.asarray(masks).astype(np.int64) % len(table)]


def colour_overlay(image: np.ndarray, mask: Any, alpha: float = 0.5) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with every pixel of class k > 0 blended with class k's colour
    (opacity ``alpha``; the Training page's palette), the background left as it is."""
    m = np.asarray(mask).astype(np.int64)
    out = image.astype(np.float32)
    fg = m > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colour_masks(m[fg]).astype(np.float32)
    return out.round().clip(0, 255).astype(np.uint8)


def strip_picture(images: np.ndarray, scale: int = 3, gap: int = 4) -> np.ndarray:
    """RGB pictures (K, H, W, 3) side by side, each enlarged ``scale`` times (nearest: pixels
    stay pixels), white gaps between: one small PNG for the browser instead of K."""
    k, h, w, _ = images.shape
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    out = np.full((h * scale, k * w * scale + (k - 1) * gap, 3), 255, dtype=np.uint8)
    for i in range(k):
        x0 = i * (w * scale + gap)
        out[:, x0:x0 + w * scale] = big[i]
    return out


def as_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 images (K, C, H, W), gray or colour, as (K, H, W, 3)."""
    x = np.asarray(images).transpose(0, 2, 3, 1)
    return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x[..., :3]


def segment_curves(epochs: list[dict[str, Any]]) -> go.Figure:
    """Validation mIoU and Dice per epoch (and the share of pixels right, dotted)."""
    ep = [e["epoch"] for e in epochs]
    data = [dict(type="scatter", x=ep, y=[e.get(k) for e in epochs], mode="lines+markers", name=name,
                 line=dict(color=PALETTE[i], width=3, dash=dash), marker=dict(size=9))
            for i, (k, name, dash) in enumerate((("val_miou", "validation mIoU", "solid"),
                                                 ("val_dice", "validation Dice", "solid"),
                                                 ("val_acc", "pixels right (flatters)", "dot")))]
    layout = _layout("Masks per epoch: mIoU and Dice", height=400)
    layout.update(**LEGEND_BELOW, xaxis=dict(title=dict(text="epoch"), dtick=1 if len(ep) <= 20 else None),
                  yaxis=dict(title=dict(text="score"), range=[0, 1.02]))
    return go.Figure(data=data, layout=layout)


def iou_per_class(ious: Sequence[float | None], class_names: Sequence[str], epoch: int | None = None) -> go.Figure:
    """IoU of each class on the validation set (None: a class never seen, left blank)."""
    names = list(class_names)[:len(ious)]
    ys = [v if v is not None else 0.0 for v in ious]
    text = [f"{v:.2f}" if v is not None else "not seen" for v in ious]
    data = [dict(type="bar", x=names, y=ys, text=text, textposition="outside",
                 marker=dict(color=[mask_colour(k) for k in range(len(names))]))]
    title = "IoU per class" + (f" (epoch {epoch})" if epoch is not None else "")
    layout = _layout(title)
    layout.update(showlegend=False, yaxis=dict(title=dict(text="IoU"), range=[0, 1.12]),
                  xaxis=dict(title=dict(text="class")))
    return go.Figure(data=data, layout=layout)
