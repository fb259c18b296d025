"""The Watch view's live parts, paced for the browser: a watched run redraws twice a second, and
what a tick sends is what the browser has to draw.

Measured with bench/bench_feel.py (headless chromium on a 2-core machine, a run watched at 2 Hz):
the whole live panel in one 0.5 s fragment, loss curve included, cost chromium 0.42-0.45 of a
core and 24-27 kB per tick. The numbers (status, metrics, progress) stay at 2 Hz; the loss curve,
a plotly figure that the browser lays out again on each update, has its own fragment at
CHART_EVERY_S with the coach's findings (slow to change, long texts); the epoch curves and the
learning rate refresh at SLOW_EVERY_S. With the numbers alone at 2 Hz chromium used 0.15 of a core
and 4.2 kB a tick (25 websocket messages, one per element).
"""
from __future__ import annotations

import streamlit as st

from playground import training
from playground.figures import training as figs

NUMBERS_EVERY_S = 0.5   # status, metrics, progress bar, Stop
CHART_EVERY_S = 2.0     # the loss curve
SLOW_EVERY_S = 4.0      # epoch curves and the learning rate


def classes_of(view: dict) -> int:
    return len(view["info"].get("classes") or []) or 10


def advice_of(view: dict) -> list:
    """The coach's findings on the run's records so far (training.diagnose)."""
    return training.diagnose(view["steps"], view["epochs"], classes_of(view), status=view["status"],
                             error=view["error"], steps_per_epoch=view["info"].get("steps_per_epoch"))


def coach_and_loss(view: dict | None) -> None:
    """The coach's findings, then the loss while training with the findings marked on it."""
    if view is None:
        return
    advice = advice_of(view)
    for a in advice:
        getattr(st, a.level)(f"**{a.title}.** {a.text}")
    if view["steps"]:
        st.plotly_chart(figs.loss_curve(view["steps"], view["epochs"], advice, num_classes=classes_of(view)),
                        key="train_loss_chart", width="stretch", config={"displaylogo": False})
