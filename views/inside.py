"""Look inside: filters, feature maps, attributions and a kernel sandbox for one photo."""
import numpy as np
import streamlit as st

from playground import explain, images
from playground.figures import explain as fx
from ui import links, pickers
from ui.attention_tab import attention_section
from ui.common import fmt_int, page_intro, plain, show_error
from ui.conversion import conversion
from ui.links import Param

PAGE = "inside"
TABS = {"Feature maps": "maps", "Attributions": "attr", "Attention": "attention", "Filters": "filters",
        "Kernel sandbox": "kernel", "What the model receives": "input"}
ORDERS = {"strength": "mean activation", "peak": "largest value", "index": "channel number"}

page_intro(PAGE)
links.bind(PAGE, [*pickers.link_params(), Param("tab", "inside_tab", choices=list(TABS), default=next(iter(TABS)),
                                                text=lambda t: TABS.get(t, t)),
                  Param("layer", "fm_layer", late=True), Param("channel", "fm_channel", late=True),
                  Param("order", "fm_order", choices=list(ORDERS), default=next(iter(ORDERS))),
                  Param("count", "fm_count", late=True),
                  Param("methods", "attr_methods", "list", choices=list(explain.METHODS),
                        default=[m.name for m in explain.METHODS.values() if m.default]),
                  Param("target", "attr_class", late=True), Param("cam_layer", "attr_layer", late=True),
                  Param("opacity", "attr_alpha", "float", 0.5, lo=0.0, hi=1.0),
                  Param("conv", "flt_layer", late=True), Param("filter", "flt_index", late=True),
                  Param("kernel", "k_preset", choices=list(explain.KERNELS), default=next(iter(explain.KERNELS)))])

subject = pickers.model_and_photo("model", "image")
lm, pic, prep, mid, probs = subject.lm, subject.pic, subject.prep, subject.mid, subject.probs
x = prep.tensor
ranked = explain.topk(probs, lm.class_names, len(probs))
best_i, best_name, best_p = ranked[0]
truth = f" · true class **{pic.truth}**" if pic.truth else ""
st.markdown(f"The model predicts **{plain(best_name)}** ({100 * best_p:.1f} %){truth}.")

links.share(PAGE)


# --------------------------------------------------------------------------------------------
# Feature maps go to the browser as pictures (PNG bytes, cached on plain inputs): a plotly figure
# per grid and per enlarged channel cost chromium ~100 ms each to redraw on every change of
# layer or channel (README "How it feels").
@st.cache_data(max_entries=64, show_spinner=False)
def channel_grid(mid: str, digest: str, layer: str, order_by: str, n_show: int,
                 _a: np.ndarray) -> tuple[list[int], bytes]:
    """The channels shown (their order) and the tiles as one titled PNG."""
    order = explain.channel_order(_a, order_by)[:n_show]
    cols = 8 if n_show > 16 else max(4, min(8, n_show))
    tiles = fx.feature_image(explain.scale_maps(_a[order]), [f"ch {i}" for i in order], cols=cols)
    return order, images.to_png(tiles)


ENLARGED = 448          # px: the photo and the enlarged channel, side by side


@st.cache_data(max_entries=64, show_spinner=False)
def photo_png(mid: str, digest: str, _photo: np.ndarray) -> bytes:
    """The photo as the model sees it, enlarged: the same bytes on every change (the browser
    keeps its copy; drawn into one picture with the channel it cost each change an encode)."""
    return images.to_png(images.upscale(_photo, ENLARGED))


@st.cache_data(max_entries=64, show_spinner=False)
def channel_png(mid: str, digest: str, layer: str, ch: int, _a: np.ndarray) -> bytes:
    """One channel, scaled to its own range, enlarged (crisp pixels) as a PNG."""
    scaled = explain.scale_maps(_a[ch][None])[0]
    return images.to_png(images.upscale((scaled * 255).round().astype(np.uint8), ENLARGED))


