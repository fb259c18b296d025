"""The Watch view's live parts, paced for the browser: a watched run redraws twice a second, and
what a tick sends is what the browser has to draw.

Measured in headless chromium on a 2-core machine (bench/bench_watching.py --browser, scratch
apps with one 2 Hz fragment each, same run): an empty 2 Hz fragment costs chromium 0.035-0.046 of
a core (each rerun sends new_session, status and script_finished messages whatever it draws); one
markdown element that changes 0.055-0.069; st.progress alone 0.105-0.124 (its bar animates its
width on every update); the same bar as a div in the numbers' HTML 0.057-0.061. A plotly line of
400 points redrawn at 2 Hz 0.15-0.18, st.line_chart 0.21-0.23, an inline SVG path 0.055-0.067.

So the 2 Hz fragment holds one element: the numbers, the progress bar (``numbers``) and, while the
run goes, the loss curve as inline SVG (``live_curve``: figures/live_svg.py, ~3 ms to build,
~5-9 kB), then the coach's words (training.diagnose: 0.5 ms on 5,000 steps); a finished run gets
the plotly figure (hover, zoom). The run's name, status and Stop are drawn with the page (a status
change reruns it, see views/train.py); the epoch curves and the learning rate refresh at
SLOW_EVERY_S (the learning rate drawn to the last finished epoch: ``lr_steps``): 2.25 fragment
reruns a second, was 2.75 with the loss curve in a 2 s fragment of its own.

Measured against the previous builds in the same run (bench_watching.py --browser):
- round 1 (four runs, load 5-11): 7.6-9 websocket messages and 3.4-5.2 kB a tick (was 13-16,
  6.0-8.1 kB), chromium 0.14-0.20 of a core (was 0.16-0.21);
- round 2 (two runs, eight 10 s windows per build, load 5-8.5): chromium 0.104-0.138 of a core
  (the previous build 0.142-0.172), 6.9-7.5 messages (was 7.6-8.7), 1.1-1.3 elements (was
  1.2-1.5) and 6.4-10.5 kB a tick (was 5.8-10.8: the curve goes every tick, plotly's every 2 s),
  style and layout 2-8 ms a tick (was 6-15). The curve as its own SVG element under the numbers
  measured 0.121-0.156 (three runs): the numbers and the curve as one element save one element's
  redraw a tick. Chromium still pays ~0.05 of a core per fragment rerun a second, whatever it draws.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import streamlit as st

from playground import runs, training
from playground.figures import live_svg
from playground.figures import training as figs
from ui import plot

NUMBERS_EVERY_S = 0.5   # the numbers, the progress bar, the coach's findings and the loss curve
SLOW_EVERY_S = 4.0      # epoch curves and the learning rate


NUMBERS_CSS = ("<style>.pg-nums{display:flex;flex-wrap:wrap;gap:0.4rem 2.2rem;margin:0.2rem 0 0.6rem 0}"
               ".pg-nums .l{display:block;font-size:0.85rem;color:#6c757d}"
               ".pg-nums .v{font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}"
               ".pg-bar{height:0.5rem;border-radius:0.25rem;background:rgba(151,166,195,0.25);margin-top:0.3rem}"
               ".pg-bar>div{height:100%;border-radius:0.25rem;background:#ff4b4b}"
               ".pg-bar-t{font-size:0.9rem;margin:0.25rem 0 0.6rem 0}</style>")


def progress_html(fraction: float, text: str) -> str:
    """A progress bar with its text: a plain div, no transition (st.progress animates each update)."""
    pct = 100.0 * min(1.0, max(0.0, fraction))
    return (f"<div class='pg-bar' role='progressbar' aria-valuenow='{pct:.0f}' aria-valuemin='0' "
            f"aria-valuemax='100'><div style='width:{pct:.1f}%'></div></div>"
            f"<div class='pg-bar-t'>{html.escape(text)}</div>")


def numbers_html(items: Sequence[tuple[str, str, str | None]],
                 progress: tuple[float, str] | None = None) -> str:
    """(label, value, help) -> one line of labelled numbers (help as the label's tooltip), then
    ``progress`` = (fraction done, text) as a bar under them."""
    cells = "".join(f"<div><span class='l' title='{html.escape(h or '', quote=True)}'>{html.escape(label)}</span>"
                    f"<span class='v'>{html.escape(value)}</span></div>" for label, value, h in items)
    bar = progress_html(*progress) if progress is not None else ""
    return f"{NUMBERS_CSS}<div class='pg-nums'>{cells}</div>{bar}"


def numbers(items: Sequence[tuple[str, str, str | None]], progress: tuple[float, str] | None = None,
            curve: str = "") -> None:
    """The run's numbers and progress, and the live loss ``curve`` under them (``live_curve``), as
    one element (a tick sends one delta)."""
    st.markdown(numbers_html(items, progress) + curve, unsafe_allow_html=True)


def classes_of(view: dict) -> int:
    return len(view["info"].get("classes") or []) or 10


def advice_of(view: dict) -> list:
    """The coach's findings on the run's records so far (training.diagnose)."""
    return training.diagnose(view["steps"], view["epochs"], classes_of(view), status=view["status"],
                             error=view["error"], steps_per_epoch=view["info"].get("steps_per_epoch"))


def lr_steps(view: dict) -> list[dict]:
    """The step records the live learning-rate chart draws: while the run goes, those up to the
    last finished epoch (all of them before the first ends), so that the slow fragment's re-sends
    are identical within an epoch: a plotly chart re-sent unchanged cost chromium about what a
    markdown element does, a changed one ~0.08 of a core-second per redraw (scratch apps, above)."""
    steps, epochs = view["steps"], view["epochs"]
    status = runs.STATUSES.get(view["status"])
    if not epochs or status is None or not status.going:
        return steps
    end = epochs[-1].get("step")
    return [s for s in steps if end is None or s["step"] <= end] or steps


def live_curve(view: dict, advice: list) -> str:
    """The loss curve while the run goes, with the coach's findings marked on it: one inline SVG
    (live_svg: a changed plotly chart costs chromium ~0.1 of a core more at 2 Hz)."""
    if not view["steps"]:
        return ""
    return live_svg.loss_svg(view["steps"], view["epochs"], advice, num_classes=classes_of(view))


def coach_and_loss(view: dict | None, advice: list, live: bool = False) -> None:
    """The coach's findings in words, then, once the run is over (not ``live``), the loss curve
    with the findings marked on it as a plotly figure (hover, zoom)."""
    if view is None:
        return
    for a in advice:
        getattr(st, a.level)(f"**{a.title}.** {a.text}")
    if view["steps"] and not live:
        st.plotly_chart(plot.lean(figs.loss_curve(view["steps"], view["epochs"], advice, num_classes=classes_of(view))),
                        key="train_loss_chart", width="stretch", config={"displaylogo": False})
