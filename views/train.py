"""Training runs: launch a run, watch it live, stop it, compare runs, resume interrupted ones."""
from __future__ import annotations

import functools
import html
import math
import time

import pandas as pd
import streamlit as st

from playground import export, runs, training
from playground.figures import training as figs
from ui.common import fmt_int, page_intro, plain, show_error
from playground.runs import owners
from playground.tasks import TASKS, results
from ui.data_inspection import release_closed_uploads, upload_for
from ui.owner import browser_owner, server_mode
from ui import task_views, watch
from ui.run_form import run_form
from ui import links, plot, race_panel, train_links

page_intro("train")

VIEWS = ["New run", "Watch", "Compare", "Race"]


@st.cache_resource
def get_registry(root: str) -> runs.Registry:
    """The process-wide registry: every session, tab and page switch sees the same live runs."""
    return runs.registry()


REG = get_registry(str(runs.runs_dir()))
MODE = server_mode()        # single: anyone may stop/resume/delete; class: the starting browser
ME = browser_owner()        # this browser's owner id (a cookie's token, hashed)
GPUS = training.gpu_count()  # several: runs go to torchrun subprocesses, placed per GPU
LAUNCH = runs.launcher()
release_closed_uploads()    # closed tabs' uploads, which Streamlit itself keeps (see there)


def _start(cfg: training.RunConfig, gpus: int = 0) -> None:
    try:
        if GPUS > 1:    # a torchrun subprocess on free GPUs (or the launcher's queue)
            rid = LAUNCH.submit(cfg, gpus or 1, owner=ME, upload=upload_for(cfg.data))
        else:
            rid = REG.start(cfg, owner=ME, upload=upload_for(cfg.data))
    except training.TrainingError as e:
        st.session_state["train_start_error"] = str(e)
        return
    st.session_state["train_run"] = rid
    st.session_state["train_view"] = "Watch"


def _fmt_secs(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = int(round(s))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s} s"


# --------------------------------------------------------------------------------------------
# New run
# --------------------------------------------------------------------------------------------
def new_run_view() -> None:
    err = st.session_state.pop("train_start_error", None)
    if err:
        show_error(f"The run could not start: {err}")
    got = run_form()
    if got is None:   # no usable data yet: the button stays, waiting for it
        st.button("Start training", type="primary", key="train_start", disabled=True,
                  icon=":material/play_arrow:", help="Give the data first (above).")
        return
    cfg, problem, data_label = got
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    m = cfg.model
    net = m.get('preset') or m.get('torchvision') or ("U-Net" if "unet" in m else "your network")
    default_name = f"{net}, {cfg.optimizer} lr {cfg.lr:g}"
    if data_label:   # the learner's own zip or folder, by its own name
        default_name = f"{data_label}: {default_name}"
    cfg.name = c1.text_input("Run name", value="", placeholder=default_name, key="train_name") or \
        f"{default_name} #{len(runs.list_runs()) + 1}"
    gpus = 0
    if GPUS > 1:
        c1, c3, c2 = st.columns([3, 1, 1], vertical_alignment="bottom")
        gpus = c3.number_input("GPUs", 1, GPUS, 1, key="train_gpus",
                               help=f"This machine has {GPUS} GPUs: the run trains on this many at once "
                                    "(torchrun, one process each; the batch size is split between them).")
    c2.button("Start training", type="primary", key="train_start", on_click=_start, args=(cfg, gpus),
              disabled=bool(problem), width="stretch", icon=":material/play_arrow:")
    active = REG.live()
    if active:
        st.caption(f"{len(active)} run(s) going or queued; at most {REG.max_concurrent} train at once, "
                   "the others wait in the queue.")


# --------------------------------------------------------------------------------------------
# Watch one run
# --------------------------------------------------------------------------------------------
def _badge(status: str) -> str:
    s = runs.STATUSES.get(status)
    return f":{s.color}-badge[:material/{s.icon}: {status.capitalize()}]" if s else f":gray-badge[{status}]"


def _stop(run_id: str) -> None:
    try:
        if not REG.stop(run_id, owner=ME, mode=MODE):
            info = runs.find_run(run_id)
            if info is not None and info.remote:     # another process: say what Stop did
                st.toast(runs.stop_remote(info, mode=MODE, owner=ME), icon=":material/stop:",
                         duration="long")
    except owners.NotYourRun as e:
        st.session_state["train_resume_error"] = f"Could not stop: {e}"


def _resume(run_id: str) -> None:
    try:
        if GPUS > 1:    # on as many GPUs as it had, under torchrun, placed like a new run
            REG.check(run_id, ME, "resume", MODE)
            LAUNCH.resume(run_id, min(GPUS, runs.world_size(run_id)))
        else:
            REG.resume(run_id, owner=ME, mode=MODE)
    except (training.TrainingError, owners.NotYourRun) as e:
        st.session_state["train_resume_error"] = f"Could not resume: {e}"