@st.fragment
def maps_section() -> None:
    """A layer, an order, a channel: each reruns this tab only."""
    links.sync(PAGE)
    maps = pickers.feature_maps(mid, pic.digest, lm, x)
    if not maps:
        st.info("This model has no convolutional or pooling layer to show.")
        return
    names = list(maps)
    row = st.container(horizontal=True, gap="large")     # one block, not a block and 3 columns
    links.take(PAGE, "layer", names)
    layer = row.selectbox("Layer", names, key="fm_layer",
                          format_func=lambda n: f"{n}: {' x '.join(map(str, maps[n].shape))}")
    order_by = row.radio("Order channels by", list(ORDERS), key="fm_order", horizontal=True,
                         format_func=ORDERS.get)
    a = maps[layer]                # read-only: shared by every session's rerun
    C, H, W = a.shape
    links.take(PAGE, "count", range(1, min(C, 64) + 1))
    n_show = row.slider("Channels shown", 1, min(C, 64), min(C, 32), key="fm_count") if C > 1 else 1
    order, grid = channel_grid(mid, pic.digest, layer, order_by, n_show, a)
    kind = type(lm.model.get_submodule(layer)).__name__
    st.markdown(f"**{layer}** ({kind}) outputs **{C} channels of {H} x {W}** "
                f"({fmt_int(C * H * W)} numbers). Each tile is one channel, scaled to its own "
                "range: white = its largest value, black = its smallest.")
    st.image(grid, width="content")
    links.take(PAGE, "channel", order)
    ch = st.selectbox("Enlarge channel", order, key="fm_channel", width=280,
                      format_func=lambda i: f"channel {i}")
    m = a[ch]
    # One element with both pictures, its numbers in the caption (was two columns, two images and
    # a line of text: 24 messages a change, 14 now; each one chromium handles after the knob).
    st.image([photo_png(mid, pic.digest, prep.shown), channel_png(mid, pic.digest, layer, ch, a)],
             width=ENLARGED * 4 // 5,
             caption=["the photo, as the model sees it",
                      f"{layer}, channel {ch} ({H} x {W}): min {float(m.min()):.3f}, max {float(m.max()):.3f}, "
                      f"mean {float(m.mean()):.3f}; {100 * float((m > 0).mean()):.0f} % of positions above zero"])


def maps_tab() -> None:
    """The feature maps (a fragment: a knob there reruns it alone) and, outside it, their help
    (static: a knob does not send it again)."""
    maps_section()
    with st.expander("What am I looking at?"):
        st.markdown(
            "A conv layer slides each of its filters over its input and writes one **channel** "
            "per filter: bright where the input looks like the filter. Early layers respond to "
            "edges and colours; deeper layers, seeing a larger part of the photo (their receptive "
            "field), respond to parts and whole objects. Pooling layers keep the strongest "
            "response in each window and halve the resolution. Ordering by *mean activation* "
            "puts the channels this photo excites most first.")

