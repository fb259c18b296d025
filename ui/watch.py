"""The Watch view's live parts, paced for the browser: a watched run redraws twice a second, and
what a tick sends is what the browser has to draw.

Measured with bench/bench_feel.py (headless chromium on a 2-core machine, a run watched at 2 Hz):
the whole live panel in one 0.5 s fragment, loss curve included, cost chromium 0.42-0.45 of a
core and 24-27 kB per tick. The numbers (status, metrics, progress) stay at 2 Hz; the loss curve,
a plotly figure that the browser lays out again on each update, has its own fragment at
CHART_EVERY_S with the coach's findings (slow to change, long texts); the epoch curves and the
learning rate refresh at SLOW_EVERY_S. With the numbers alone at 2 Hz chromium used 0.15 of a core
and 4.2 kB a tick (25 websocket messages, one per element). The six numbers are one line of HTML
(``numbers``), not six st.metric in six columns: 13 elements a tick become one.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import streamlit as st

from playground import training
from playground.figures import training as figs
from ui import plot

NUMBERS_EVERY_S = 0.5   # status, metrics, progress bar, Stop
CHART_EVERY_S = 2.0     # the loss curve
SLOW_EVERY_S = 4.0      # epoch curves and the learning rate


NUMBERS_CSS = ("<style>.pg-nums{display:flex;flex-wrap:wrap;gap:0.4rem 2.2rem;margin:0.2rem 0 0.6rem 0}"
               ".pg-nums .l{display:block;font-size:0.85rem;color:#6c757d}"
               ".pg-nums .v{font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}</style>")


def numbers_html(items: Sequence[tuple[str, str, str | None]]) -> str:
    """(label, value, help) -> one line of labelled numbers (help as the label's tooltip)."""
    cells = "".join(f"<div><span class='l' title='{html.escape(h or '', quote=True)}'>{html.escape(label)}</span>"
                    f"<span class='v'>{html.escape(value)}</span></div>" for label, value, h in items)
    return f"{NUMBERS_CSS}<div class='pg-nums'>{cells}</div>"


def numbers(items: Sequence[tuple[str, str, str | None]]) -> None:
    """The run's numbers as one element (a tick sends one delta, the browser lays out one line)."""
    st.markdown(numbers_html(items), unsafe_allow_html=True)


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
        st.plotly_chart(plot.lean(figs.loss_curve(view["steps"], view["epochs"], advice, num_classes=classes_of(view))),
                        key="train_loss_chart", width="stretch", config={"displaylogo": False})
