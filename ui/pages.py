"""The app's pages, listed once: app.py builds the navigation from it, the home page its cards,
and each page its title and the sentence that says what it is for."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    key: str          # the url path (/network) and the file views/<file>.py
    file: str
    title: str
    icon: str         # a Streamlit material icon
    purpose: str      # the page's first line
    card: str         # the home page's description


PAGES: tuple[Page, ...] = (
    Page("conv_arithmetic", "conv_arithmetic", "Conv arithmetic", ":material/calculate:",
         "Turn every knob of one convolution or pooling layer and see the output shape, the "
         "formula with your numbers in it, and the kernel sliding over real values.",
         "Turn every knob of one conv or pooling layer; see the output shape, the formula with the "
         "numbers filled in, and the kernel sliding over real values."),
    Page("network", "network", "Network inspector", ":material/account_tree:",
         "A whole network layer by layer, drawn the way the course draws it: every output shape, "
         "parameter, MAC and receptive field, and, when the shapes do not fit, where and how to "
         "fix it.",
         "A whole network layer by layer: shapes, parameters, MACs and receptive fields, the block "
         "diagram, and shape errors explained with a one-click fix; export as PyTorch code."),
    Page("train", "train", "Training runs", ":material/model_training:",
         "Launch a training run, watch its loss and accuracy move live, stop it, change one "
         "thing, run again and compare.",
         "Launch a training run, watch loss and accuracy move live, stop it, compare runs; the "
         "coach reads the curves (NaN, not learning, overfitting, too-high learning rate)."),
    Page("inside", "inside", "Look inside", ":material/visibility:",
         "See what a trained CNN does with one photo: the filters it learned, what every layer "
         "makes of the photo, and which pixels decided its answer.",
         "A trained network's filters, every layer's feature maps for your photo, Grad-CAM and "
         "other attributions side by side, and a kernel sandbox."),
    Page("classify", "classify", "Classify a photo", ":material/photo_camera:",
         "Give a trained network a photo: see what it predicts, how sure it is, and where it "
         "looked to decide.",
         "Upload or snap a photo: the top predictions with their probabilities, and where the "
         "model looked (Grad-CAM)."),
    Page("click", "segment_click", "Click to segment", ":material/ads_click:",
         "Click an object and its mask appears: SAM's point prompt, imitated offline by a small "
         "U-Net that takes the click as a fourth input channel.",
         "Click a shape in a scene (or your photo): a small U-Net trained here outlines the "
         "object under your click in a fraction of a second."),
)
HOME = Page("", "home", "Home", ":material/home:", "See convolutional networks work: one layer's "
            "arithmetic, a whole network's shapes, a live training run, and what a trained model "
            "looks at.", "")


def page(key: str) -> Page:
    """The page registered under ``key``."""
    for p in PAGES:
        if p.key == key:
            return p
    raise KeyError(f"No page {key!r}; pages: {', '.join(p.key for p in PAGES)}")


def view_path(p: Page) -> str:
    """The page's script, relative to the repository root (what st.Page and st.page_link take)."""
    return f"views/{p.file}.py"