# --------------------------------------------------------------------------------------------
@st.fragment
def attributions_section() -> None:
    """Methods, class, layer and opacity rerun this tab only (each map is cached)."""
    links.sync(PAGE)
    layers, default_layer = pickers.cam_layers(mid, tuple(x.shape[1:]), lm)
    if not layers:
        st.info("This model has no spatial layer, so Grad-CAM has nowhere to look; saliency and "
                "the other pixel methods still work.")
    c1, c2, c3 = st.columns([3, 2, 2])
    methods = c1.multiselect("Methods (side by side)", list(explain.METHODS),
                             default=[m.name for m in explain.METHODS.values() if m.default],
                             key="attr_methods")
    top = ranked[: min(len(ranked), 1000)]
    links.take(PAGE, "target", [i for i, _, _ in top])
    target = c2.selectbox("Explain the class", [i for i, _, _ in top], key="attr_class",
                          format_func=lambda i: f"{explain.class_name(lm.class_names, i)} "
                                                f"({100 * float(probs[i]):.1f} %)",
                          help="Sorted by probability; the first is the top class.")
    layer_names = [li.name for li in layers]
    layer_label = {li.name: li.label for li in layers}
    cam_layer = None
    if layer_names:
        links.take(PAGE, "cam_layer", layer_names)
        cam_layer = c3.selectbox("Grad-CAM layer", layer_names, index=layer_names.index(default_layer),
                                 key="attr_layer", format_func=layer_label.get,
                                 help="Default: the last layer whose output is still an image (the "
                                      "rectified maps of the last conv layer).")
    alpha = st.slider("Heat-map opacity", 0.0, 1.0, 0.5, 0.05, key="attr_alpha")
    if not methods:
        st.info("Choose one or more methods above.")
    shown = []
    slow = [mth for mth in methods if explain.METHODS[mth].slow]
    note = f" ({' and '.join(slow)} take a few seconds on a large model)" if slow else ""
    with st.spinner(f"Computing {', '.join(methods)}{note} ..."):
        for mth in methods:
            needs_layer = explain.METHODS[mth].needs_layer
            if needs_layer and cam_layer is None:
                continue
            try:
                heat = pickers.attribution(mid, pic.digest, mth, int(target),
                                           cam_layer if needs_layer else None, lm, x)
            except Exception as err:  # noqa: BLE001 - an exotic uploaded network must not break the page
                show_error(f"{mth} could not be computed for this model and layer.", err)
                continue
            shown.append((mth, heat))
    per_row = 4
    items = [("Photo", None)] + shown if shown else []
    for start in range(0, len(items), per_row):
        cols = st.columns(per_row)
        for col, (mth, heat) in zip(cols, items[start:start + per_row]):
            with col:
                if heat is None:
                    st.markdown("**The photo**")
                    st.image(images.upscale(prep.shown), width="stretch",
                             caption=f"{prep.cropped.width} x {prep.cropped.height} px model input")
                    continue
                st.markdown(f"**{mth}**")
                at = f"at layer {cam_layer}" if explain.METHODS[mth].needs_layer else None
                st.image(images.overlay(images.upscale(prep.shown), heat, alpha), width="stretch",
                         caption=at)
                if pic.mask is not None and pic.mask.shape == heat.shape:
                    r, c = explain.peak(heat)
                    st.caption(f"peak {'inside' if pic.mask[r, c] else 'outside'} the shape · "
                               f"{explain.mask_share(heat, pic.mask).text()}")
    with st.expander("What each method shows"):
        for mth in explain.METHODS.values():
            st.markdown(f"- **{mth.name}** (captum's `{mth.captum}`): {mth.description}")
        st.markdown("Every map is scaled to [0, 1] and drawn with the same colours: blue = little "
                    "or no influence, red = the most. All come from captum.")

# --------------------------------------------------------------------------------------------
@st.fragment
def filters_section() -> None:
    links.sync(PAGE)
    convs = explain.conv_weights(lm.model)         # name -> (out, in, kh, kw) weights
    if not convs:
        st.info("This model has no convolutional layer.")
    else:
        name0, w0 = next(iter(convs.items()))
        st.markdown(f"**First layer `{name0}`: {w0.shape[0]} filters of {w0.shape[2]} x {w0.shape[3]} "
                    f"over {w0.shape[1]} input channel{'s' if w0.shape[1] > 1 else ''}.** "
                    "Each tile is one filter shown as colours: grey = weight 0, a bright colour = "
                    "the filter looks for that colour there, a dark one = it looks for its absence.")
        st.plotly_chart(fx.filter_tiles(explain.filter_tiles(w0), cols=12 if w0.shape[0] <= 48 else 16), key="flt_first",
                        width="stretch")
        st.markdown("**Any layer, one filter at a time.** A filter of a deeper layer has one "
                    "k x k slice per input channel (the previous layer's channels): red weights "
                    "add that channel's activation, blue ones subtract it.")
        c1, c2 = st.columns([2, 1])
        conv_names = list(convs)
        links.take(PAGE, "conv", conv_names)
        lname = c1.selectbox("Conv layer", conv_names, index=min(1, len(conv_names) - 1),
                             key="flt_layer", format_func=lambda n: f"{n}: {convs[n].shape}")
        w = convs[lname]
        links.take(PAGE, "filter", range(w.shape[0]))
        fi = c2.number_input(f"Filter (0 to {w.shape[0] - 1})", 0, w.shape[0] - 1, 0, 1, key="flt_index")
        slices = w[int(fi)][:64]
        st.plotly_chart(fx.weight_grid(slices, [f"in ch {i}" for i in range(slices.shape[0])],
                                       cols=8, title=f"{lname}, filter {int(fi)}: "
                                                     f"{w.shape[1]} slices of {w.shape[2]} x {w.shape[3]}"
                                                     + (" (first 64)" if w.shape[1] > 64 else "")),
                        key="flt_slices", width="stretch")

