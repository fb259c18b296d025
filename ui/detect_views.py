"""What Watch shows for a detect run (called from ui/task_views.py's task panel, in Watch's slow
fragment): one validation scene of the strip (a selector) drawn with its S x S grid, each true
object's box and the cell responsible for it; the objectness of every cell after the chosen epoch
(a slider, "latest" follows the run); the predicted boxes before and after NMS side by side, with
score and IoU threshold sliders that re-decode the saved outputs (``detect.decode_view``: no
network, no retraining); validation mAP@0.5 and mAP per epoch."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from playground.figures import detect as det_figs
from playground.tasks import detect
from playground.training import views
from ui import plot

LATEST = "latest"
SCORES = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
SHOWN_PX = 256     # each picture at its drawn size: two rows of two fit a laptop screen with the sliders
IOUS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def _chosen_epoch(run_id: str, done: list[int]) -> int:
    choice = st.select_slider("Epoch shown", [*done, LATEST], value=LATEST, key=f"train_det_epoch_{run_id}",
                              help="'latest' follows the run while it trains.")
    return done[-1] if choice == LATEST or choice not in done else int(choice)


def _thresholds(run_id: str) -> tuple[float, float]:
    c1, c2 = st.columns(2)
    score = c1.select_slider("Score threshold", SCORES, value=detect.SCORE_THRESHOLD, key=f"train_det_score_{run_id}",
                             help="A cell's box is a candidate when objectness x class probability reaches this.")
    iou = c2.select_slider("NMS IoU threshold", IOUS, value=detect.NMS_IOU, key=f"train_det_iou_{run_id}",
                           help="Of two boxes of one class overlapping by more than this IoU, the lower "
                                "score is dropped. 1.0: nothing is suppressed.")
    return float(score), float(iou)


def _pictures(image, truth, decoded: dict, cells: int, names: list[str], epoch: int, iou: float) -> None:
    top = st.columns(2)
    top[0].image(det_figs.truth_picture(image, truth, cells, names), output_format="PNG", width=SHOWN_PX,
                 caption=f"The scene, its {cells} x {cells} grid, the true boxes and (yellow) each one's responsible cell")
    top[1].image(det_figs.objectness_picture(image, decoded["objectness"]), output_format="PNG", width=SHOWN_PX,
                 caption=f"Objectness of every cell after epoch {epoch}")
    bottom = st.columns(2)
    n_before, n_after = len(decoded["before"]), len(decoded["after"])
    bottom[0].image(det_figs.boxes_picture(image, decoded["before"], cells), output_format="PNG", width=SHOWN_PX,
                    caption=f"Before NMS: {n_before} boxes")
    bottom[1].image(det_figs.boxes_picture(image, decoded["after"], cells), output_format="PNG", width=SHOWN_PX,
                    caption=f"After NMS (IoU {iou:g}): {n_after} boxes")


def detect_panel(run_dir: Path, view: dict) -> None:
    """The scene with its grid, objectness, boxes before and after NMS, mAP per epoch."""
    strip, done = views.read_strip(run_dir), views.view_epochs(run_dir)
    run_id = str(view["id"])
    if strip is None or not done:
        st.info("The grid view appears after the first epoch: a validation scene with its cells, "
                "where the network sees objects, and its boxes before and after NMS.")
        return
    st.markdown("**The grid at work:** one validation scene after every epoch; each cell predicts "
                "one box, and NMS keeps the best of the overlapping ones.")
    k = int(strip["images"].shape[0])
    scene = st.selectbox("Validation scene", list(range(k)), key=f"train_det_scene_{run_id}",
                         format_func=lambda i: f"scene {i + 1} of {k}")
    epoch = _chosen_epoch(run_id, done)
    score, iou = _thresholds(run_id)
    shown = views.read_epoch_view(run_dir, epoch)
    if shown is None or "raw" not in shown:
        st.warning(f"The outputs of epoch {epoch} could not be read.")
        return
    names = list(view["info"].get("classes") or [])
    image, raw = strip["images"][scene], shown["raw"][scene]
    decoded = detect.decode_view(raw, score, iou, names, image_size=int(image.shape[1]))
    _pictures(image, strip["truth"][scene], decoded, int(raw.shape[0]), names, epoch, iou)
    st.plotly_chart(plot.lean(det_figs.detect_curves(view["epochs"])), key="train_det_curves", width="stretch")
    st.caption("mAP@0.5: for each class, the area under the precision-recall curve of the boxes "
               "ranked by score, a box counting as right when it overlaps a true box of its class by "
               "IoU 0.5 or more; averaged over the classes (torchmetrics, COCO's evaluation). mAP: the "
               "same averaged over IoU 0.5 to 0.95, which asks for tighter boxes.")