def _delete(run_id: str) -> None:
    try:
        REG.delete(run_id, owner=ME, mode=MODE)
    except (training.TrainingError, owners.NotYourRun) as e:
        st.session_state["train_resume_error"] = f"Could not delete: {e}"
        return
    st.session_state.pop("train_run", None)


def _view(run_id: str) -> tuple[dict | None, runs.RunInfo | None]:
    """(what to draw, the folder's info). A run this process trains is read from memory only
    (a snapshot under its lock, no disk): this runs twice a second next to the training thread."""
    live = REG.get(run_id)
    if live is not None and not live.done.is_set():
        return live.snapshot(), None
    info = runs.find_run(run_id)
    return (runs.load_view(info), info) if info is not None else (None, None)


def live_heading(run_id: str, allowed: bool) -> None:
    """The run's name and status, where it trains, and Stop: drawn with the page, not at 2 Hz
    (ui/watch.py: a tick sends one element); live_panel reruns the page when the status changes."""
    view, info = _view(run_id)
    if view is None:
        return
    status = view["status"]
    st.session_state.setdefault("train_drawn_status", {})[run_id] = _drawn(view)
    going = runs.STATUSES[status].going if status in runs.STATUSES else False
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    name = view["config"].get("name") or run_id
    c1.markdown(f"### {plain(name)} &nbsp; {_badge(status)}")   # a name is text, never Markdown
    if going and allowed:   # someone else's run in class mode: no Stop (the registry refuses it too)
        c2.button("Stop", key=f"train_stop_{run_id}", on_click=_stop, args=(run_id,), type="primary",
                  icon=":material/stop:", width="stretch")
    where = view["info"].get("gpus")
    world = view["info"].get("world_size") or 1
    if where is not None:
        st.caption(f"Trains on {runs.placement.label(where)}" + (f" ({world} processes)" if world > 1 else ""))
    if info is not None and info.remote:
        st.caption(f"Trained by another process (pid {info.pid}); followed through its metrics file.")


def _drawn(view: dict) -> tuple[str, bool]:
    """What the heading shows that can change while the run is watched: its status, and whether
    it knows where it trains yet (the loop says so once it has started)."""
    return view["status"], view["info"].get("gpus") is not None


def live_panel(run_id: str) -> None:
    """The 2 Hz fragment: the numbers, the progress bar and the loss curve as one element, then
    the coach's findings (ui/watch.py says why)."""
    view, _ = _view(run_id)
    if view is None:
        st.warning("This run's folder is gone.")
        return
    status = view["status"]
    if st.session_state.get("train_drawn_status", {}).get(run_id, _drawn(view)) != _drawn(view):
        st.rerun(scope="app")      # the heading, Stop and the other panels follow the new status
    going = runs.STATUSES[status].going if status in runs.STATUSES else False
    prog, steps, epochs = view["progress"], view["steps"], view["epochs"]
    advice = watch.advice_of(view)
    sm = training.smooth([s["loss"] for s in steps if math.isfinite(s["loss"])])
    last = epochs[-1] if epochs else {}
    ips = prog.get("images_per_second") if going else last.get("images_per_second")
    total = prog.get("total_steps") or 0
    bar = ((min(1.0, (prog.get("step") or 0) / total) if total else 0.0,
            f"step {fmt_int(prog.get('step') or 0)} of {fmt_int(total)} · {view['message']}") if going else None)
    watch.numbers([
        ("Epoch", f"{prog.get('epoch', 0):.1f} / {prog.get('epochs') or view['config'].get('epochs', '?')}", None),
        ("Train loss", f"{sm[-1]:.3f}" if sm else "–", "smoothed over recent steps"),
        _headline(view["config"].get("task"), last),
        ("Images / s", fmt_int(ips) if ips else "–", None),
        ("Elapsed", _fmt_secs(prog.get("elapsed")), None),
        ("Time left", _fmt_secs(prog.get("eta")) if going else "–", None)], progress=bar,
        curve=watch.live_curve(view, advice) if going else "")
    if status == "failed" and view["error"]:
        show_error(view["error"], detail=view.get("error_detail") or None)
    if not steps:
        st.info("Waiting for the first training step ..." if going else "This run has no metrics.")
    watch.coach_and_loss(view, advice, live=going)     # words; the loss curve once it is over


