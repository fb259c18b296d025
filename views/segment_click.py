"""Click to segment: click an object in a scene (or your photo) and its mask appears."""
import random
import time

import numpy as np
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

from playground import click, images
from playground.data import DataError
from ui import links
from ui.common import page_intro, show_error
from ui.links import Param

PAGE = "click"
MAX_SEED = 999_999
SCALE = 6                    # a 64 px scene shown 384 px wide: big enough to aim at a shape
PHOTO_SIDE = 384             # a photo is shown (and segmented) with its longer side at most this

page_intro(PAGE)
links.bind(PAGE, [Param("seed", "click_seed", "int", 0, lo=0, hi=MAX_SEED),
                  Param("x", "click_x", "int", -1, lo=-1, hi=PHOTO_SIDE),
                  Param("y", "click_y", "int", -1, lo=-1, hi=PHOTO_SIDE)])


def forget_click() -> None:
    st.session_state["click_x"] = st.session_state["click_y"] = -1


def new_scene() -> None:
    st.session_state["click_seed"] = random.randint(0, MAX_SEED)
    forget_click()


@st.cache_data(max_entries=64, show_spinner=False)
def scene_picture(seed: int):
    return click.scene(seed)[0]


@st.cache_data(max_entries=4, show_spinner=False)
def photo_picture(data: bytes):
    return images.thumbnail(images.load_image(data), PHOTO_SIDE)


c_pic, c_side = st.columns([1.3, 1], gap="large")
with c_side:
    st.number_input("Scene", 0, MAX_SEED, key="click_seed", on_change=forget_click,
                    help="Each number is one generated scene of 1 to 4 shapes (it is in the link).")
    st.button("New scene", on_click=new_scene)
    upload = st.file_uploader("Or your own photo", type=images.EXTENSIONS, on_change=forget_click)

seed = int(st.session_state.get("click_seed", 0))
try:
    pic = photo_picture(upload.getvalue()) if upload is not None else None
except images.ImageError as err:
    show_error(str(err))
    pic = None
picture = np.asarray(pic.convert("RGB")) if pic is not None else scene_picture(seed)
h, w = picture.shape[:2]
scale = SCALE if pic is None else 1
x, y = int(st.session_state.get("click_x", -1)), int(st.session_state.get("click_y", -1))
mask, seconds = None, None
if x >= 0 and y >= 0:
    try:
        t0 = time.perf_counter()
        mask = click.segment_at(picture, x, y)
        seconds = time.perf_counter() - t0
    except DataError as err:
        show_error(str(err))

with c_pic:
    ring = (x, y) if mask is not None else (None, None)
    value = streamlit_image_coordinates(click.overlay(picture, mask, *ring, scale),
                                        key=f"click_img_{seed}_{w}x{h}", cursor="crosshair")
    st.caption("Click any shape. The mask the model gives stays bright, outlined in yellow; the "
               "rest is dimmed; the ring marks your click.")
got = click.display_to_pixel(value, h, w)
last = st.session_state.get("click_last_event")
if got is not None and value.get("unix_time") != last:
    st.session_state["click_last_event"] = value.get("unix_time")
    if got != (x, y):
        st.session_state["click_x"], st.session_state["click_y"] = got
        st.rerun()

with c_side:
    if mask is not None:
        st.metric("Time for this click", f"{1000 * seconds:,.0f} ms")
        st.markdown(f"Mask: **{int(mask.sum()):,} pixels** of {h * w:,} "
                    f"({100 * mask.mean():.1f} %), clicked at x = {x}, y = {y}.")
    else:
        st.info("Click a shape in the picture.")
    links.share(PAGE)

with st.expander("How it works: SAM's point prompt, imitated", expanded=True):
    st.markdown(
        "**SAM** (Segment Anything) answers a *point prompt*: a click becomes a small embedding that "
        "a decoder combines with the image's features to say which pixels belong to the object "
        "under the point. **This model imitates it** with one network: a U-Net whose input is the "
        "image plus a fourth channel holding a Gaussian blob at the click, trained on generated "
        "scenes to output only the clicked object's visible mask.")
    try:
        info = click.load_model()[1]
        st.caption(f"Trained by `{info.get('trained_by', '')}` in {info.get('seconds', 0):,.0f} s on "
                   f"this CPU: {info.get('params', 0):,} parameters, mean IoU "
                   f"{info.get('val_iou', 0):.2f} on held-out scenes (a click near each object's "
                   f"centre), {info.get('val_iou_random_clicks', 0):.2f} with clicks anywhere on it.")
    except DataError as err:
        show_error(str(err))
