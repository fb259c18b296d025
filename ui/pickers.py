"""The shared pickers: one model picker and one image input, used by Inside and Classify (and
any page that needs a trained model or a photo).

    lm = model_picker()            # LoadedModel | None (errors already shown)
    pic = image_input(lm)          # Picture | None: a sample, a shape, a drawn digit, an upload, the camera

The model choice is remembered across pages (a page switch drops widget state, so the choice is
kept in ``st.session_state["picked_model"]``). Loaded models are cached per process
(``st.cache_resource``); an uploaded checkpoint is cached by its content hash.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from playground import digits, explain, images, models, paths
from playground.data import make_shapes
from playground.figures import explain as fx
from ui.common import code_allowed, fmt_int, show_error
from ui.links import Param

UPLOAD = "__upload__"
PICKED = "picked_model"
MODEL_LOCKS: dict[str, threading.Lock] = {}


def link_params() -> list:
    """The model and the image in a page's link (ui.links): model, image source, sample photo,
    generated shape. An upload or a drawing cannot travel in a link; its source does."""
    return [Param("model", "model_select", choices=lambda: [e.key for e in models.catalogue()] + [UPLOAD]),
            Param("source", "image_source", choices=SOURCES),
            Param("sample", "image_sample", choices=paths.sample_photos, text=lambda p: Path(p).stem,
                  default=lambda: paths.sample_photos()[0]),
            Param("shape", "image_shape", "int", 0, lo=0, hi=SHAPES_N - 1)]


def model_lock(lm: models.LoadedModel) -> threading.Lock:
    """One lock per cached model: attribution methods hook modules, so two sessions must not
    run them on the same module at the same time."""
    return MODEL_LOCKS.setdefault(lm.key, threading.Lock())


@st.cache_resource(max_entries=6, show_spinner=False)
def _load_cached(key: str, path: str | None, mtime: float) -> models.LoadedModel:
    return models.load(models.entry(key), allow_code=code_allowed()[0])


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_upload_cached(digest: str, _data: bytes, filename: str) -> models.LoadedModel:
    return models.load_upload(_data, filename, allow_code=code_allowed()[0])


def cached_model(e: models.ModelEntry) -> models.LoadedModel:
    """A catalogue entry loaded through the process-wide cache. The file it loads from is part
    of the cache key: a retrained model, or ImageNet weights placed in (or removed from) torch's
    hub cache, load afresh."""
    src = str(models.weights_path(e.name)) if e.kind == "torchvision" and e.name else e.path
    mtime = os.path.getmtime(src) if src and os.path.exists(src) else 0.0
    return _load_cached(e.key, src, mtime)


def warm_shipped_models() -> None:
    """Load the shipped models into the cache the pages use (app.py's launch warm-up calls this
    in its background thread)."""
    for e in models.catalogue(torchvision_models=[]):
        if e.kind == "default":
            cached_model(e)


def _restore(widget_key: str, persist_key: str, options: list) -> None:
    """Give a widget the value remembered from another page (only when it has none yet)."""
    if widget_key not in st.session_state and st.session_state.get(persist_key) in options:
        st.session_state[widget_key] = st.session_state[persist_key]


def model_picker(key: str = "model", *, label: str = "Model") -> models.LoadedModel | None:
    """A selectbox over :func:`playground.models.catalogue` plus "Upload a checkpoint". Shows
    load errors (offline ImageNet weights, a refused checkpoint) and returns None then."""
    entries = models.catalogue()
    labels = {e.key: e.label for e in entries}
    labels[UPLOAD] = "Upload a checkpoint file (.pt)"
    options = list(labels)
    wkey = f"{key}_select"
    _restore(wkey, PICKED, options)
    choice = st.selectbox(label, options, format_func=labels.__getitem__, key=wkey,
                          help="The shipped default model was trained on the generated shapes; "
                               "runs are trained on the Train page; torchvision's models were "
                               "trained on ImageNet's 1000 classes.")
    st.session_state[PICKED] = choice
    try:
        if choice == UPLOAD:
            up = st.file_uploader("Checkpoint file", type=["pt", "pth", "ckpt"], key=f"{key}_upload",
                                  help="A checkpoint saved by this app (a run's best.pt or last.pt, "
                                       "or playground.checkpoints.save_checkpoint). Loaded with "
                                       "weights_only=True: files that would run code are refused.")
            if up is None:
                st.info("Upload a checkpoint file to look inside it.", icon=":material/upload_file:")
                return None
            data = up.getvalue()
            lm = _load_upload_cached(hashlib.sha256(data).hexdigest(), data, up.name)
        else:
            e = next(e for e in entries if e.key == choice)
            with st.spinner(f"Loading {e.label} ..."):
                lm = cached_model(e)
    except models.ModelUnavailable as err:
        text = str(err)
        if choice.startswith("torchvision:"):
            name = choice.split(":", 1)[1]
            where = models.weights_path(name)
            show_error(f"{name}'s ImageNet weights are not on this computer and could not be "
                       "downloaded (no internet?). Pick another model, or connect once: they are "
                       f"downloaded a single time and cached. Offline, copy **{where.name}** "
                       f"(from {models.weights_url(name)}) into **{where.parent}** and pick the "
                       "model again.", detail=text)
        else:
            show_error(f"This model could not be loaded. {text.split(': ', 1)[-1] if choice == UPLOAD else text}",
                       detail=text)
        return None
    st.caption(f"{fmt_int(len(lm.class_names))} classes · {fmt_int(lm.params)} parameters · "
               f"input {' x '.join(str(s) for s in lm.input_shape)}")
    return lm


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
@dataclass
class Picture:
    image: Image.Image             # RGB
    name: str                      # where it came from, for captions and cache keys
    digest: str                    # content hash (cache key for attributions)
    mask: np.ndarray | None = None  # generated shapes: the object's pixels (H, W) bool
    truth: str | None = None       # generated shapes: the true class


def _digest(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes() + str(img.size).encode()).hexdigest()[:16]


@st.cache_data(max_entries=8, show_spinner=False)
def _load_bytes(data: bytes) -> Image.Image:
    return images.load_image(data)


@st.cache_data(max_entries=2, show_spinner=False)
def _shapes(n: int, size: int, seed: int):
    d = make_shapes(n, size=size, seed=seed)
    return d.images.numpy(), d.masks.numpy(), d.labels.numpy(), list(d.class_names)


SOURCES = ["Sample photo", "Generated shape", "Draw", "Upload", "Camera"]
SHAPES_SEED = 2026  # not a training seed: a fresh test set
SHAPES_N = 64       # generated shapes to pick from
# The drawing canvas: 280 px is MNIST's 28 at 10x, and an 18 px brush draws strokes as thick,
# relative to the digit, as MNIST's pen strokes (a 20 px digit with ~2 px strokes).
CANVAS_PX, BRUSH_PX = 280, 18


def _default_source(lm: models.LoadedModel | None) -> str:
    """A digit reader gets a drawing; the shapes model a shape; an ImageNet model a photo."""
    if lm is not None and lm.reads_digits:
        return "Draw"
    return "Generated shape" if lm is not None and lm.kind != "torchvision" else "Sample photo"


def draw_digit(key: str, lm: models.LoadedModel | None) -> Picture | None:
    """A canvas to draw a digit on (streamlit-drawable-canvas). Each stroke reruns the page, so
    the prediction and Grad-CAM follow it. The drawing is decoded by the app's one decoder and
    made MNIST-style (:func:`playground.digits.mnist_steps`); the steps are shown beside it."""
    left, right = st.columns([3, 4], gap="medium")
    with left:
        res = st_canvas(stroke_width=BRUSH_PX, stroke_color="#000000", background_color="#FFFFFF",
                        width=CANVAS_PX, height=CANVAS_PX, drawing_mode="freedraw",
                        update_streamlit=True, return_image_data=True, key=f"{key}_canvas")
        st.caption("Draw one digit, 0 to 9, large. The toolbar under the canvas undoes or clears.")
    if lm is not None and not lm.reads_digits:
        st.caption("Tip: pick **Digits model** above; it was trained on handwritten digits.")
    if not (res.json_data or {}).get("objects") or not res.image_bytes:
        with right:
            st.info("Draw a digit on the canvas: the prediction follows every stroke.",
                    icon=":material/draw:")
        return None
    try:
        steps = digits.mnist_steps(images.decode(res.image_bytes))   # the app's one decoder
    except (digits.DigitError, images.ImageError) as err:
        with right:
            show_error(str(err))
        return None
    with right:
        show_mnist_steps(steps)
    return Picture(steps.result.convert("RGB"), "your drawing", _digest(steps.result))


def show_mnist_steps(steps: digits.DigitSteps) -> None:
    """The drawing made MNIST-style, step by step: the ink's box, fitted into 20 x 20, centred."""
    st.markdown("**Made MNIST-style**, as MNIST's digits were made:")
    r, c = steps.centre_of_mass
    shown = [(steps.marked(), "1. white ink on black" + (" (inverted)" if steps.inverted else "")
              + "; the ink's box"),
             (steps.in_box(), f"2. fitted into 20 x 20: {steps.fitted.width} x {steps.fitted.height} px"),
             (steps.result, f"3. centred by mass in 28 x 28 (row {r:.1f}, col {c:.1f})")]
    for col, (img, caption) in zip(st.columns(3), shown):
        arr = np.asarray(img.convert("RGB"))
        col.image(images.upscale(arr, 140) if max(arr.shape[:2]) < 140 else
                  np.asarray(images.thumbnail(img.convert("RGB"), 280)), caption=caption, width="stretch")


