"""Training runs: launch a run, watch it live, stop it, compare runs, resume interrupted ones."""
from __future__ import annotations

import hashlib
import json
import math
import time

import pandas as pd
import streamlit as st
import torch

from playground import data as data_mod
from playground import networks, runs, training
from playground.figures import training as figs
from ui.common import fmt_int, page_intro, show_error

page_intro("Training runs", "Launch a training run, watch its loss and accuracy move live, stop "
                            "it, change one thing, run again and compare.")

VIEWS = ["New run", "Watch", "Compare"]
LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
WDS = [0.0, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 0.1]
INSPECTOR = "Your network (from the inspector)"
DATA_LABELS = {"shapes": "Shapes (generated)", "mnist": "MNIST digits", "fashion-mnist": "FashionMNIST",
               "cifar10": "CIFAR-10", "zip": "Your zip of class folders"}


@st.cache_resource
def get_registry(root: str) -> runs.Registry:
    """The process-wide registry: every session, tab and page switch sees the same live runs."""
    return runs.registry()


REG = get_registry(str(runs.runs_dir()))


def _start(cfg: training.RunConfig) -> None:
    try:
        rid = REG.start(cfg)
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


@st.cache_data(show_spinner=False, max_entries=64)
def _param_counts(model_json: str, shape: tuple[int, int, int], classes: int) -> tuple[int, int, str]:
    """(total, trainable, error) of the model a config would build, on the meta device."""
    m = json.loads(model_json)
    try:
        if m.get("torchvision"):
            with torch.device("meta"):
                model = networks.build_torchvision(m["torchvision"], weights=None, num_classes=classes,
                                                   freeze=bool(m.get("freeze")) and bool(m.get("pretrained")))
        else:
            base = m["spec"] if m.get("spec") else networks.preset(m["preset"])
            spec = networks.adapt(base, shape, classes)
            with torch.device("meta"):
                model = networks.build(spec)
            out = networks.output_shape(spec)
            if out != (classes,):
                return 0, 0, f"the network's output shape is {out}, not one score per class ({classes})"
    except (networks.SpecError, KeyError, ValueError, RuntimeError) as e:
        return 0, 0, str(e)
    total, trainable = training.param_counts(model)
    return total, trainable, ""


