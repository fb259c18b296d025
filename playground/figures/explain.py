"""Figures for Inside and Classify: top-k bars, images, feature-map grids, filters, kernels,
the normalized input's histogram. Data in (numpy / tensors), ``go.Figure`` out."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont

FONT = dict(size=16)
CHANNEL_COLOURS = {"R": "#d62728", "G": "#2ca02c", "B": "#1f77b4"}


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _bare(fig: go.Figure, height: int | None = None) -> go.Figure:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_layout(margin=dict(l=4, r=4, t=36, b=4), font=FONT, coloraxis_showscale=False)
    if height:
        fig.update_layout(height=height)
    return fig


def topk_bar(rows: list[tuple[int, str, float]], title: str = "Top predictions") -> go.Figure:
    """Horizontal bars of (index, class name, probability), best on top, in percent."""
    names = [f"{name}" for _, name, _ in rows][::-1]
    probs = [100 * p for _, _, p in rows][::-1]
    fig = go.Figure(go.Bar(
        x=probs, y=names, orientation="h", text=[f"{p:.1f} %" for p in probs],
        textposition="outside", cliponaxis=False, marker_color=["#3b5bdb"] * len(probs),
        hovertemplate="%{y}: %{x:.2f} %<extra></extra>"))
    if probs:
        fig.data[0].marker.color = ["#adb5bd"] * (len(probs) - 1) + ["#3b5bdb"]
    fig.update_layout(title=title, font=FONT, height=max(220, 60 + 44 * len(rows)),
                      margin=dict(l=10, r=60, t=50, b=50), bargap=0.25)
    fig.update_xaxes(title="probability (%)", range=[0, 112], ticksuffix=" %")
    # category: class names "0".."9" (the digits model) are names, not numbers on an axis
    fig.update_yaxes(title=None, automargin=True, type="category")
    return fig


def image(arr, title: str | None = None, height: int | None = 360) -> go.Figure:
    """An RGB uint8 (H, W, 3) or gray (H, W) image, as a PNG inside the figure."""
    a = _np(arr)
    if a.dtype != np.uint8:
        a = (a.clip(0, 1) * 255).round().astype(np.uint8)
    fig = px.imshow(a, binary_string=True, title=title)
    fig.update_traces(hovertemplate="x %{x}, y %{y}<extra></extra>")
    return _bare(fig, height)


def mosaic(tiles: np.ndarray, cols: int, gap: int = 1, fill=np.nan,
           row_gap: int | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(N, h, w[, 3]) tiles laid out in rows of ``cols`` with ``gap`` pixels of ``fill`` between
    them (``row_gap`` between rows, room for titles): one array (drawn as one image, far faster
    than N subplots) and each tile's top-left (row, col) in it."""
    n, h, w = tiles.shape[:3]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    rg = gap if row_gap is None else row_gap
    shape = (rows * (h + rg) - rg, cols * (w + gap) - gap, *tiles.shape[3:])
    out = np.full(shape, fill, dtype=np.result_type(tiles.dtype, np.asarray(fill).dtype))
    corners = []
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = r * (h + rg), c * (w + gap)
        out[y:y + h, x:x + w] = tiles[k]
        corners.append((y, x))
    return out, corners


def _titles(fig: go.Figure, corners, titles, w: int, size: int = 13) -> None:
    """A title above each tile (set in one go: add_annotation per tile is slow)."""
    fig.layout.annotations = [
        go.layout.Annotation(x=x + (w - 1) / 2, y=y - 0.5, text=t, showarrow=False,
                             yanchor="bottom", font=dict(size=size), xref="x", yref="y")
        for (y, x), t in zip(corners, titles)]


def _height(m: np.ndarray, top: int, width: int = 900) -> int:
    """Figure height that fits a mosaic drawn ``width`` px wide, with ``top`` px for titles."""
    return int(top + 8 + width * m.shape[0] / m.shape[1])


