"""The new-run form's columns for a detect run: the data (the generated scenes of 1 to 4 shapes
with their boxes, or the learner's zip of ``images/`` and YOLO ``labels/``, read with
:func:`playground.tasks.labels.read_labels`: pairs, classes, skipped files with reasons), the
grid detector's width (its parameter count), the box loss (``TASKS["detect"].losses``) and the
loss's three weights (``detect.LOSS_WEIGHTS``, the run's ``loss_options``). Detect runs take no
augmentation (a flipped image would need its boxes flipped too)."""
from __future__ import annotations

import streamlit as st

from playground import data
from playground.networks.grid import DEFAULTS as GRID, WIDTH_RANGE
from playground.tasks import TASKS, detect
from playground.tasks.labels import read_labels
from ui import pair_zip
from ui.common import fmt_int, plain

SOURCES = {"scenes": "Scenes (generated, 1 to 4 shapes with their boxes)",
           "zip": "Your zip of images/ and YOLO labels/"}
N_TRAIN = [500, 1000, 2000, 4000, 8000, 16000]
TASK = TASKS["detect"]
WEIGHT_MAX = 10.0
WEIGHT_HELP = {
    "lambda_coord": "How much the box's position and size count (YOLOv1: 5; one cell per object "
                    "has a box term, beside 64 objectness terms).",
    "lambda_noobj": "How much an empty cell's 'no object' counts (YOLOv1: 0.5; most cells are empty "
                    "and would drown the few that hold one).",
    "lambda_class": "How much the class of the responsible cell counts.",
}


@st.cache_data(show_spinner=False, max_entries=64)
def parameters(channels: int, classes: int, width: int) -> int:
    return detect.parameters(channels, classes, width)


def inspect_zip(digest: str, raw: bytes) -> dict:
    """What :func:`read_labels` understood of the zip (cached by its content hash): classes,
    kept images, objects per class, size, skipped (path, reason); {"error": words} otherwise."""
    return pair_zip.inspect("labels", digest, raw, read_labels, "objects")


def _caption(got: dict) -> str:
    c, h, w = got["shape"]
    objects = ", ".join(f"{plain(k)} {fmt_int(v)}" for k, v in got["objects"].items())
    return (f"{fmt_int(got['n'])} images with their labels, stretched to {w} x {h} px, "
            f"{len(got['classes'])} classes; objects: {objects}.")


def _zip_data() -> tuple[dict, tuple[int, int, int], int, int, str] | None:
    return pair_zip.own_zip(
        uploader="Zip of images/ and labels/", key="train_det_zip",
        help="images/cat1.jpg beside labels/cat1.txt (YOLO: one object a line, 'class cx cy w h', "
             "the box as fractions of the image); an optional classes.txt names the classes, class 0 first.",
        empty="Upload a zip with images/ and labels/ (YOLO text files, one per image).",
        spinner="Reading your images and labels ...",
        refused="This zip cannot be used for detection:", inspect_zip=inspect_zip, caption=_caption)


def data_column() -> tuple[dict, tuple[int, int, int], int, int, str] | None:
    """(data config, input shape, classes, training images, own data's name); None: no data yet."""
    st.subheader("Data")
    src = st.radio("Images and boxes", list(SOURCES), format_func=SOURCES.get, key="train_det_data")
    if src == "zip":
        return _zip_data()
    entry = data.DATASETS["scenes"]
    cfg = data.data_config("scenes")
    n = st.select_slider("Training scenes", N_TRAIN, value=cfg["n_train"], key="train_det_n", format_func=fmt_int)
    cfg.update(n_train=n, n_val=data.shapes_val_count(n))
    st.caption(f"{fmt_int(n)} training + {fmt_int(cfg['n_val'])} validation scenes, {cfg['size']} x {cfg['size']}, "
               f"{cfg['min_shapes']} to {cfg['max_shapes']} shapes each of {entry.num_classes} kinds, "
               "each with its exact box.")
    return cfg, entry.input_shape, entry.num_classes, n, ""


def model_column(shape: tuple[int, int, int], classes: int) -> tuple[dict, str, dict]:
    """({"grid": knobs}, the box loss's name, the loss's weights) with the parameter count."""
    st.subheader("Model")
    width = st.slider("Grid detector width (channels of the first convolution)", *WIDTH_RANGE, GRID["width"], 4,
                      key="train_det_width")
    st.metric("Parameters", fmt_int(parameters(shape[0], classes, width)))
    st.caption(f"{shape[1] // 8} x {shape[2] // 8} cells of 8 x 8 px; each cell predicts one box "
               "(objectness, centre, size) and the class of the object whose centre it holds.")
    losses = list(TASK.losses)
    loss = st.selectbox("Box loss", losses, index=losses.index(TASK.default_loss), key="train_det_loss",
                        format_func=lambda k: TASK.losses[k][0])
    weights = {k: float(st.number_input(k, 0.0, WEIGHT_MAX, float(v), 0.1, key=f"train_det_{k}", help=WEIGHT_HELP[k]))
               for k, v in detect.LOSS_WEIGHTS.items()}
    st.caption("No augmentation for detect runs: a flipped or cropped scene would need its boxes "
               "moved with it.")
    return {"grid": {"width": int(width)}}, loss, weights