def image_input(key: str = "image", lm: models.LoadedModel | None = None) -> Picture | None:
    """Where the photo comes from: a sample photo, a generated shape (with its true class and
    mask), a digit drawn on a canvas, an upload (PNG, JPEG, WebP) or the camera (asked for only
    when chosen). Bad files are explained with ``st.error``; returns None then."""
    wkey = f"{key}_source"
    _restore(wkey, "picked_source", SOURCES)
    if wkey not in st.session_state:
        st.session_state[wkey] = _default_source(lm)
    source = st.radio("Image", SOURCES, key=wkey, horizontal=True,
                      help="The camera is asked for only when you choose it.")
    st.session_state["picked_source"] = source
    try:
        if source == "Sample photo":
            photos = paths.sample_photos()
            path = st.selectbox("Photo", photos, format_func=lambda p: p.stem.capitalize(),
                                key=f"{key}_sample")
            img = _load_bytes(Path(path).read_bytes())
            return Picture(img, Path(path).stem, _digest(img))
        if source == "Generated shape":
            size = 32
            if lm is not None and lm.kind != "torchvision":
                size = int(lm.preprocess.crop[0])
            n = SHAPES_N
            i = st.number_input(f"Shape number (0 to {n - 1}, a test set not used in training)",
                                0, n - 1, 0, 1, key=f"{key}_shape")
            imgs, masks, labels, names = _shapes(n, size, SHAPES_SEED)
            arr = imgs[int(i)].transpose(1, 2, 0)
            img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
            truth = names[int(labels[int(i)])]
            return Picture(img, f"shape {int(i)} ({truth})", _digest(img), masks[int(i)], truth)
        if source == "Draw":
            return draw_digit(key, lm)
        if source == "Upload":
            up = st.file_uploader("Photo (PNG, JPEG or WebP)", type=images.EXTENSIONS,
                                  key=f"{key}_upload")
            if up is None:
                st.info("Upload a photo to see what the model makes of it.", icon=":material/upload:")
                return None
            img = _load_bytes(up.getvalue())
            return Picture(img, up.name, _digest(img))
        shot = st.camera_input("Take a photo", key=f"{key}_camera")
        if shot is None:
            return None
        img = _load_bytes(shot.getvalue())
        return Picture(img, "camera photo", _digest(img))
    except images.ImageError as err:
        show_error(f"This image cannot be used: {err}", err)
        return None


