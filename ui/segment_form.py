"""The new-run form's columns for a segment run: the data (the shapes with their exact masks, or
the learner's zip of ``images/`` and ``masks/``, inspected as masks), the U-Net's knobs (width,
depth, skips, the image's context, its parameter count) and the loss (``TASKS["segment"].losses``). Segment runs take
no augmentation (a flipped image beside an unflipped mask would teach wrong pixels)."""
from __future__ import annotations

import streamlit as st

from playground import data, training
from playground.networks.unet import DEFAULTS as UNET, DEPTH_RANGE, WIDTH_RANGE, unet_size
from playground.tasks import TASKS
from playground.tasks.masks import read_masks
from ui import pair_zip
from ui.common import fmt_int, plain

SOURCES = {"shapes": "Shapes (generated, exact masks)", "zip": "Your zip of images/ and masks/"}
N_TRAIN = [500, 1000, 2000, 3000, 4000, 8000]
TASK = TASKS["segment"]
START = training.RunConfig.for_task("segment")   # the task's own defaults, as the CLI's
UNET_START = {**UNET, **START.model["unet"]}     # the U-Net knobs' starting values


@st.cache_data(show_spinner=False, max_entries=64)
def parameters(channels: int, classes: int, width: int, depth: int, skips: bool, context: bool) -> int:
    return unet_size(channels, classes, width=width, depth=depth, skips=skips, context=context)


def inspect_zip(digest: str, raw: bytes) -> dict:
    """What :func:`read_masks` understood of the zip (cached by its content hash): classes,
    kept pairs, size, pixels per class, skipped (path, reason); {"error": words} otherwise."""
    return pair_zip.inspect("masks", digest, raw, read_masks, "pixels")


def _caption(got: dict) -> str:
    c, h, w = got["shape"]
    return (f"{fmt_int(got['n'])} image and mask pairs, {w} x {h} px, {len(got['classes'])} classes: "
            f"{plain(', '.join(got['classes']))}.")


def _zip_data() -> tuple[dict, tuple[int, int, int], int, int, str] | None:
    return pair_zip.own_zip(
        uploader="Zip of images/ and masks/", key="train_zip",
        help="images/cat1.jpg beside masks/cat1.png (PNG, the same name; each pixel's value is its "
             "class, 0 the background); an optional classes.txt names the classes, background first.",
        empty="Upload a zip with images/ and masks/ (PNG masks, pixel value = class).",
        spinner="Reading your images and masks ...",
        refused="This zip cannot be used for segmentation:", inspect_zip=inspect_zip, caption=_caption)


def data_column() -> tuple[dict, tuple[int, int, int], int, int, str] | None:
    """(data config, input shape, classes with background, training images, own data's name)."""
    st.subheader("Data")
    src = st.radio("Images and masks", list(SOURCES), format_func=SOURCES.get, key="train_seg_data")
    if src == "zip":
        return _zip_data()
    entry = data.DATASETS["shapes"]
    n = st.select_slider("Training images", N_TRAIN, value=START.data["n_train"], key="train_seg_n",
                         format_func=fmt_int)
    cfg = {**data.data_config("shapes"), "n_train": n, "n_val": data.shapes_val_count(n)}
    classes = entry.num_classes + 1
    st.caption(f"{fmt_int(n)} training + {fmt_int(cfg['n_val'])} validation images, "
               f"{cfg['size']} x {cfg['size']}, {classes} classes (background + {entry.num_classes} shapes), "
               "each pixel's class exact.")
    return cfg, entry.input_shape, classes, n, ""


def model_column(shape: tuple[int, int, int], classes: int) -> tuple[dict, str, dict]:
    """({"unet": knobs}, the loss's name, its options: none) with the network's parameter count."""
    st.subheader("Model")
    width = st.slider("U-Net width (channels of the first level)", *WIDTH_RANGE, UNET_START["width"], 4,
                      key="train_seg_width")
    depth = st.slider("Depth (times the image is halved)", *DEPTH_RANGE, UNET_START["depth"], key="train_seg_depth")
    skips = st.toggle("Skip connections", value=UNET_START["skips"], key="train_seg_skips",
                      help="Off: the decoder rebuilds the mask from the coarse bottleneck alone; "
                           "watch the edges blur.")
    context = st.toggle("Image context", value=UNET_START["context"], key="train_seg_context",
                        help="The whole image votes on which classes it holds, and a pixel cannot "
                             "pick a class the image rules out. Off: a shape often comes out in "
                             "patches of two classes (a star's tip read as a triangle).")
    st.metric("Parameters", fmt_int(parameters(shape[0], classes, width, depth, skips, context)))
    losses = list(TASK.losses)
    loss = st.selectbox("Loss", losses, index=losses.index(TASK.default_loss), key="train_seg_loss",
                        format_func=lambda k: TASK.losses[k][0],
                        help="Cross-entropy: per pixel. Dice: the overlap of each class, blind to how "
                             "rare it is. Both: per-pixel gradients early, overlap at the end.")
    st.caption("No augmentation for segment runs: a flipped image beside its unflipped mask would "
               "teach wrong pixels.")
    knobs = {"width": int(width), "depth": int(depth), "skips": bool(skips), "context": bool(context)}
    return {"unet": knobs}, loss, {}
