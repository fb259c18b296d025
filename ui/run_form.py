"""The Training page's "New run" form: one column each for the data, the model, the optimiser
and the schedule, every widget starting from ``RunConfig()``; it ends in the run's config and the
schedule's preview."""
from __future__ import annotations

import hashlib
import json

import streamlit as st

from playground import data, networks, runs, training
from playground.figures import training as figs
from ui import keys
from ui.common import fmt_int, show_error

LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
WDS = [0.0, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 0.1]
BATCHES = [16, 32, 64, 128, 256, 512]
SIZES = [32, 64, 96, 128, 160, 224]
INSPECTOR = "Your network (from the inspector)"
# The page uploads a zip; a folder of class folders lives on the server: the CLI's.
PAGE_DATA = [k for k, e in data.DATASETS.items() if e.kind != "folder"]
D = training.RunConfig()   # every widget starts from the library's defaults


@st.cache_data(show_spinner=False, max_entries=64)
def _model_size(model_json: str, shape: tuple[int, int, int], classes: int) -> training.ModelSize:
    return training.model_size(json.loads(model_json), shape, classes)


def _zip_column(cfg: dict) -> tuple[dict, tuple[int, int, int], int, int] | None:
    """The uploaded zip's data config, input shape, classes and training images (None: none yet)."""
    files = data.DATASETS["zip"].defaults
    up = st.file_uploader("Zip of class folders", type=["zip"], key="train_zip",
                          help="One folder per class inside, e.g. cats/ and dogs/.")
    size = st.select_slider("Image size (pixels)", SIZES, value=files["size"], key="train_zip_size")
    frac = st.slider("Validation share", 0.1, 0.5, files["val_fraction"], 0.05, key="train_val_frac")
    if up is None:
        st.info("Upload a zip with one folder of images per class.")
        return None
    raw = up.getvalue()
    try:
        counts = data.describe_zip(raw)
    except data.DataError as e:
        show_error(str(e))
        return None
    path = runs.runs_dir() / "uploads" / f"{hashlib.sha1(raw).hexdigest()[:16]}.zip"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    st.caption(", ".join(f"{c}: {fmt_int(k)} images" for c, k in counts.items()))
    cfg.update(path=str(path), size=size, val_fraction=frac)
    return cfg, (3, size, size), len(counts), round(sum(counts.values()) * (1 - frac))


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


def data_column() -> tuple[dict, tuple[int, int, int], int, int, dict] | None:
    """(data config, input shape, classes, training images, augmentation); None: no data yet."""
    st.subheader("Data")
    name = st.selectbox("Dataset", PAGE_DATA, index=PAGE_DATA.index(D.data["name"]), key="train_data",
                        format_func=lambda k: data.DATASETS[k].label,
                        help="\n".join(f"- {data.DATASETS[k].description}" for k in PAGE_DATA))
    entry, cfg = data.DATASETS[name], data.data_config(name)
    if entry.kind == "zip":
        got = _zip_column(cfg)
        if got is None:
            return None
        cfg, shape, classes, n_train = got
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
    return cfg, shape, classes, n_train, _augment_widgets()


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


def model_column(shape: tuple[int, int, int], classes: int) -> tuple[dict, str]:
    """(model config, the reason it does not fit the data or "")."""
    st.subheader("Model")
    default = D.model["preset"]
    choices = sorted((k for k in networks.PRESETS if "broken" not in k), key=lambda k: k != default)
    user_spec = st.session_state.get(keys.NETWORK_SPEC)
    if isinstance(user_spec, dict) and user_spec.get("layers"):
        choices = [INSPECTOR, *choices]
    choices += [f"torchvision: {m}" for m in networks.zoo.names("transfer")]
    label = {k: v["name"] for k, v in networks.PRESETS.items()}
    model_key = st.selectbox("Network", choices, key="train_model", format_func=lambda k: label.get(k, k))
    if model_key == INSPECTOR:
        model_cfg: dict = {"spec": user_spec}
        st.caption(f"{user_spec.get('name', 'Your network')}: {len(user_spec['layers'])} layers, "
                   "fitted to this data's image size and classes.")
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
    return model_cfg, size.problem