# --------------------------------------------------------------------------------------------
# Shared computations (cached per model and photo) and the "what the model receives" view
# --------------------------------------------------------------------------------------------
def model_id(lm: models.LoadedModel) -> str:
    """Cache key of a loaded model: its catalogue key and this load of it."""
    return f"{lm.key}@{id(lm.model)}"


@st.cache_data(max_entries=64, show_spinner=False)
def cached_probabilities(mid: str, digest: str, _lm: models.LoadedModel, _x) -> np.ndarray:
    """Class probabilities of the model for the photo (playground.explain.probabilities), cached."""
    with model_lock(_lm):
        return explain.probabilities(_lm.model, _x).numpy()


@st.cache_data(max_entries=64, show_spinner=False)
def attribution(mid: str, digest: str, method: str, target: int, layer: str | None,
                _lm: models.LoadedModel, _x) -> np.ndarray:
    """One (H, W) attribution map in [0, 1] (playground.explain.attribute), cached."""
    with model_lock(_lm):
        return explain.attribute(method, _lm.model, _x, target, layer).numpy()


@st.cache_resource(max_entries=4, show_spinner=False)
def feature_maps(mid: str, digest: str, _lm: models.LoadedModel, _x) -> dict[str, np.ndarray]:
    """Every conv and pool layer's output (read-only arrays, shared, not copied per rerun: a
    resnet18's maps are tens of MB)."""
    with model_lock(_lm):
        maps = {k: v.numpy() for k, v in explain.feature_maps(_lm.model, _x).items()}
    for a in maps.values():
        a.flags.writeable = False
    return maps