def slow_panel(run_id: str) -> None:
    """Epoch curves and the learning rate: they change once an epoch (ui/watch.py: lr_steps)."""
    view, _ = _view(run_id)
    if view is None or not view["steps"]:
        return
    left, right = st.columns([2, 1])
    if view["epochs"]:
        left.plotly_chart(plot.lean(figs.epoch_curves(view["epochs"])), key="train_epoch_chart", width="stretch")
    else:
        left.info("Validation loss and accuracy appear after the first epoch.")
    right.plotly_chart(plot.lean(figs.live_lr(watch.lr_steps(view))), key="train_lr_chart", width="stretch")
    task_views.task_panel(runs.runs_dir() / run_id, view)     # a segment run: the mask strip


def after_run(info: runs.RunInfo) -> None:
    analysis, wrong = runs.read_analysis(info.dir)
    if not analysis:
        return
    st.subheader("After the run: where it goes wrong")
    names = analysis["class_names"]
    shown = [html.escape(str(n), quote=False) for n in names]   # plotly renders HTML (links) in labels
    c1, c2 = st.columns(2)
    c1.plotly_chart(figs.confusion(analysis["confusion"], shown), key="train_confusion", width="stretch")
    c2.plotly_chart(figs.per_class(analysis["per_class_acc"], shown), key="train_per_class", width="stretch")
    if analysis["wrong"] and wrong is not None:
        st.markdown("**The most confidently wrong validation images**")
        cols = st.columns(8)
        for i, w in enumerate(analysis["wrong"][:16]):
            cols[i % 8].image(wrong[i], width="stretch",
                              caption=f"{plain(names[w['true']])} → {plain(names[w['pred']])} ({w['confidence']:.0%})")
        st.caption("Caption: true class → predicted class (the model's confidence).")
    elif not analysis["wrong"]:
        st.success("No validation image was misclassified.")


COMPARE_CURVES = ("val_acc", "val_loss", "train_loss", "train_acc")   # every task's epoch lines have these


def _headline(task: str | None, last: dict) -> tuple[str, str, str | None]:
    """The live numbers' result: what a run of ``task`` is judged by, its last value."""
    key = results.headline(task)
    return results.short(key)[:1].upper() + results.short(key)[1:], results.fmt(key, last.get(key)), results.explain(key)


def _run_label(info: runs.RunInfo) -> str:
    """Name and start time (the status is shown live below; a label could go stale)."""
    return f"{info.name}  ·  started {time.strftime('%d %b %H:%M', time.localtime(info.created))}"


def _launches() -> None:
    """Runs handed to torchrun that have not written their folder yet: where they go, or why
    they never started; the page reruns when one appears."""
    for job in LAUNCH.jobs_not_started():
        problem = LAUNCH.problem(job.id)
        if problem:
            show_error(f"The run {job.id} could not start.", detail=problem)
        else:
            st.info(f"Run {plain(job.id)}: {job.where}" + (" (starting torchrun ...)" if job.gpus is not None else ""))
            if job.gpus is None:
                st.button("Take it out of the queue", key=f"train_cancel_{job.id}", on_click=LAUNCH.cancel,
                          args=(job.id,), icon=":material/close:")
    if LAUNCH.appeared():
        st.rerun(scope="app")


def watch_view() -> None:
    if LAUNCH.jobs:
        st.fragment(run_every=1.0)(_launches)()
    all_runs = runs.list_runs()
    if not all_runs:
        st.info("No runs yet: start one under **New run**.")
        return
    ids = [r.id for r in all_runs]
    by_id = {r.id: r for r in all_runs}
    if st.session_state.get("train_run") not in ids:
        st.session_state["train_run"] = ids[0]
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    run_id = c1.selectbox("Run", ids, key="train_run", format_func=lambda i: _run_label(by_id[i]))
    info = by_id[run_id]
    err = st.session_state.pop("train_resume_error", None)
    if err:
        show_error(err)
    if info.status == "damaged":
        show_error(f"This run's files are damaged, so it cannot be shown or resumed: {plain(info.problem)}")
        return
    allowed = REG.may_control(info, ME, MODE)
    if not allowed:
        st.caption(owners.caption(info.owner, ME))
    if allowed and (info.can_resume and info.status != "failed" or info.status == "interrupted"):
        c2.button("Resume", key="train_resume", on_click=_resume, args=(run_id,), width="stretch",
                  icon=":material/resume:", help="Continue from the last checkpoint (end of the last epoch).")
    going = info.status in runs.STATUSES and runs.STATUSES[info.status].going
    live_heading(run_id, allowed)
    st.fragment(run_every=watch.NUMBERS_EVERY_S if going else None)(live_panel)(run_id)
    st.fragment(run_every=watch.SLOW_EVERY_S if going else None)(slow_panel)(run_id)
    if info.status == "finished":
        after_run(info)
    with st.expander("Run folder and checkpoints"):
        st.code(str(info.dir), language=None)
        st.write("best.pt: the epoch with the best validation accuracy; last.pt: the last epoch. Both "
                 "load with `playground.checkpoints.load_checkpoint` (weights only, never pickle).")
        if allowed and not going:
            st.button("Delete this run", key="train_delete", on_click=_delete, args=(run_id,),
                      icon=":material/delete:", help="Its folder, and the uploaded zip it trained on "
                                                     "when no other run uses it.")
        if info.status == "finished":   # the zip is built when clicked, in Streamlit's own thread
            st.download_button("Export as a standalone script (zip)", functools.partial(export.export_zip, info.dir),
                               file_name=f"{info.id}.zip", mime="application/zip", key="train_export",
                               on_click="ignore", icon=":material/download:",
                               help="train.py, model.py and the data: runs with `python train.py` or "
                                    "`torchrun --nproc_per_node=2 train.py`, only torch and torchvision needed.")