def optimizer_column() -> dict:
    st.subheader("Optimiser")
    keys_ = list(training.OPTIMIZERS)
    o = dict(optimizer=st.selectbox("Optimiser", keys_, index=keys_.index(D.optimizer), key="train_opt",
                                    format_func=lambda k: training.OPTIMIZERS[k].label),
             lr=st.select_slider("Learning rate", LRS, value=D.lr, key="train_lr", format_func=lambda v: f"{v:g}"),
             weight_decay=st.select_slider("Weight decay", WDS, value=D.weight_decay, key="train_wd",
                                           format_func=lambda v: f"{v:g}"),
             batch_size=st.select_slider("Batch size", BATCHES, value=D.batch_size, key="train_bs"),
             epochs=st.slider("Epochs", 1, 50, D.epochs, key="train_epochs"))
    with st.expander("More"):
        o.update(momentum=st.slider("Momentum (SGD)", 0.0, 0.99, D.momentum, 0.01, key="train_mom"),
                 label_smoothing=st.slider("Label smoothing", 0.0, 0.3, D.label_smoothing, 0.05, key="train_ls"),
                 grad_clip=st.number_input("Gradient clipping (max norm, 0 = off)", 0.0, 100.0, D.grad_clip,
                                           0.5, key="train_clip"),
                 seed=st.number_input("Seed", 0, 10_000, D.seed, key="train_seed"))
        devs = training.available_devices()
        o["device"] = st.selectbox("Device", devs, index=devs.index(D.device), key="train_device",
                                   help="auto: CUDA, then Apple MPS, else CPU. Mixed precision and "
                                        "channels-last are used on CUDA.")
    return o


def schedule_column() -> dict:
    st.subheader("Schedule")
    keys_ = list(training.SCHEDULES)
    sched = st.selectbox("Learning-rate schedule", keys_, index=keys_.index(D.schedule), key="train_sched",
                         format_func=lambda k: training.SCHEDULES[k].label)
    s = dict(schedule=sched, step_size=D.step_size, gamma=D.gamma, patience=D.patience,
             warmup_epochs=D.warmup_epochs)
    if sched == "step":
        s["step_size"] = st.number_input("Drop every (epochs)", 1, 50, D.step_size, key="train_step_size")
        s["gamma"] = st.slider("Multiply by", 0.05, 0.9, D.gamma, 0.05, key="train_gamma")
    elif sched == "plateau":
        s["gamma"] = st.slider("Multiply by", 0.05, 0.9, D.gamma, 0.05, key="train_gamma_p")
        s["patience"] = st.number_input("Patience (epochs)", 0, 10, D.patience, key="train_patience")
    elif sched == "warmup_cosine":
        s["warmup_epochs"] = st.slider("Warm-up (epochs)", 0.0, 5.0, D.warmup_epochs, 0.5, key="train_warm")
    return s


def run_form() -> tuple[training.RunConfig, str] | None:
    """The four columns and the schedule's preview: (the config, why the network does not fit
    the data or ""); None while there is no data (a zip not uploaded yet)."""
    c_data, c_model, c_opt, c_sched = st.columns([1.1, 1.2, 1, 1], gap="medium")
    with c_data:
        got = data_column()
    if got is None:
        return None
    data_cfg, shape, classes, n_train, aug = got
    with c_model:
        model_cfg, problem = model_column(shape, classes)
    with c_opt:
        opt = optimizer_column()
    with c_sched:
        sched = schedule_column()
    cfg = training.RunConfig(data=data_cfg, model=model_cfg, augment=aug, **opt, **sched)
    spe = max(1, n_train // cfg.batch_size)
    with c_sched:
        note = "depends on the validation loss" if cfg.schedule == "plateau" else ""
        st.plotly_chart(figs.lr_curve(training.lr_schedule(cfg, spe), spe, title="", note=note),
                        key="train_lr_preview", width="stretch", config={"displayModeBar": False})
        st.caption(f"{fmt_int(spe)} steps per epoch, {fmt_int(spe * cfg.epochs)} in all.")
    return cfg, problem
