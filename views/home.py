"""Landing page: what each page does."""
import streamlit as st

st.title("CNN Playground")
st.markdown("See convolutional networks work: one layer's arithmetic, a whole network's shapes, "
            "a live training run, and what a trained model looks at.")

# (page file, title, material icon, one-line description). Only pages that exist are listed.
PAGES = [
    ("views/conv_arithmetic.py", "Conv arithmetic", ":material/calculate:",
     "Turn every knob of one conv or pooling layer; see the output shape, the formula with the "
     "numbers filled in, and the kernel sliding over real values."),
    ("views/network.py", "Network inspector", ":material/account_tree:",
     "A whole network layer by layer: shapes, parameters, MACs and receptive fields, the block "
     "diagram, and shape errors explained with a one-click fix; export as PyTorch code."),
    ("views/train.py", "Training runs", ":material/model_training:",
     "Launch a training run, watch loss and accuracy move live, stop it, compare runs; the "
     "coach reads the curves (NaN, not learning, overfitting, too-high learning rate)."),
    ("views/inside.py", "Look inside", ":material/visibility:",
     "A trained network's filters, every layer's feature maps for your photo, Grad-CAM and other "
     "attributions side by side, and a kernel sandbox."),
    ("views/classify.py", "Classify a photo", ":material/photo_camera:",
     "Upload or snap a photo: the top predictions with their probabilities, and where the "
     "model looked (Grad-CAM)."),
]
PER_ROW = 3
for start in range(0, len(PAGES), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, (path, title, icon, text) in zip(cols, PAGES[start:start + PER_ROW]):
        with col.container(border=True, height="stretch"):
            st.page_link(path, label=f"**{title}**", icon=icon)
            st.write(text)

with st.expander("Works offline"):
    st.markdown(
        "Everything runs on this computer without internet: the default dataset is generated "
        "(coloured shapes with their masks), and the default model for *Look inside* and "
        "*Classify a photo* was trained on it by this project's own training code "
        "(`make default-model`). Online, torchvision's real datasets (MNIST, FashionMNIST, "
        "CIFAR-10) and ImageNet-pretrained models download once and are cached.")
