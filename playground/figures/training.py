"""Figures of training runs: live loss, epoch curves, learning-rate schedules, run comparison,
confusion matrix and per-class accuracy. Data in, ``go.Figure`` out."""
from __future__ import annotations

import math
from typing import Any, Sequence

import plotly.graph_objects as go

from ..training.coach import Advice, smooth
from ..tasks import results

PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700", "#495057"]
FONT = dict(size=15)
# A legend of long names in a half-width column wraps, and above the plot it then covers the
# title: below the x axis instead (with the bottom margin that makes room for it).
LEGEND_BELOW = dict(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0),
                    margin=dict(l=60, r=20, t=60, b=100))
# the loss curve's words and colours, for the plotly figure and the live SVG (figures/live_svg.py)
LOSS_TITLE = "Loss while training"
LOSS_AXES = ("training step (batches)", "loss (cross-entropy)")
LOSS_LINES = {"raw": ("train loss (each step)", "rgba(59,91,219,0.3)"),
              "smoothed": ("train loss (smoothed)", PALETTE[0]),
              "val": ("validation loss (each epoch)", PALETTE[1])}
CHANCE_COLOR = "#868e96"


def advice_color(a: Advice) -> str:
    return "#c92a2a" if a.level == "error" else "#e67700"


def chance_note(num_classes: int) -> str:
    return f"chance: ln({num_classes}) = {math.log(num_classes):.2f}"


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(**_base_layout(title, height))
    return fig


def _base_layout(title: str, height: int) -> dict[str, Any]:
    return dict(title=dict(text=title, font=dict(size=18)), height=height, font=FONT,
                margin=dict(l=60, r=20, t=60, b=50),
                legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                uirevision="keep")


def _fast_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts without plotly's per-property validation (a live chart is
    rebuilt twice a second while the training thread wants the GIL: this takes ~1 ms instead
    of ~50). The dicts below are plain plotly JSON."""
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:  # pragma: no cover - a plotly without the private switch
        return go.Figure(data=data, layout=layout)


def _thin(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list, list]:
    if len(xs) <= max_points:
        return list(xs), list(ys)
    k = math.ceil(len(xs) / max_points)
    return list(xs[::k]), list(ys[::k])


def loss_series(steps: list[dict], alpha: float = 0.9, max_points: int = 600) -> tuple[tuple[list, list], tuple[list, list]]:
    """The loss curve's lines as plain data: ((steps, raw loss or None), (steps, smoothed loss)),
    each thinned to ``max_points`` (used by the plotly figure and by figures/live_svg.py)."""
    x = [s["step"] for s in steps]
    y = [s["loss"] if math.isfinite(s["loss"]) else None for s in steps]
    finite = [v for v in y if v is not None]
    sm = smooth(finite, alpha) if finite else []
    xf = [xi for xi, v in zip(x, y) if v is not None]
    return _thin(x, y, max_points), _thin(xf, sm, max_points)


def marker_step(a: Advice, epochs: list[dict] | None) -> int | None:
    """Where a finding is marked on the loss curve (its step, or its epoch's last step); None for
    a verdict on the whole run."""
    if a.kind in ("good", "segment_done"):
        return None
    if a.step is None and a.epoch is not None and epochs:
        return next((e["step"] for e in epochs if e["epoch"] == a.epoch), None)
    return a.step


def loss_curve(steps: list[dict], epochs: list[dict] | None = None, advice: list[Advice] | None = None,
               *, num_classes: int | None = None, alpha: float = 0.9, max_points: int = 600) -> go.Figure:
    """Per-step training loss, raw (light) and smoothed (bold), validation loss at each epoch's
    end, the chance level ln(classes), and the coach's findings marked on the curve."""
    (xr, yr), (xs, ys) = loss_series(steps, alpha, max_points)
    data = [dict(type="scatter", x=xr, y=yr, mode="lines", name=LOSS_LINES["raw"][0],
                 line=dict(color=LOSS_LINES["raw"][1], width=1)),
            dict(type="scatter", x=xs, y=ys, mode="lines", name=LOSS_LINES["smoothed"][0],
                 line=dict(color=LOSS_LINES["smoothed"][1], width=3))]
    if epochs:
        data.append(dict(type="scatter", x=[e["step"] for e in epochs], y=[e["val_loss"] for e in epochs],
                         mode="lines+markers", name=LOSS_LINES["val"][0],
                         line=dict(color=LOSS_LINES["val"][1], width=3), marker=dict(size=9)))
    shapes, notes = [], []
    if num_classes and num_classes > 1:
        c = math.log(num_classes)
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=c, y1=c,
                           line=dict(color=CHANCE_COLOR, dash="dot", width=2)))
        notes.append(dict(xref="paper", x=0.01, y=c, yanchor="bottom", xanchor="left", showarrow=False,
                          text=chance_note(num_classes), font=dict(color="#495057")))
    for a in advice or []:
        at = marker_step(a, epochs)
        if at is not None:
            color = advice_color(a)
            shapes.append(dict(type="line", yref="paper", x0=at, x1=at, y0=0, y1=1,
                               line=dict(color=color, width=2, dash="dash")))
            notes.append(dict(x=at, yref="paper", y=0.98, xanchor="right", showarrow=False,
                              text=a.title.split(":")[0], font=dict(color=color, size=14)))
    layout = _base_layout(LOSS_TITLE, 380)
    layout.update(shapes=shapes, annotations=notes,
                  xaxis=dict(title=dict(text=LOSS_AXES[0]), rangemode="tozero"),
                  yaxis=dict(title=dict(text=LOSS_AXES[1]), rangemode="tozero"))
    return _fast_figure(data, layout)