@st.cache_data(max_entries=16, show_spinner=False)
def cam_layers(mid: str, shape: tuple[int, ...], _lm: models.LoadedModel):
    """(layers Grad-CAM can use, the default's name or None): playground.explain.cam_layers."""
    return explain.cam_layers(_lm.model, shape)


def show_model_input(prep: images.Prepared, key: str) -> None:
    """The resize, the crop and the normalized tensor, step by step."""
    pre = prep.pre
    st.markdown(f"The model's preprocessing: {pre.describe()}.")
    steps = [
        ("1. Your image", prep.original, f"{prep.original.width} x {prep.original.height} px"),
        ("2. Resized", prep.resized, f"shorter side {pre.resize} px: "
                                     f"{prep.resized.width} x {prep.resized.height} px"),
        ("3. Centre crop", prep.cropped, f"{prep.cropped.width} x {prep.cropped.height} px: "
                                         "exactly the pixels the model sees"),
        ("4. Normalized, mapped back", images.denormalize(prep.tensor, pre.mean, pre.std),
         "tensor x std + mean: what the numbers hold"),
    ]
    cols = st.columns(4)
    for col, (title, img, caption) in zip(cols, steps):
        with col:
            st.markdown(f"**{title}**")
            shown = img if isinstance(img, np.ndarray) else np.asarray(images.thumbnail(img.convert("RGB"), 400))
            shown = images.upscale(shown, 200)  # a 32 px input in crisp pixels, not a blur
            st.image(shown, caption=caption, width="stretch")
    c1, c2 = st.columns([2, 3])
    with c1:
        shape = " x ".join(str(s) for s in prep.tensor.shape)
        st.markdown(f"**The tensor:** shape {shape} (batch, channels, height, width), float32.")
        rows = [{"channel": s["channel"], "min": f"{s['min']:+.3f}", "max": f"{s['max']:+.3f}",
                 "mean": f"{s['mean']:+.3f}", "std": f"{s['std']:.3f}"} for s in prep.stats]
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption("After normalization each channel's values sit around 0 with a spread near 1 "
                   "for images like the training set's.")
    with c2:
        names = [s["channel"] for s in prep.stats]
        st.plotly_chart(fx.value_histogram(prep.tensor, names), key=f"{key}_hist", width="stretch")


@dataclass
class Subject:
    """What Classify and Look inside both start from: a model, a photo, what the model receives
    and its class probabilities."""
    lm: models.LoadedModel
    pic: Picture
    prep: images.Prepared
    mid: str
    probs: np.ndarray


def model_and_photo(model_key: str = "model", image_key: str = "image") -> Subject:
    """The model picker (left) and the image input (right); stops the page until both are
    chosen. Prediction is cached per (model, photo)."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        lm = model_picker(model_key)
    with right:
        pic = image_input(image_key, lm)
    if lm is None or pic is None:
        st.stop()
    prep = images.prepare(pic.image, lm.preprocess)
    mid = model_id(lm)
    return Subject(lm, pic, prep, mid, cached_probabilities(mid, pic.digest, lm, prep.tensor))