def _scale_up(tiles: np.ndarray, min_px: int) -> np.ndarray:
    """Nearest-neighbour enlargement so each tile is at least ``min_px`` pixels wide (crisp)."""
    f = max(1, -(-min_px // tiles.shape[2]))
    return tiles.repeat(f, axis=1).repeat(f, axis=2) if f > 1 else tiles


# A layer change on Look inside redrew its plotly grid (one image, one annotation per tile) in
# chromium in ~110-130 ms of a ~150 ms round trip (32 tiles), against ~7 ms for st.image of the
# same mosaic (scratch apps, measured in the same run): the page shows this picture instead.
TITLE_PX = 14       # the tile titles' font size (px); the gap above each row of tiles fits it


def feature_image(maps, titles: list[str], cols: int = 8, min_px: int = 96) -> np.ndarray:
    """Channels (N, H, W), each already scaled to [0, 1], as one gray uint8 picture: rows of
    ``cols`` tiles, each at least ``min_px`` wide (whole-factor enlargement: crisp pixels), white
    gaps, its title written above it."""
    a = _scale_up((_np(maps).clip(0, 1) * 255).round().astype(np.uint8), min_px)
    n, h, w = a.shape
    top = TITLE_PX + 6
    m, corners = mosaic(a, max(1, min(cols, n)), gap=max(2, w // 10), fill=255,
                        row_gap=max(2, w // 10) + top)
    img = Image.new("L", (m.shape[1], m.shape[0] + top), 255)
    img.paste(Image.fromarray(m.astype(np.uint8)), (0, top))
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=TITLE_PX)
    for (y, x), t in zip(corners, titles):
        draw.text((x + w / 2, y + top - 2), t, fill=0, font=font, anchor="md")
    return np.asarray(img)


def filter_tiles(tiles, cols: int = 16, title: str | None = None, cell: int = 70) -> go.Figure:
    """First-layer filters as tiles: (N, k, k, 3) colour or (N, k, k) gray, values in [0, 1]
    (0.5 = weight 0), each weight a crisp square; ``#i`` above each."""
    a = _np(tiles)
    if a.ndim == 3:
        a = np.repeat(a[..., None], 3, axis=-1)
    img = (a.clip(0, 1) * 255).round().astype(np.uint8)
    img = _scale_up(img, 36)
    n, h, w = img.shape[:3]
    gap = max(2, w // 6)
    m, corners = mosaic(img, cols, gap=gap, fill=255, row_gap=gap + max(8, h // 3))
    return _mosaic_figure(m, corners, [f"#{i}" for i in range(n)], w, title, size=12)


def _mosaic_figure(m: np.ndarray, corners, titles: list[str], w: int, title: str | None,
                   **title_kw) -> go.Figure:
    """A uint8 mosaic as one compact image figure, each tile titled, no hover, no axes."""
    fig = px.imshow(m.astype(np.uint8), binary_string=True, zmin=0, zmax=255)
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    _titles(fig, corners, titles, w, **title_kw)
    top = 60 if title else 26
    _bare(fig, height=_height(m, top))
    fig.update_layout(margin=dict(l=4, r=4, t=top, b=4))
    if title:
        fig.update_layout(title=title)
    return fig


def weight_grid(weights, titles: list[str], cols: int = 8, title: str | None = None,
                cell: int = 110) -> go.Figure:
    """(N, k, k) kernels (one filter's slices per input channel) as one heat map on a diverging
    colour scale centred at 0 (red positive, blue negative), each weight written in when
    k <= 5, blank gaps between slices."""
    a = _np(weights).astype(float)
    n, h, w = a.shape
    m, corners = mosaic(a, cols, gap=1, fill=np.nan)
    top = float(np.nanmax(np.abs(a))) or 1.0
    text = np.where(np.isnan(m), "", np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(m)))
    fig = go.Figure(go.Heatmap(
        z=m, zmin=-top, zmax=top, colorscale="RdBu_r", xgap=1, ygap=1,
        text=text if h <= 5 else None, texttemplate="%{text}" if h <= 5 else None,
        textfont=dict(size=11), hovertemplate="weight %{z:.4f}<extra></extra>",
        colorbar=dict(title="weight")))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    _titles(fig, corners, titles, w, size=12)
    rows = -(-n // max(1, min(cols, n)))
    _bare(fig, height=int(70 + rows * (cell + 22)))
    fig.update_layout(coloraxis_showscale=True, plot_bgcolor="white",
                      margin=dict(l=4, r=4, t=60 if title else 24, b=4))
    if title:
        fig.update_layout(title=title)
    return fig


def kernel(k, title: str) -> go.Figure:
    """One small kernel as a heat map with its numbers written in."""
    a = _np(k).astype(float)
    top = float(np.abs(a).max()) or 1.0
    fig = px.imshow(a, color_continuous_scale="RdBu_r", zmin=-top, zmax=top,
                    text_auto=".2f", title=title)
    fig.update_traces(textfont_size=18, hovertemplate="%{z:.3f}<extra></extra>")
    return _bare(fig, height=260)


def value_histogram(x, names: list[str], title: str = "Normalized input values",
                    bins: int = 60) -> go.Figure:
    """Per-channel histogram of a (C, H, W) tensor's values (computed here, drawn as lines)."""
    a = _np(x)
    if a.ndim == 4:
        a = a[0]
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for c, name in enumerate(names):
        counts, _ = np.histogram(a[c], bins=edges)
        fig.add_trace(go.Scatter(x=centres, y=counts, mode="lines", name=name, line_shape="hvh",
                                 line=dict(color=CHANNEL_COLOURS.get(name), width=2)))
    fig.add_vline(x=0, line_dash="dot", line_color="#868e96")
    fig.update_layout(title=title, font=FONT, height=300, margin=dict(l=10, r=10, t=50, b=50),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title="value after normalization (0 = the dataset's mean)")
    fig.update_yaxes(title="pixels")
    return fig
