"""The Training page's "New run" form: the task first (playground.tasks.TASKS), then one column
each for the data, the model, the optimiser and the schedule, every widget starting from
``RunConfig()``; it ends in the run's config and the schedule's preview. A segment run's data and
model columns are ui/segment_form.py's."""
from __future__ import annotations

import json

import streamlit as st

from playground import data, networks, summary, training
from playground.figures import training as figs
from playground.training.speed import COMPILE_HELP, COMPILE_MODES
from playground.tasks import TASKS
from ui import detect_form, keys, segment_form, vit_form
from ui.common import code_allowed, fmt_int, plain, show_error
from ui.data_inspection import OwnData, own_data_widgets, show_inspection

LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
WDS = [0.0, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 0.1]
BATCHES = [16, 32, 64, 128, 256, 512]
SIZES = [32, 64, 96, 128, 160, 224]
INSPECTOR = "Your network (from the inspector)"
PROPOSED = "Proposed for your data"
# One choice for the learner's own images: the zip entry; its widgets also offer a folder on
# the server (the catalogue's "folder" entry). Another task's own data (detect's scenes) is not
# a classification dataset.
_OTHER_TASKS_DATA = {t.default_data for t in TASKS.values()} - {TASKS[training.RunConfig().task].default_data}
PAGE_DATA = [k for k, e in data.DATASETS.items() if e.kind != "folder" and k not in _OTHER_TASKS_DATA]
D = training.RunConfig()   # every widget starts from the library's defaults
# The optimiser's and schedule's widgets that start again from a task's own numbers
# (Task.run_defaults, through RunConfig.for_task) when that task is picked: key -> RunConfig field
TASK_WIDGETS = {"train_opt": "optimizer", "train_lr": "lr", "train_wd": "weight_decay",
                "train_bs": "batch_size", "train_epochs": "epochs", "train_sched": "schedule"}
BACKBONE_SCALES = sorted({0.01, 0.03, 0.1, 0.3, 1.0, D.backbone_lr_scale})


@st.cache_data(show_spinner=False, max_entries=64)
def _model_size(model_json: str, shape: tuple[int, int, int], classes: int) -> training.ModelSize:
    return training.model_size(json.loads(model_json), shape, classes)


@st.cache_data(show_spinner=False, max_entries=64)
def _model_macs(model_json: str, shape: tuple[int, int, int], classes: int) -> int | None:
    """Multiply-adds per image of a preset or spec fitted to the data (the meta-device trace);
    None for torchvision models (their size is set by their own widgets) or a spec that fails."""
    m = json.loads(model_json)
    base = m.get("spec") or (networks.preset(m["preset"]) if m.get("preset") else None)
    if not base:
        return None
    try:
        s = summary.summarize(networks.adapt(base, shape, classes), shape)
    except (networks.SpecError, ValueError):
        return None
    return None if s.error else int(s.total_macs)


def _augment_widgets() -> dict:
    a = D.augment
    with st.expander("Augmentation"):
        aug = {"crop": 4 if st.toggle("Random crop (pad 4 px)", value=a["crop"] > 0, key="train_aug_crop") else 0,
               "hflip": st.toggle("Horizontal flip", value=a["hflip"], key="train_aug_flip"),
               "rotate": st.slider("Rotation (± degrees)", 0, 45, int(a["rotate"]), 5, key="train_aug_rot"),
               "jitter": st.slider("Colour jitter", 0.0, 0.5, float(a["jitter"]), 0.05, key="train_aug_jit"),
               "erase": st.slider("Random erasing (probability)", 0.0, 1.0, float(a["erase"]), 0.1,
                                  key="train_aug_erase")}
        st.caption("Done on whole batches as tensor operations, on the training device.")
    return aug


