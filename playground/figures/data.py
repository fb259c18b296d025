"""Figures of a learner's own data before training: images per class and split. Data in,
``go.Figure`` out."""
from __future__ import annotations

import plotly.graph_objects as go

# One colour per split, the same on every chart: training blue, validation orange, test green.
SPLIT_COLOURS = {"train": "#3b5bdb", "val": "#e8590c", "test": "#2b8a3e"}
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test (held out)"}


def split_counts(counts: dict[str, dict[str, int]], title: str = "Images per class") -> go.Figure:
    """Horizontal bars, one group per class, one bar per split (``counts``: split -> class ->
    images, as ``playground.data.Inspection.counts`` has it)."""
    classes = sorted({c for per in counts.values() for c in per})
    fig = go.Figure()
    for split, per in counts.items():
        fig.add_bar(y=classes, x=[per.get(c, 0) for c in classes], orientation="h",
                    name=SPLIT_NAMES.get(split, split), marker_color=SPLIT_COLOURS.get(split),
                    text=[f"{per.get(c, 0):,}" for c in classes], textposition="auto", textangle=0,
                    hovertemplate="%{y}: %{x:,} images<extra>" + SPLIT_NAMES.get(split, split) + "</extra>")
    fig.update_layout(title=dict(text=title, font=dict(size=18)), barmode="group", font=dict(size=15),
                      height=max(220, 90 + 28 * len(classes) * max(1, len(counts))),
                      margin=dict(l=10, r=20, t=60, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      xaxis=dict(title=dict(text="images"), rangemode="tozero"),
                      yaxis=dict(autorange="reversed", automargin=True))
    return fig
