"""The Training page's "Race" view: a tiny CNN against a tiny ViT, the same time budget each,
over a range of images per class (:mod:`playground.race`, in a background thread the library
owns); rows and the plot appear as each model finishes."""
from __future__ import annotations

import streamlit as st

from playground import race
from playground.data import DataError
from playground.networks.vit import VIT_DEFAULTS, VIT_LR
from ui import plot
from ui.common import fmt_int, show_error

BUDGETS = [2, 5, 10, 20, 30, 60, 120]
SIZES = [10, 30, 100, 300, 1000]
COLOURS = {"Tiny CNN": "#1f77b4", "Tiny ViT": "#d62728"}
KEY = "race_state"          # the session's Race (its thread goes on across reruns)


def race_figure(rows: list[dict], budget_s: float) -> dict:
    """Validation accuracy against images per class (log x), one line per model: a plain
    plotly dict, lean (ui.plot)."""
    data = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["images_per_class"])
        data.append({"type": "scatter", "mode": "lines+markers", "name": model,
                     "x": [r["images_per_class"] for r in mine], "y": [r["val_acc"] for r in mine],
                     "line": {"color": COLOURS.get(model)},
                     "customdata": [[r["steps"]] for r in mine],
                     "hovertemplate": "%{x} per class: %{y:.1%} after %{customdata[0]} steps<extra>"
                                      + model + "</extra>"})
    layout = {"title": {"text": f"Validation accuracy with {budget_s:g} s of training each"},
              "xaxis": {"title": {"text": "training images per class"}, "type": "log"},
              "yaxis": {"title": {"text": "validation accuracy"}, "range": [0, 1], "tickformat": ".0%"},
              "height": 380, "margin": {"t": 50, "b": 40, "l": 60, "r": 20}}
    return plot.lean({"data": data, "layout": layout})


def _start(budget: float, sizes: list[int]) -> None:
    try:
        st.session_state[KEY] = race.start_race(budget, sizes)
    except DataError as e:
        st.session_state["race_error"] = str(e)


def _results(r: race.Race, was_running: bool) -> None:
    snap = r.snapshot()
    if was_running and snap["status"] != "running":
        st.rerun()          # the whole view: Start again, knobs enabled
    rows = snap["rows"]
    st.progress(len(rows) / snap["total"], text=f"{len(rows)} of {snap['total']} trained · {snap['status']}")
    if snap["error"]:
        show_error("The race stopped with an error.", detail=snap["error"])
    if rows:
        st.plotly_chart(race_figure(rows, snap["budget_s"]), key="race_chart", width="stretch")
        st.dataframe([{"images per class": fmt_int(x["images_per_class"]), "model": x["model"],
                       "val accuracy": f"{100 * x['val_acc']:.1f} %", "steps": fmt_int(x["steps"]),
                       "seconds": f"{x['seconds']:.1f}"} for x in rows], width="stretch", hide_index=True)
    if snap["status"] != "running":
        st.caption("Finished." if snap["status"] == "done" else f"Race {snap['status']}.")


def race_view() -> None:
    """Knobs, Start / Stop, and the rows as they arrive."""
    p = VIT_DEFAULTS["patch_size"]
    st.markdown(f"**Do transformers need more data?** A tiny CNN (the default network, 0.11 M "
                f"parameters) and a tiny ViT ({32 // p} x {32 // p} patches of {p} px, "
                f"{VIT_DEFAULTS['depth']} blocks, 0.08 M parameters) each train for the same number "
                "of seconds on 10 to 1,000 shapes per class, and are scored on the same 1,000 "
                "validation shapes.")
    current: race.Race | None = st.session_state.get(KEY)
    running = current is not None and current.snapshot()["status"] == "running"
    c1, c2, c3 = st.columns([1, 2, 1])
    budget = c1.select_slider("Seconds per model and size", BUDGETS, value=int(race.RACE_BUDGET_S),
                              key="race_budget", disabled=running)
    sizes = c2.multiselect("Images per class", SIZES, default=list(race.RACE_PER_CLASS),
                           key="race_sizes", disabled=running)
    c3.caption(f"About {fmt_int(budget * len(sizes) * len(race.MODELS))} s of training in all.")
    if running:
        c3.button("Stop", key="race_stop", on_click=current.stop, type="secondary")
    else:
        c3.button("Start the race", key="race_start", type="primary", on_click=_start,
                  args=(float(budget), list(sizes)))
    err = st.session_state.pop("race_error", None)
    if err:
        show_error(err)
    if current is not None:
        st.fragment(run_every=1.0 if running else None)(_results)(current, running)
    with st.expander("How the race is run"):
        st.markdown(
            "Both networks train the way a run does (AdamW, weight decay and batches of 32), each "
            f"at its own peak learning rate (the CNN 3e-3; the ViT {VIT_LR:g}: at 3e-3 it stays at "
            "chance), with a warm-up and a cosine decay stretched over the time budget, "
            "so each gets a whole schedule whatever its speed; no augmentation. The smaller "
            "training sets are the first images of each class of the larger ones. The ViT has no "
            "built-in sense that neighbouring pixels belong together (a CNN's small kernels do): "
            "it has to learn it from the data, which is the course's reason why transformers "
            "need more of it. The same race runs headless: `python -m playground race`.")
