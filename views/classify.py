"""Classify a photo: top-k predictions and where the model looked (Grad-CAM)."""
import streamlit as st

from playground import explain, images
from playground.figures import explain as fx
from ui import links, pickers
from ui.common import page_intro, plain, show_error
from ui.conversion import conversion, trained_on
from ui.links import Param

PAGE = "classify"
page_intro(PAGE)
links.bind(PAGE, [*pickers.link_params(), Param("opacity", "cam_alpha", "float", 0.5, lo=0.0, hi=1.0),
                  Param("top", "topk", late=True)])

subject = pickers.model_and_photo("model", "image")
lm, pic, prep, mid, probs = subject.lm, subject.pic, subject.prep, subject.mid, subject.probs
x = prep.tensor
k = min(10, len(probs))
rows = explain.topk(probs, lm.class_names, k)
best_i, best_name, best_p = rows[0]

st.subheader(f"Prediction: {plain(best_name)} ({100 * best_p:.1f} %)")
if pic.truth is not None:
    verdict = "correct" if pic.truth == best_name else "wrong"
    st.caption(f"True class of this generated shape: **{pic.truth}**, so the prediction is {verdict}.")

links.share(PAGE)


@st.cache_data(max_entries=8, show_spinner=False)
def cam_layers(mid: str, digest: str, target: int, _shown, _cam):
    """The photo and its Grad-CAM, coloured, at the shown size: the opacity slider only blends
    them (the whole overlay was ~15 ms of each of its reruns)."""
    return images.overlay_layers(images.upscale(_shown), _cam)


@st.fragment
def cam_panel() -> None:
    """Grad-CAM over the photo: the opacity slider reruns this panel only (the map is cached)."""
    links.sync(PAGE)
    st.markdown(f"**Where it looked for \"{plain(best_name)}\"** (Grad-CAM)")
    try:
        cam = pickers.attribution(mid, pic.digest, "Grad-CAM", best_i, None, lm, x)
    except Exception as err:  # noqa: BLE001 - an exotic uploaded network must not break the page
        show_error("Grad-CAM could not be computed for this model.", err)
        return
    alpha = st.session_state.get("cam_alpha", 0.5)
    st.image(images.blend(cam_layers(mid, pic.digest, best_i, prep.shown, cam), alpha), width="stretch",
             caption="red: regions that raise the score most; blue: little or none")
    st.slider("Heat-map opacity", 0.0, 1.0, 0.5, 0.05, key="cam_alpha")
    if pic.mask is not None:
        r, c = explain.peak(cam)
        inside = bool(pic.mask[r, c]) if pic.mask.shape == cam.shape else None
        if inside is not None:
            st.caption(f"Grad-CAM's peak (row {r}, column {c}) is "
                       f"{'inside' if inside else 'outside'} the shape.")


c_photo, c_cam, c_bar = st.columns([1, 1, 1.3], gap="medium")
with c_photo:
    st.markdown("**The photo the model sees**")
    st.image(images.upscale(prep.shown), caption=f"{pic.name}, as the model trained on it: "
                                                 f"{trained_on(lm)}", width="stretch")
with c_cam:
    cam_panel()
with c_bar:
    links.take(PAGE, "top", range(1, max(1, min(10, len(probs))) + 1))
    k = st.slider("How many classes", 1, max(1, min(10, len(probs))), min(5, len(probs)),
                  key="topk") if len(probs) > 1 else 1
    st.plotly_chart(fx.topk_bar(rows[:k], title=f"Top {k} of {len(probs):,} classes"),
                    key="topk_chart", width="stretch")

with st.expander(f"What the model receives: {trained_on(lm)}, normalised as in training"):
    st.markdown(conversion(lm, prep))
    pickers.show_model_input(prep, "classify_input")

with st.expander("How to read this"):
    st.markdown(
        "- **Probabilities** are the softmax of the network's last layer: they add up to 100 % "
        "over all classes. A high value says the model is sure, not that it is right: a model "
        "trained on shapes will confidently call a cat photo a circle, because those are the only "
        "classes it knows.\n"
        "- **Grad-CAM** takes the feature maps of the last convolutional layer that still has a "
        "spatial layout, weights each channel by the average gradient of the class score with "
        "respect to it, sums them and keeps the positive part. Upsampled to the photo, it shows "
        "the regions that pushed the score of this class up. The *Look inside* page computes it "
        "for any layer and class, next to other attribution methods.")