# --------------------------------------------------------------------------------------------
# New run
# --------------------------------------------------------------------------------------------
def new_run_view() -> None:
    err = st.session_state.pop("train_start_error", None)
    if err:
        show_error(f"The run could not start: {err}")
    c_data, c_model, c_opt, c_sched = st.columns([1.1, 1.2, 1, 1], gap="medium")
    with c_data:
        st.subheader("Data")
        name = st.selectbox("Dataset", list(DATA_LABELS), key="train_data", format_func=DATA_LABELS.get,
                            help="\n".join(f"- {data_mod.DATASETS[k]}" for k in DATA_LABELS))
        data_cfg: dict = {"name": name}
        shape, classes = (3, 32, 32), 8
        if name == "shapes":
            n = st.select_slider("Training images", [1000, 2000, 4000, 8000, 16000, 32000], value=8000,
                                 key="train_n", format_func=fmt_int)
            data_cfg.update(n_train=n, n_val=max(500, n // 4), size=32, seed=0)
            st.caption(f"{fmt_int(n)} training + {fmt_int(max(500, n // 4))} validation images, "
                       "32x32, 8 shapes, generated on this computer.")
        elif name in ("mnist", "fashion-mnist", "cifar10"):
            shape, classes = ((1, 28, 28), 10) if name != "cifar10" else ((3, 32, 32), 10)
            where = data_mod.expected_location(name)
            st.caption(f"Read from {where} (torchvision's layout); downloaded there when missing "
                       "and online.")
        else:
            up = st.file_uploader("Zip of class folders", type=["zip"], key="train_zip",
                                  help="One folder per class inside, e.g. cats/ and dogs/.")
            size = st.select_slider("Image size (pixels)", [32, 64, 96, 128, 160, 224], value=64,
                                    key="train_zip_size")
            frac = st.slider("Validation share", 0.1, 0.5, 0.2, 0.05, key="train_val_frac")
            shape = (3, size, size)
            if up is None:
                st.info("Upload a zip with one folder of images per class.")
                return
            raw = up.getvalue()
            try:
                counts = data_mod.describe_zip(raw)
            except data_mod.DataError as e:
                show_error(str(e))
                return
            digest = hashlib.sha1(raw).hexdigest()[:16]
            path = runs.runs_dir() / "uploads" / f"{digest}.zip"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(raw)
            classes = len(counts)
            data_cfg.update(path=str(path), size=size, val_fraction=frac, seed=0)
            st.caption(", ".join(f"{c}: {fmt_int(k)} images" for c, k in counts.items()))
        with st.expander("Augmentation"):
            aug = {"crop": 4 if st.toggle("Random crop (pad 4 px)", key="train_aug_crop") else 0,
                   "hflip": st.toggle("Horizontal flip", key="train_aug_flip"),
                   "rotate": st.slider("Rotation (± degrees)", 0, 45, 0, 5, key="train_aug_rot"),
                   "jitter": st.slider("Colour jitter", 0.0, 0.5, 0.0, 0.05, key="train_aug_jit"),
                   "erase": st.slider("Random erasing (probability)", 0.0, 1.0, 0.0, 0.1, key="train_aug_erase")}
            st.caption("Done on whole batches as tensor operations, on the training device.")
    with c_model:
        st.subheader("Model")
        choices = sorted((k for k in networks.PRESETS if "broken" not in k), key=lambda k: k != "shapes_cnn")
        user_spec = st.session_state.get("network_spec") or st.session_state.get("net_spec")
        if isinstance(user_spec, dict) and user_spec.get("layers"):
            choices = [INSPECTOR, *choices]
        choices += [f"torchvision: {m}" for m in networks.TORCHVISION_MODELS[:7]]
        label = {k: v["name"] for k, v in networks.PRESETS.items()}
        model_key = st.selectbox("Network", choices, key="train_model",
                                 format_func=lambda k: label.get(k, k))
        if model_key == INSPECTOR:
            model_cfg: dict = {"spec": user_spec}
            st.caption(f"{user_spec.get('name', 'Your network')}: {len(user_spec['layers'])} layers, "
                       "fitted to this data's image size and classes.")
        elif model_key.startswith("torchvision: "):
            tv = model_key.split(": ", 1)[1]
            pre = st.toggle("Pretrained on ImageNet", value=True, key="train_pretrained")
            freeze = st.toggle("Freeze the backbone (train only the new head)", value=True,
                               key="train_freeze", disabled=not pre)
            unf = st.number_input("Unfreeze at epoch (0 = never)", 0, 100, 0, key="train_unfreeze",
                                  disabled=not (pre and freeze))
            size = st.select_slider("Input size (pixels)", [32, 64, 96, 128, 160, 224], value=64,
                                    key="train_tv_size")
            model_cfg = {"torchvision": tv, "pretrained": pre, "freeze": freeze and pre, "image_size": size}
            if unf:
                model_cfg["unfreeze_epoch"] = int(unf)
            shape = (3, size, size)
            if pre:
                st.caption("Normalised with ImageNet's mean and std; the weights download once "
                           "(an offline computer gets a message saying where to put them).")
        else:
            model_cfg = {"preset": model_key}
            st.caption(networks.PRESETS[model_key].get("description", ""))
        total, trainable, problem = _param_counts(json.dumps(model_cfg, sort_keys=True), shape, classes)
        if problem:
            show_error("This network does not fit the data.", detail=problem)
        else:
            frozen = total - trainable
            st.metric("Parameters", fmt_int(total),
                      delta=f"{fmt_int(frozen)} frozen" if frozen else None, delta_color="off")
    with c_opt:
        st.subheader("Optimiser")
        opt = st.selectbox("Optimiser", list(training.OPTIMIZERS), index=2, key="train_opt",
                           format_func=training.OPTIMIZERS.get)
        lr = st.select_slider("Learning rate", LRS, value=1e-2, key="train_lr", format_func=lambda v: f"{v:g}")
        wd = st.select_slider("Weight decay", WDS, value=5e-4, key="train_wd", format_func=lambda v: f"{v:g}")
        bs = st.select_slider("Batch size", [16, 32, 64, 128, 256, 512], value=128, key="train_bs")
        epochs = st.slider("Epochs", 1, 50, 5, key="train_epochs")
        with st.expander("More"):
            mom = st.slider("Momentum (SGD)", 0.0, 0.99, 0.9, 0.01, key="train_mom")
            ls = st.slider("Label smoothing", 0.0, 0.3, 0.0, 0.05, key="train_ls")
            clip = st.number_input("Gradient clipping (max norm, 0 = off)", 0.0, 100.0, 0.0, 0.5, key="train_clip")
            seed = st.number_input("Seed", 0, 10_000, 0, key="train_seed")
            devs = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else []) + \
                   (["mps"] if torch.backends.mps.is_available() else [])
            device = st.selectbox("Device", devs, key="train_device",
                                  help="auto: CUDA, then Apple MPS, else CPU. Mixed precision and "
                                       "channels-last are used on CUDA.")
    with c_sched:
        st.subheader("Schedule")
        sched = st.selectbox("Learning-rate schedule", list(training.SCHEDULES), index=3, key="train_sched",
                             format_func=training.SCHEDULES.get)
        step_size, gamma, warm, patience = 2, 0.5, 1.0, 1
        if sched == "step":
            step_size = st.number_input("Drop every (epochs)", 1, 50, 2, key="train_step_size")
            gamma = st.slider("Multiply by", 0.05, 0.9, 0.5, 0.05, key="train_gamma")
        elif sched == "plateau":
            gamma = st.slider("Multiply by", 0.05, 0.9, 0.5, 0.05, key="train_gamma_p")
            patience = st.number_input("Patience (epochs)", 0, 10, 1, key="train_patience")
        elif sched == "warmup_cosine":
            warm = st.slider("Warm-up (epochs)", 0.0, 5.0, 1.0, 0.5, key="train_warm")
    cfg = training.RunConfig(
        data=data_cfg, model=model_cfg, optimizer=opt, lr=float(lr), momentum=float(mom),
        weight_decay=float(wd), batch_size=int(bs), epochs=int(epochs), label_smoothing=float(ls),
        grad_clip=float(clip), seed=int(seed), schedule=sched, step_size=int(step_size),
        gamma=float(gamma), patience=int(patience), warmup_epochs=float(warm), augment=aug,
        device=device)
    n_train = data_cfg.get("n_train") or {"mnist": 60000, "fashion-mnist": 60000, "cifar10": 50000}.get(name, 1000)
    spe = max(1, n_train // bs)
    with c_sched:
        note = "depends on the validation loss" if sched == "plateau" else ""
        st.plotly_chart(figs.lr_curve(training.lr_schedule(cfg, spe), spe, title="", note=note),
                        key="train_lr_preview", width="stretch", config={"displayModeBar": False})
        st.caption(f"{fmt_int(spe)} steps per epoch, {fmt_int(spe * epochs)} in all.")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    default_name = f"{model_cfg.get('preset') or model_cfg.get('torchvision') or 'your network'}, {opt} lr {lr:g}"
    cfg.name = c1.text_input("Run name", value="", placeholder=default_name, key="train_name") or \
        f"{default_name} #{len(runs.list_runs()) + 1}"
    c2.button("Start training", type="primary", key="train_start", on_click=_start, args=(cfg,),
              disabled=bool(problem), width="stretch", icon=":material/play_arrow:")
    active = REG.live()
    if active:
        st.caption(f"{len(active)} run(s) going or queued; at most {REG.max_concurrent} train at once, "
                   "the others wait in the queue.")


# --------------------------------------------------------------------------------------------
# Watch one run
# --------------------------------------------------------------------------------------------
STATUS_ICON = {"queued": ":material/schedule:", "running": ":material/directions_run:",
               "finished": ":material/check_circle:", "stopped": ":material/stop_circle:",
               "failed": ":material/error:", "interrupted": ":material/pause_circle:"}


def _stop(run_id: str) -> None:
    if not REG.stop(run_id):
        info = runs.find_run(run_id)
        if info is not None and info.remote:
            runs.stop_remote(info)


def _resume(run_id: str) -> None:
    try:
        REG.resume(run_id)
    except training.TrainingError as e:
        st.session_state["train_resume_error"] = str(e)


def _view(run_id: str) -> tuple[dict | None, runs.RunInfo | None]:
    """(what to draw, the folder's info). A run this process trains is read from memory only
    (a snapshot under its lock, no disk): this runs twice a second next to the training thread."""
    live = REG.get(run_id)
    if live is not None and not live.done.is_set():
        return live.snapshot(), None
    info = runs.find_run(run_id)
    return (runs.load_view(info), info) if info is not None else (None, None)


def live_panel(run_id: str) -> None:
    view, info = _view(run_id)
    if view is None:
        st.warning("This run's folder is gone.")
        return
    name = view["config"].get("name") or run_id
    status = view["status"]
    going = status in ("queued", "running")
    prog, steps, epochs = view["progress"], view["steps"], view["epochs"]
    classes = len(view["info"].get("classes") or []) or 10
    color = {"running": "blue", "queued": "gray", "finished": "green", "stopped": "orange",
             "failed": "red", "interrupted": "violet"}.get(status, "gray")
    st.markdown(f"### {name} &nbsp; :{color}-badge[{STATUS_ICON.get(status, '')} {status.capitalize()}]")
    if info is not None and info.remote:
        st.caption(f"Trained by another process (pid {info.pid}); followed through its metrics file.")
    cols = st.columns(6)
    sm = training.smooth([s["loss"] for s in steps if math.isfinite(s["loss"])])
    last = epochs[-1] if epochs else {}
    cols[0].metric("Epoch", f"{prog.get('epoch', 0):.1f} / {prog.get('epochs') or view['config'].get('epochs', '?')}")
    cols[1].metric("Train loss", f"{sm[-1]:.3f}" if sm else "–", help="smoothed over recent steps")
    cols[2].metric("Val accuracy", f"{last['val_acc']:.1%}" if last else "–")
    ips = prog.get("images_per_second") if going else last.get("images_per_second")
    cols[3].metric("Images / s", fmt_int(ips) if ips else "–")
    cols[4].metric("Elapsed", _fmt_secs(prog.get("elapsed")))
    cols[5].metric("Time left", _fmt_secs(prog.get("eta")) if going else "–")
    total = prog.get("total_steps") or 0
    if going:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.progress(min(1.0, (prog.get("step") or 0) / total) if total else 0.0,
                    text=f"step {fmt_int(prog.get('step') or 0)} of {fmt_int(total)} · {view['message']}")
        c2.button("Stop", key=f"train_stop_{run_id}", on_click=_stop, args=(run_id,), type="primary",
                  icon=":material/stop:", width="stretch")
    if status == "failed" and view["error"]:
        show_error(view["error"], detail=view.get("error_detail") or None)
    advice = training.diagnose(steps, epochs, classes, status=status, error=view["error"],
                               steps_per_epoch=view["info"].get("steps_per_epoch"))
    for a in advice:
        getattr(st, a.level)(f"**{a.title}.** {a.text}")
    if not steps:
        st.info("Waiting for the first training step ..." if going else "This run has no metrics.")
        return
    st.plotly_chart(figs.loss_curve(steps, epochs, advice, num_classes=classes),
                    key="train_loss_chart", width="stretch", config={"displaylogo": False})
    if going != (st.session_state.get("train_was_going", {}).get(run_id, going)):
        st.session_state.setdefault("train_was_going", {})[run_id] = going
        st.rerun(scope="app")
    st.session_state.setdefault("train_was_going", {})[run_id] = going


def slow_panel(run_id: str) -> None:
    """Epoch curves and the learning rate: they change slowly, so they refresh every 3 s."""
    view, _ = _view(run_id)
    if view is None or not view["steps"]:
        return
    left, right = st.columns([2, 1])
    if view["epochs"]:
        left.plotly_chart(figs.epoch_curves(view["epochs"]), key="train_epoch_chart", width="stretch")
    else:
        left.info("Validation loss and accuracy appear after the first epoch.")
    right.plotly_chart(figs.live_lr(view["steps"]), key="train_lr_chart", width="stretch")


def after_run(info: runs.RunInfo) -> None:
    analysis, wrong = runs.read_analysis(info.dir)
    if not analysis:
        return
    st.subheader("After the run: where it goes wrong")
    names = analysis["class_names"]
    c1, c2 = st.columns(2)
    c1.plotly_chart(figs.confusion(analysis["confusion"], names), key="train_confusion", width="stretch")
    c2.plotly_chart(figs.per_class(analysis["per_class_acc"], names), key="train_per_class", width="stretch")
    if analysis["wrong"] and wrong is not None:
        st.markdown("**The most confidently wrong validation images**")
        cols = st.columns(8)
        for i, w in enumerate(analysis["wrong"][:16]):
            img = wrong[i]
            arr = img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy()
            cols[i % 8].image(arr, width="stretch",
                              caption=f"{names[w['true']]} → {names[w['pred']]} ({w['confidence']:.0%})")
        st.caption("Caption: true class → predicted class (the model's confidence).")
    elif not analysis["wrong"]:
        st.success("No validation image was misclassified.")


def _run_label(info: runs.RunInfo) -> str:
    """Name and start time (the status is shown live below; a label could go stale)."""
    return f"{info.name}  ·  started {time.strftime('%d %b %H:%M', time.localtime(info.created))}"


def watch_view() -> None:
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
        show_error(f"Could not resume: {err}")
    if info.can_resume and info.status != "failed" or info.status == "interrupted":
        c2.button("Resume", key="train_resume", on_click=_resume, args=(run_id,), width="stretch",
                  icon=":material/resume:", help="Continue from the last checkpoint (end of the last epoch).")
    going = info.status in ("queued", "running")
    st.fragment(run_every=0.5 if going else None)(live_panel)(run_id)
    st.fragment(run_every=3.0 if going else None)(slow_panel)(run_id)
    if info.status == "finished":
        after_run(info)
    with st.expander("Run folder and checkpoints"):
        st.code(str(info.dir), language=None)
        st.write("best.pt: the epoch with the best validation accuracy; last.pt: the last epoch. Both "
                 "load with `playground.checkpoints.load_checkpoint` (weights only, never pickle).")


# --------------------------------------------------------------------------------------------
# Compare
# --------------------------------------------------------------------------------------------
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
    metric = st.segmented_control("Curve", ["val_acc", "val_loss", "train_loss", "train_acc"],
                                  default="val_acc", key="train_compare_metric",
                                  format_func=lambda m: m.replace("val_", "validation ").replace(
                                      "train_", "training ").replace("acc", "accuracy"))
    if not chosen:
        return
    series = []
    for rid in chosen:
        _, epochs, _ = training.read_metrics(by_id[rid].dir)
        series.append({"name": by_id[rid].name, "epochs": epochs})
    st.plotly_chart(figs.compare_runs(series, metric or "val_acc"), key="train_compare_chart", width="stretch")
    rows = {by_id[r].name: {**_flat(by_id[r].config),
                            "result: val accuracy": by_id[r].summary.get("val_acc"),
                            "result: epochs done": by_id[r].summary.get("epochs")} for r in chosen}
    df = pd.DataFrame(rows).astype(str)
    differs = df.nunique(axis=1) > 1
    df = df.loc[[i for i in df.index if differs[i] or not i.startswith("result")]]
    st.markdown("**Settings** (rows that differ between the runs are highlighted)")
    styled = df.style.apply(lambda row: ["background-color: #fff3bf; font-weight: bold" if differs[row.name]
                                         else "" for _ in row], axis=1)
    st.dataframe(styled, width="stretch", height=min(800, 40 + 35 * len(df)))


if st.session_state.get("train_view") not in VIEWS:
    st.session_state["train_view"] = "Watch" if REG.live() else "New run"
view = st.segmented_control("View", VIEWS, key="train_view", label_visibility="collapsed")
if view == "Watch":
    watch_view()
elif view == "Compare":
    compare_view()
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