# --------------------------------------------------------------------------------------------
@st.fragment
def kernel_section() -> None:
    links.sync(PAGE)
    convs = explain.conv_weights(lm.model)
    maps = pickers.feature_maps(mid, pic.digest, lm, x)
    st.markdown("Apply a 3 x 3 kernel to the photo yourself, as a conv layer does (cross-"
                "correlation, zero padding), then find the model's first-layer filter that is "
                "most like it.")
    c_k, c_in, c_out = st.columns([1.2, 1, 1], gap="medium")
    with c_k:
        preset = st.selectbox("Kernel", list(explain.KERNELS), key="k_preset")
        st.caption("Edit any weight:")
        start = explain.KERNELS[preset]
        slot = list(explain.KERNELS).index(preset)   # a new preset: fresh inputs with its weights
        kern = [[0.0] * 3 for _ in range(3)]
        for r in range(3):
            cols = st.columns(3)
            for c in range(3):
                kern[r][c] = float(cols[c].number_input(
                    f"weight row {r}, column {c}", value=float(start[r][c]), step=0.25,
                    format="%.3f", key=f"k_{r}{c}_{slot}", label_visibility="collapsed"))
    gray = np.asarray(images.thumbnail(pic.image, 256).convert("L"), dtype=np.float32) / 255
    try:
        resp = explain.apply_kernel(gray, kern)
    except ValueError as err:
        show_error("This kernel cannot be applied.", err)
        resp = None
    with c_in:
        st.markdown("**The photo, in grey**")
        st.image(gray, width="stretch", clamp=True, caption=f"{gray.shape[1]} x {gray.shape[0]} px")
    with c_out:
        st.markdown("**After the kernel**")
        if resp is not None:
            top = float(np.abs(resp).max()) or 1.0
            st.image(resp / (2 * top) + 0.5, width="stretch", clamp=True,
                     caption="grey = 0, white = strong positive, black = strong negative")
    if convs:
        name0, w0 = next(iter(convs.items()))
        i, cos, comp = explain.most_similar_filter(w0, kern)
        st.markdown(f"**Most similar filter in `{name0}`: filter {i}, cosine similarity {cos:+.2f}** "
                    "(1 = the same pattern, 0 = unrelated, -1 = the opposite).")
        d1, d2, d3 = st.columns([1, 1, 1.2])
        with d1:
            st.plotly_chart(fx.kernel(np.array(kern), "Your kernel"), key="k_user", width="stretch")
        with d2:
            note = "summed over its colour channels" if w0.shape[1] > 1 else ""
            if tuple(w0.shape[-2:]) != (3, 3):
                note += f"; {w0.shape[2]} x {w0.shape[3]} averaged down to 3 x 3"
            st.plotly_chart(fx.kernel(comp, f"Filter {i} of {name0}"), key="k_model", width="stretch")
            if note:
                st.caption(f"Filter {i} {note.strip('; ')}, as it acts on a grey photo.")
        with d3:
            fm = maps.get(name0) if maps else None
            if fm is not None:
                st.markdown(f"**What filter {i} makes of the photo** ({name0}, channel {i})")
                st.image(images.upscale(explain.scale_maps(fm[i:i + 1])[0]), clamp=True,
                         width="stretch")

# --------------------------------------------------------------------------------------------
def input_section() -> None:
    st.markdown(conversion(lm, prep))
    pickers.show_model_input(prep, "inside_input")


@st.fragment
def vit_section() -> None:
    links.sync(PAGE)
    attention_section(lm, x, mid, pic.digest, prep.shown, pic.mask)


tabs = st.tabs(list(TABS), key="inside_tab", on_change="rerun")    # only the open tab runs
for tab, section in zip(tabs, (maps_tab, attributions_section, vit_section, filters_section,
                               kernel_section, input_section)):
    if tab.open:
        with tab:
            section()