def data_column() -> tuple[dict, tuple[int, int, int], int, int, dict, OwnData | None] | None:
    """(data config, input shape, classes, training images, augmentation, the learner's own
    data and its inspection or None); None: no data yet."""
    st.subheader("Data")
    name = st.selectbox("Dataset", PAGE_DATA, index=PAGE_DATA.index(D.data["name"]), key="train_data",
                        format_func=lambda k: data.DATASETS[k].label,
                        help="\n".join(f"- {data.DATASETS[k].description}" for k in PAGE_DATA))
    entry, cfg = data.DATASETS[name], data.data_config(name)
    own = None
    if entry.kind == "zip":
        own = own_data_widgets(entry.defaults)
        if own is None:
            return None
        cfg, shape, classes, n_train = own.cfg, own.input_shape, own.classes, own.n_train
    elif entry.kind == "generated":
        n = st.select_slider("Training images", [1000, 2000, 4000, 8000, 16000, 32000], value=D.data["n_train"],
                             key="train_n", format_func=fmt_int)
        cfg.update(n_train=n, n_val=data.shapes_val_count(n))
        shape, classes, n_train = entry.input_shape, entry.num_classes, n
        st.caption(f"{fmt_int(n)} training + {fmt_int(cfg['n_val'])} validation images, "
                   f"{shape[1]}x{shape[2]}, {classes} shapes, generated on this computer.")
    else:
        shape, classes, n_train = entry.input_shape, entry.num_classes, entry.n_train
        st.caption(f"Read from {data.expected_location(name)} (torchvision's layout); downloaded there "
                   "when missing and online.")
    return cfg, shape, classes, n_train, _augment_widgets(), own


def _torchvision_widgets(tv: str) -> tuple[dict, tuple[int, int, int]]:
    pre = st.toggle("Pretrained on ImageNet", value=True, key="train_pretrained")
    freeze = st.toggle("Freeze the backbone (train only the new head)", value=True,
                       key="train_freeze", disabled=not pre)
    unf = st.number_input("Unfreeze at epoch (0 = never)", 0, 100, 0, key="train_unfreeze",
                          disabled=not (pre and freeze))
    size = st.select_slider("Input size (pixels)", SIZES, value=training.TORCHVISION_IMAGE_SIZE,
                            key="train_tv_size")
    model_cfg = {"torchvision": tv, "pretrained": pre, "freeze": freeze and pre, "image_size": size}
    if unf:
        model_cfg["unfreeze_epoch"] = int(unf)
    if pre:
        st.caption("Normalised with ImageNet's mean and std; the weights download once "
                   "(an offline computer gets a message saying where to put them).")
    return model_cfg, (3, size, size)


def model_column(shape: tuple[int, int, int], classes: int, proposal: dict | None = None) -> tuple[dict, str]:
    """(model config, the reason it does not fit the data or ""). ``proposal``: the network
    proposed for the learner's own data, offered first."""
    st.subheader("Model")
    default = D.model["preset"]
    choices = sorted((k for k in networks.PRESETS if "broken" not in k), key=lambda k: k != default)
    user_spec = st.session_state.get(keys.NETWORK_SPEC)
    pasted = isinstance(user_spec, dict) and bool(user_spec.get("code")) and code_allowed()[0]
    if isinstance(user_spec, dict) and (user_spec.get("layers") or pasted):
        choices = [INSPECTOR, *choices]
    if proposal:
        choices = [PROPOSED, *choices]
    choices += [vit_form.CHOICE, *(f"torchvision: {m}" for m in networks.zoo.names("transfer"))]
    label = {k: v["name"] for k, v in networks.PRESETS.items()}
    if proposal:
        label[PROPOSED] = f"{PROPOSED}: {_model_label(proposal, label)}"
    if st.session_state.get("train_model") not in choices:
        st.session_state.pop("train_model", None)   # e.g. the proposal of data no longer given
    model_key = st.selectbox("Network", choices, key="train_model", format_func=lambda k: label.get(k, k),
                             on_change=_network_picked)
    if model_key == PROPOSED:
        model_cfg = dict(proposal or {})
        st.caption("Chosen for the size, channels and classes of your data; "
                   "the inspection below shows its parameters and multiply-adds.")
    elif model_key == INSPECTOR and pasted:      # PyTorch source pasted into the inspector
        model_cfg = {k: user_spec.get(k) for k in ("code", "class_name", "input_shape")}
        st.caption(f"{plain(user_spec.get('name') or 'Your network')}: your pasted code, at its input "
                   f"{'x'.join(map(str, user_spec['input_shape']))} (the images are resized to it; "
                   "a last Linear with another number of outputs gets one per class).")
    elif model_key == INSPECTOR:
        model_cfg = {"spec": user_spec}
        st.caption(f"{plain(user_spec.get('name', 'Your network'))}: {len(user_spec['layers'])} layers, "
                   "fitted to this data's image size and classes.")
    elif model_key == vit_form.CHOICE:
        model_cfg = vit_form.vit_widgets(shape)
    elif model_key.startswith("torchvision: "):
        model_cfg, shape = _torchvision_widgets(model_key.split(": ", 1)[1])
    else:
        model_cfg = {"preset": model_key}
        st.caption(networks.PRESETS[model_key].get("description", ""))
    size = _model_size(json.dumps(model_cfg, sort_keys=True), tuple(shape), classes)
    if size.problem:
        show_error("This network does not fit the data.", detail=size.problem)
    else:
        frozen = size.total - size.trainable
        st.metric("Parameters", fmt_int(size.total),
                  delta=f"{fmt_int(frozen)} frozen" if frozen else None, delta_color="off")
        macs = _model_macs(json.dumps(model_cfg, sort_keys=True), tuple(shape), classes)
        if macs:
            st.caption(f"{fmt_int(macs)} multiply-adds (MACs) per {' x '.join(map(str, shape))} image.")
    return model_cfg, size.problem


