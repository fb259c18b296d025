"""Landing page: what each page does."""
import streamlit as st

from ui.pages import HOME, PAGES, view_path

st.title("CNN Playground")
st.markdown(HOME.purpose)

PER_ROW = 3
for start in range(0, len(PAGES), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, p in zip(cols, PAGES[start:start + PER_ROW]):
        with col.container(border=True, height="stretch"):
            st.page_link(view_path(p), label=f"**{p.title}**", icon=p.icon)
            st.write(p.card)

with st.expander("Works offline"):
    st.markdown(
        "Everything runs on this computer without internet: the default dataset is generated "
        "(coloured shapes with their masks), and the default model for *Look inside* and "
        "*Classify a photo* was trained on it by this project's own training code "
        "(`make default-model`). Online, torchvision's real datasets (MNIST, FashionMNIST, "
        "CIFAR-10) and ImageNet-pretrained models download once and are cached.")
