"""Figures for Inside and Classify: top-k bars, images, feature-map grids, filters, kernels,
the normalized input's histogram. Data in (numpy / tensors), ``go.Figure`` out."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import torch

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
    fig.update_yaxes(title=None, automargin=True)
    return fig


def image(arr, title: str | None = None, height: int | None = 360) -> go.Figure:
    """An RGB uint8 (H, W, 3) or gray (H, W) image, as a PNG inside the figure."""
    a = _np(arr)
    if a.dtype != np.uint8:
        a = (a.clip(0, 1) * 255).round().astype(np.uint8)
    fig = px.imshow(a, binary_string=True, title=title)
    fig.update_traces(hovertemplate="x %{x}, y %{y}<extra></extra>")
    return _bare(fig, height)


def feature_grid(maps, titles: list[str], cols: int = 8, title: str | None = None,
                 cell: int = 130) -> go.Figure:
    """Channels (N, H, W), each already scaled to [0, 1], as a grid of gray images with a
    title per cell (``px.imshow`` facets, one PNG each)."""
    a = (_np(maps).clip(0, 1) * 255).round().astype(np.uint8)
    n = a.shape[0]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = px.imshow(a, facet_col=0, facet_col_wrap=cols, binary_string=True,
                    facet_row_spacing=min(0.12, 0.5 / rows), facet_col_spacing=0.01)
    # facet annotations come in plotly's order (bottom row first); map them by facet index
    for ann in fig.layout.annotations:
        i = int(ann.text.split("=")[-1])
        ann.text = titles[i] if i < len(titles) else ""
        ann.font = dict(size=13)
    fig.update_traces(hovertemplate="x %{x}, y %{y}<extra></extra>")
    _bare(fig, height=int(40 + rows * (cell + 24)))
    if title:
        fig.update_layout(title=title)
    return fig


def filter_tiles(tiles, cols: int = 16, title: str | None = None, cell: int = 70) -> go.Figure:
    """First-layer filters as tiles: (N, k, k, 3) colour or (N, k, k) gray, values in [0, 1]
    (0.5 = weight 0). Drawn crisp (one square per weight)."""
    a = _np(tiles)
    n = a.shape[0]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    img = (a.clip(0, 1) * 255).round().astype(np.uint8)
    if img.ndim == 3:
        img = np.repeat(img[..., None], 3, axis=-1)
    fig = px.imshow(img, facet_col=0, facet_col_wrap=cols, facet_row_spacing=min(0.08, 0.4 / rows),
                    facet_col_spacing=0.01)
    for ann in fig.layout.annotations:
        ann.text = f"#{int(ann.text.split('=')[-1])}"
        ann.font = dict(size=11)
    fig.update_traces(hovertemplate="filter weight at x %{x}, y %{y}<extra></extra>")
    _bare(fig, height=int(40 + rows * (cell + 18)))
    if title:
        fig.update_layout(title=title)
    return fig


def weight_grid(weights, titles: list[str], cols: int = 8, title: str | None = None,
                cell: int = 110) -> go.Figure:
    """(N, k, k) kernels (one filter's slices per input channel), on one diverging colour
    scale centred at 0 (red positive, blue negative), each weight written in when k <= 5."""
    a = _np(weights)
    n = a.shape[0]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    top = float(np.abs(a).max()) or 1.0
    fig = px.imshow(a, facet_col=0, facet_col_wrap=cols, color_continuous_scale="RdBu_r",
                    zmin=-top, zmax=top, text_auto=".2f" if a.shape[-1] <= 5 else False,
                    facet_row_spacing=min(0.1, 0.4 / rows), facet_col_spacing=0.02)
    for ann in fig.layout.annotations:
        i = int(ann.text.split("=")[-1])
        ann.text = titles[i] if i < len(titles) else ""
        ann.font = dict(size=12)
    fig.update_traces(hovertemplate="weight %{z:.4f}<extra></extra>")
    _bare(fig, height=int(60 + rows * (cell + 22)))
    fig.update_layout(coloraxis_showscale=True, coloraxis_colorbar=dict(title="weight"))
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