def _model_label(m: dict, preset_names: dict) -> str:
    key = m.get("preset")
    if key:
        return preset_names.get(key, key)
    return str(m.get("torchvision") or (m.get("spec") or {}).get("name") or "a network")


def task_defaults() -> training.RunConfig:
    """``RunConfig.for_task`` of the task picked on the form (classify before any): where the
    optimiser's and schedule's widgets start."""
    return training.RunConfig.for_task(st.session_state.get("train_task") or D.task)


def _task_picked() -> None:
    """A task picked: its numbers in the widgets it has its own for (segment: epochs, lr)."""
    d = task_defaults()
    for key, name in TASK_WIDGETS.items():
        st.session_state[key] = getattr(d, name)


def _network_picked() -> None:
    """The tiny ViT picked: the learning rate moves to its own (at a CNN's it stays at chance);
    another network picked while the rate is still the ViT's: back to the task's. A rate the
    learner set is left alone."""
    if st.session_state.get("train_model") == vit_form.CHOICE:
        st.session_state["train_lr"] = vit_form.VIT_LR
    elif st.session_state.get("train_lr") == vit_form.VIT_LR:
        st.session_state["train_lr"] = task_defaults().lr


def optimizer_column() -> dict:
    st.subheader("Optimiser")
    d = task_defaults()   # the picked task's starting numbers
    keys_ = list(training.OPTIMIZERS)
    o = dict(optimizer=st.selectbox("Optimiser", keys_, index=keys_.index(d.optimizer), key="train_opt",
                                    format_func=lambda k: training.OPTIMIZERS[k].label),
             lr=st.select_slider("Learning rate", LRS, value=d.lr, key="train_lr", format_func=lambda v: f"{v:g}"),
             weight_decay=st.select_slider("Weight decay", WDS, value=d.weight_decay, key="train_wd",
                                           format_func=lambda v: f"{v:g}"),
             batch_size=st.select_slider("Batch size", BATCHES, value=d.batch_size, key="train_bs"),
             epochs=st.slider("Epochs", 1, 50, d.epochs, key="train_epochs"))
    with st.expander("More"):
        o.update(momentum=st.slider("Momentum (SGD)", 0.0, 0.99, d.momentum, 0.01, key="train_mom"),
                 label_smoothing=st.slider("Label smoothing", 0.0, 0.3, d.label_smoothing, 0.05, key="train_ls"),
                 grad_clip=st.number_input("Gradient clipping (max norm, 0 = off)", 0.0, 100.0, d.grad_clip,
                                           0.5, key="train_clip"),
                 backbone_lr_scale=st.select_slider(
                     "Backbone learning rate after unfreezing (x the learning rate)", BACKBONE_SCALES,
                     value=d.backbone_lr_scale, key="train_backbone_scale",
                     help="Transfer learning: once a pretrained backbone is unfrozen it learns slower "
                          "than the new head, so its ImageNet features are adjusted, not overwritten."),
                 seed=st.number_input("Seed", 0, 10_000, d.seed, key="train_seed"))
        devs = training.available_devices()
        o["device"] = st.selectbox("Device", devs, index=devs.index(d.device), key="train_device",
                                   help="auto: CUDA, then Apple MPS, else CPU. Mixed precision and "
                                        "channels-last are used on CUDA.")
        modes = list(COMPILE_MODES)
        o["compile"] = st.selectbox("Compiled mode", modes, index=modes.index(d.compile), key="train_compile",
                                    format_func=COMPILE_MODES.get, help=COMPILE_HELP)
    return o