def epoch_curves(epochs: list[dict]) -> go.Figure:
    """Train vs validation loss and accuracy per epoch, side by side."""
    ep = [e["epoch"] for e in epochs]
    data = []
    for axis, key in (("", "loss"), ("2", "acc")):
        for i, split in enumerate(("train", "val")):
            word = "accuracy" if key == "acc" else "loss"
            data.append(dict(type="scatter", x=ep, y=[e[f"{split}_{key}"] for e in epochs],
                             mode="lines+markers", xaxis=f"x{axis}", yaxis=f"y{axis}",
                             name=f"{'training' if split == 'train' else 'validation'} {word}",
                             line=dict(color=PALETTE[i], width=3, dash="solid" if key == "loss" else "dot"),
                             marker=dict(size=9)))
    dtick = 1 if len(ep) <= 20 else None
    layout = _base_layout("Loss and accuracy per epoch", 360)
    layout.update(
        xaxis=dict(domain=[0, 0.44], title=dict(text="epoch"), dtick=dtick),
        xaxis2=dict(domain=[0.56, 1], title=dict(text="epoch"), dtick=dtick, anchor="y2"),
        yaxis=dict(title=dict(text="loss"), rangemode="tozero"),
        yaxis2=dict(title=dict(text="accuracy"), tickformat=".0%", range=[0, 1.02], anchor="x2"))
    return _fast_figure(data, layout)


def lr_curve(lrs: Sequence[float], steps_per_epoch: int, title: str = "Learning rate schedule",
             note: str = "") -> go.Figure:
    """The learning rate at every step, x in epochs."""
    x = [i / max(steps_per_epoch, 1) for i in range(len(lrs))]
    xs, ys = _thin(x, list(lrs), 1000)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=PALETTE[4], width=3),
                               name="learning rate"))
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="learning rate", exponentformat="e", rangemode="tozero")
    if note:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                           font=dict(size=14, color="#495057"))
    return _layout(fig, title, height=280)


def live_lr(steps: list[dict]) -> go.Figure:
    x = [s["step"] for s in steps]
    # "lr" is optional in a step record (a run folder is read, never trusted): a gap, not a crash
    lrs = [s.get("lr") if isinstance(s.get("lr"), (int, float)) and not isinstance(s.get("lr"), bool)
           else None for s in steps]
    xs, ys = _thin(x, lrs, 300)
    layout = _base_layout("Learning rate", 280)
    layout.update(xaxis=dict(title=dict(text="training step (batches)")),
                  yaxis=dict(title=dict(text="learning rate"), exponentformat="e", rangemode="tozero"))
    return _fast_figure([dict(type="scatter", x=xs, y=ys, mode="lines", name="learning rate",
                              line=dict(color=PALETTE[4], width=3))], layout)


def compare_runs(series: list[dict[str, Any]], metric: str = "val_acc") -> go.Figure:
    """Overlay runs: ``series`` = [{"name", "epochs"}]; ``metric`` a key of the epoch records."""
    label = results.words(metric)
    fig = go.Figure()
    for i, s in enumerate(series):
        eps = s["epochs"]
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in eps], y=[e.get(metric) for e in eps],
                                 mode="lines+markers", name=s["name"],
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=3), marker=dict(size=8)))
    fig.update_xaxes(title_text="epoch")
    if "acc" in metric:
        fig.update_yaxes(title_text=label, tickformat=".0%", range=[0, 1.02])
    elif results.is_share(metric):    # segment's and detect's scores
        fig.update_yaxes(title_text=label, range=[0, 1.02])
    else:
        fig.update_yaxes(title_text=label, rangemode="tozero")
    fig.update_xaxes(rangemode="tozero")
    return _layout(fig, f"{label[:1].upper()}{label[1:]} by run", height=400)


def confusion(cm: list[list[int]], class_names: list[str]) -> go.Figure:
    """Confusion matrix: rows the true class, columns the predicted one, counts in the cells."""
    import plotly.express as px

    fig = px.imshow(cm, x=class_names, y=class_names, text_auto=True, color_continuous_scale="Blues",
                    labels=dict(x="predicted class", y="true class", color="images"), aspect="auto")
    fig.update_xaxes(side="bottom", tickangle=-30)
    n = len(class_names)
    return _layout(fig, "Confusion matrix (validation set)", height=min(900, 200 + 42 * n))


def per_class(acc: list[float], class_names: list[str]) -> go.Figure:
    fig = go.Figure(go.Bar(x=class_names, y=acc, text=[f"{a:.0%}" for a in acc], textposition="outside",
                           marker_color=[PALETTE[2] if a >= 0.9 else PALETTE[6] if a >= 0.6 else "#c92a2a"
                                         for a in acc]))
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", range=[0, 1.12])
    fig.update_xaxes(title_text="class", tickangle=-30)
    return _layout(fig, "Accuracy per class (validation set)", height=max(320, 200 + 42 * min(len(acc), 8)))
