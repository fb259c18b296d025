"""What Watch shows beyond the numbers and curves every run has, per task: for a segment run the
mask strip (a fixed row of validation images, their true masks and the masks predicted after the
chosen epoch, one colour per class with a legend), validation mIoU and Dice per epoch, and the
IoU of each class. It is drawn in Watch's slow fragment (every ``watch.SLOW_EVERY_S``, with the
epoch curves), not every tick: three small PNGs and two charts per refresh."""
from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from playground.figures import segment as seg_figs
from playground.training import views
from ui import detect_views, plot

LATEST = "latest"
SCALE = 3       # a 32 px strip image is drawn 96 px wide (nearest: the pixels stay visible)


def legend_html(class_names: list[str]) -> str:
    """One line of colour swatches naming the classes (names escaped: they are the learner's)."""
    cells = "".join(f"<span style='display:inline-flex;align-items:center;margin-right:1.1rem'>"
                    f"<span style='width:0.95rem;height:0.95rem;border-radius:3px;margin-right:0.35rem;"
                    f"background:{seg_figs.mask_colour(k)};display:inline-block'></span>{html.escape(str(n))}</span>"
                    for k, n in enumerate(class_names))
    return f"<div style='margin:0.2rem 0 0.4rem 0'>{cells}</div>"


def _epoch_record(epochs: list[dict], epoch: int) -> dict:
    return next((e for e in epochs if e.get("epoch") == epoch), {})


def segment_panel(run_dir: Path, view: dict) -> None:
    """The mask strip with its epoch slider, mIoU and Dice per epoch, IoU per class."""
    strip, done = views.read_strip(run_dir), views.view_epochs(run_dir)
    if strip is None or not done:
        st.info("The mask strip appears after the first epoch: a fixed row of validation images "
                "and the masks the network predicts for them, epoch after epoch.")
        return
    st.markdown("**The mask strip:** the same validation images after every epoch; watch the "
                "predicted masks sharpen.")
    choice = st.select_slider("Epoch shown", [*done, LATEST], value=LATEST, key=f"train_strip_{view['id']}",
                              help="'latest' follows the run while it trains.")
    epoch = done[-1] if choice == LATEST or choice not in done else int(choice)
    shown = views.read_epoch_view(run_dir, epoch)
    names = list(view["info"].get("classes") or [])
    images = seg_figs.as_rgb(strip["images"])
    st.markdown(legend_html(names), unsafe_allow_html=True)
    st.image(seg_figs.strip_picture(images, SCALE), caption="Validation images", output_format="PNG")
    st.image(seg_figs.strip_picture(seg_figs.colour_masks(strip["truth"]), SCALE), caption="True masks",
             output_format="PNG")
    if shown is not None and "pred" in shown:
        st.image(seg_figs.strip_picture(seg_figs.colour_masks(shown["pred"]), SCALE),
                 caption=f"Predicted masks after epoch {epoch}", output_format="PNG")
    left, right = st.columns(2)
    left.plotly_chart(plot.lean(seg_figs.segment_curves(view["epochs"])), key="train_seg_curves", width="stretch")
    ious = _epoch_record(view["epochs"], epoch).get("val_iou_per_class")
    if ious:
        right.plotly_chart(plot.lean(seg_figs.iou_per_class(ious, names, epoch)), key="train_seg_iou",
                           width="stretch")
    st.caption("mIoU: per image, the overlap of predicted and true pixels of each class divided by "
               "their union, averaged over the classes present (background counts, as in Pascal VOC). "
               "Pixels right flatters: a network that says 'background' everywhere gets most pixels right.")


PANELS = {"segment": segment_panel, "detect": detect_views.detect_panel}


def task_panel(run_dir: Path, view: dict) -> None:
    """The task's own part of Watch, if it has one (a classify run has none here)."""
    panel = PANELS.get(str(view["config"].get("task") or "classify"))
    if panel is not None:
        panel(Path(run_dir), view)