def schedule_column() -> dict:
    st.subheader("Schedule")
    d = task_defaults()   # the picked task's starting numbers
    keys_ = list(training.SCHEDULES)
    sched = st.selectbox("Learning-rate schedule", keys_, index=keys_.index(d.schedule), key="train_sched",
                         format_func=lambda k: training.SCHEDULES[k].label)
    s = dict(schedule=sched, step_size=d.step_size, gamma=d.gamma, patience=d.patience,
             warmup_epochs=d.warmup_epochs)
    if sched == "step":
        s["step_size"] = st.number_input("Drop every (epochs)", 1, 50, d.step_size, key="train_step_size")
        s["gamma"] = st.slider("Multiply by", 0.05, 0.9, d.gamma, 0.05, key="train_gamma")
    elif sched == "plateau":
        s["gamma"] = st.slider("Multiply by", 0.05, 0.9, d.gamma, 0.05, key="train_gamma_p")
        s["patience"] = st.number_input("Patience (epochs)", 0, 10, d.patience, key="train_patience")
    elif sched == "warmup_cosine":
        s["warmup_epochs"] = st.slider("Warm-up (epochs)", 0.0, 5.0, d.warmup_epochs, 0.5, key="train_warm")
    return s


def task_picker() -> str:
    """What the run learns: one of TASKS, with its one-line description."""
    keys_ = [k for k in ("classify", "segment", "detect") if k in TASKS]   # the tasks this form can set up
    key = st.radio("Task", keys_, key="train_task", horizontal=True, format_func=lambda k: TASKS[k].label,
                   captions=[TASKS[k].description for k in keys_], on_change=_task_picked)
    return key or keys_[0]


def _schedule_preview(cfg: training.RunConfig, n_train: int) -> None:
    spe = max(1, n_train // cfg.batch_size)
    note = "depends on the validation loss" if cfg.schedule == "plateau" else ""
    st.plotly_chart(figs.lr_curve(training.lr_schedule(cfg, spe), spe, title="", note=note),
                    key="train_lr_preview", width="stretch", config={"displayModeBar": False})
    st.caption(f"{fmt_int(spe)} steps per epoch, {fmt_int(spe * cfg.epochs)} in all.")


# A task with its own form module: data_column() -> (data config, shape, classes, training
# images, label) or None, and model_column(shape, classes) -> (model config, loss, loss options).
TASK_FORMS = {"segment": segment_form, "detect": detect_form}


def task_run_form(task: str) -> tuple[training.RunConfig, str, str] | None:
    """A segment or detect run's columns: its data and its network with the loss (the task's
    form module), then the optimiser and the schedule as for any run; no augmentation."""
    form = TASK_FORMS[task]
    c_data, c_model, c_opt, c_sched = st.columns([1.1, 1.2, 1, 1], gap="medium")
    with c_data:
        got = form.data_column()
    if got is None:
        return None
    data_cfg, shape, classes, n_train, label = got
    with c_model:
        model_cfg, loss, options = form.model_column(shape, classes)
    with c_opt:
        opt = optimizer_column()
    with c_sched:
        sched = schedule_column()
    off = {k: type(v)() for k, v in D.augment.items()}      # 0, 0.0, False: no augmentation
    cfg = training.RunConfig(task=task, data=data_cfg, model=model_cfg, loss=loss, loss_options=options,
                             augment=off, **opt, **sched)
    with c_sched:
        _schedule_preview(cfg, n_train)
    return cfg, "", label


def run_form() -> tuple[training.RunConfig, str, str] | None:
    """The task, the four columns, the schedule's preview and, for the learner's own images,
    their inspection: (the config, why the network does not fit the data or "", the own data's
    name or ""); None while there is no usable data (a zip not uploaded yet, or refused)."""
    picked = task_picker()
    if picked in TASK_FORMS:
        return task_run_form(picked)
    c_data, c_model, c_opt, c_sched = st.columns([1.1, 1.2, 1, 1], gap="medium")
    with c_data:
        got = data_column()
    if got is None:
        return None
    data_cfg, shape, classes, n_train, aug, own = got
    with c_model:
        model_cfg, problem = model_column(shape, classes, own.proposal if own else None)
    with c_opt:
        opt = optimizer_column()
    with c_sched:
        sched = schedule_column()
    cfg = training.RunConfig(data=data_cfg, model=model_cfg, augment=aug, **opt, **sched)
    with c_sched:
        _schedule_preview(cfg, n_train)
    if own is not None:
        show_inspection(own)
    return cfg, problem, own.label if own is not None else ""
