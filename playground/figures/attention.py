"""Figures of a vision transformer: how attention's cost grows with the image.

Data in (the plain dict rows of :meth:`playground.networks.patches.ViTFacts.cost_curve`),
``go.Figure`` out.
"""
from __future__ import annotations

import plotly.graph_objects as go

FONT = dict(size=16)


def attention_cost(rows: list[dict], dim: int, image: int | None = None) -> go.Figure:
    """One encoder block's MACs per image side, as two lines: the attention products
    (2 x tokens^2 x dim: quadratic in the tokens) and the projections + MLP (linear in the
    tokens). ``image``: the side the model was built for, marked."""
    sides = [r["side"] for r in rows]
    hover = [f"{r['side']} px: {r['tokens']:,} tokens" for r in rows]
    fig = go.Figure()
    for key, name, colour in (("attention", f"attention: 2 x tokens² x {dim}", "#E45756"),
                              ("linear", "projections + MLP: linear in tokens", "#4C78A8")):
        fig.add_trace(go.Scatter(
            x=sides, y=[r[key] / 1e9 for r in rows], name=name, mode="lines+markers",
            line=dict(color=colour), customdata=hover,
            hovertemplate="%{customdata}<br>%{y:,.3f} GMACs<extra>" + name + "</extra>"))
    if image:
        fig.add_vline(x=image, line_dash="dot", line_color="#777",
                      annotation_text=f"built for {image} px", annotation_position="top left")
    fig.update_layout(
        font=FONT, height=360, margin=dict(l=10, r=10, t=40, b=10),
        title="One encoder block's cost as the image grows",
        xaxis_title="image side (px)", yaxis_title="GMACs per block (log)", yaxis_type="log",
        legend=dict(orientation="h", yanchor="bottom", y=-0.45, x=0))
    return fig