# --------------------------------------------------------------------------------------------
# Compare
# --------------------------------------------------------------------------------------------
def _settings(config: dict) -> dict:
    """A run's settings as flat rows; an empty loss (the task's own) named."""
    flat = _flat(config)
    task = TASKS.get(str(config.get("task", "classify")))
    if not flat.get("loss") and task is not None:
        flat["loss"] = task.default_loss
    return flat


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if k == "name":
            continue
        if isinstance(v, dict) and k != "spec":
            out.update(_flat(v, f"{prefix}{k}."))
        elif k == "spec":
            out[f"{prefix}spec"] = v.get("name", "custom") if isinstance(v, dict) else str(v)
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare_view() -> None:
    done = [r for r in runs.list_runs() if r.summary]
    if len(done) < 1:
        st.info("Runs appear here once they have finished an epoch.")
        return
    by_id = {r.id: r for r in done}
    chosen = st.multiselect("Runs to compare", list(by_id), default=list(by_id)[:3], key="train_compare",
                            format_func=lambda i: by_id[i].label)
    own = list(dict.fromkeys(m for r in chosen for m in results.task_results(by_id[r].config.get("task"))))
    metric = st.segmented_control("Curve", [*own, *(m for m in COMPARE_CURVES if m not in own)],
                                  default=own[0] if own else "val_acc", key="train_compare_metric",
                                  format_func=results.words)
    if not chosen:
        return
    names = [by_id[r].name for r in chosen]        # two runs of one name: told apart by their id's end
    col = {r: f"{n} ({r[-4:]})" if names.count(n) > 1 else n for r, n in zip(chosen, names)}
    series = []
    for rid in chosen:
        _, epochs, _ = runs.read_metrics(by_id[rid].dir)
        series.append({"name": html.escape(col[rid], quote=False), "epochs": epochs})
    st.plotly_chart(figs.compare_runs(series, metric or "val_acc"), key="train_compare_chart", width="stretch")
    rows = {col[r]: {**_settings(by_id[r].config),
                            **{f"result: {results.short(m)}": results.fmt(m, by_id[r].summary.get(m)) for m in own},
                            "result: epochs done": by_id[r].summary.get("epochs")} for r in chosen}
    df = pd.DataFrame(rows).astype(str)
    differs = df.nunique(axis=1) > 1
    df = df.loc[[i for i in df.index if differs[i] or not i.startswith("result")]]
    st.markdown("**Settings** (rows that differ between the runs are highlighted)")
    styled = df.style.apply(lambda row: ["background-color: #fff3bf; font-weight: bold" if differs[row.name]
                                         else "" for _ in row], axis=1)
    st.dataframe(styled, width="stretch", height=min(800, 40 + 35 * len(df)))


links.bind(train_links.PAGE, train_links.link_params(VIEWS))
links.share(train_links.PAGE)
if st.session_state.get("train_view") not in VIEWS:
    st.session_state["train_view"] = "Watch" if REG.live() else "New run"
view = st.segmented_control("View", VIEWS, key="train_view", label_visibility="collapsed")
if view == "Watch":
    watch_view()
elif view == "Compare":
    compare_view()
elif view == "Race":
    race_panel.race_view()
else:
    new_run_view()

with st.expander("How a run works"):
    st.markdown(
        "- The run trains in a background thread of the app; this page only reads snapshots of its "
        "metrics, twice a second. Switch pages or open a second tab: the run goes on.\n"
        "- Every run is a folder in the runs directory: `config.json`, `metrics.jsonl` (appended "
        "as it trains), `best.pt` and `last.pt` (self-describing checkpoints). If the app is "
        "killed, the run is marked *interrupted* and can be resumed from its last epoch.\n"
        "- The data sits in memory as one tensor; each batch is cut from it and augmented as "
        "whole-batch tensor operations (no per-image PIL), which is why it is fast on a CPU.\n"
        "- The same training runs headless: `python -m playground train --data shapes --epochs 5`.")
