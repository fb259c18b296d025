"""Conv arithmetic: one layer, every knob, the formula with the numbers, the sliding kernel, a quiz."""
from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from playground import arithmetic as ar, paths
from playground.figures import conv as cf
from ui import conv_html, conv_windows, links, plot
from ui.common import page_intro, show_error
from ui.links import Param

KINDS = list(ar.LAYER_KINDS)          # Conv2d, MaxPool2d, AvgPool2d, ConvTranspose2d
PAGE = "conv_arithmetic"
TABS = {":material/straighten: Shape & formula": "shape", ":material/grid_on: Sliding kernel": "slide",
        ":material/quiz: Practice": "practice"}
PAD_MODES = ["number", "valid", "same"]


def pooling(kind: str) -> bool:
    return ar.LAYER_KINDS[kind] == "pool"


def kernel_default() -> int:
    """PyTorch's pooling is usually 2 x 2, a conv 3 x 3."""
    return 2 if pooling(st.session_state.get("ca_kind", KINDS[0])) else 3


def slide_size_default() -> int:
    return 8 if st.session_state.get("ca_sl_preset") == ar.PRESETS["photo"] else 6


# Every knob once: session key -> (label, lowest, highest, default). A pair is "<key>_h", "<key>_w".
PAIRS = {"ca_in": ("Input", 1, 4096, 32), "ca_k": ("Kernel", 1, 64, kernel_default),
         "ca_s": ("Stride", 1, 64, 1), "ca_pad": ("Padding", 0, 64, 0), "ca_dil": ("Dilation", 1, 16, 1),
         "ca_op": ("Output padding", 0, 16, 0)}
SINGLES = {"ca_in_c": ("In channels", 1, 4096, 3), "ca_out_c": ("Out channels", 1, 4096, 16),
           "ca_batch": ("Batch N", 1, 1024, 1),
           "ca_sl_stride": ("Stride", 1, 6, 1), "ca_sl_dil": ("Dilation", 1, 4, 1),
           "ca_sl_pad": ("Padding (each side)", 0, 4, 0), "ca_sl_size": ("Grid size", 3, 16, slide_size_default),
           "ca_sl_ksize": ("Kernel size", 1, 7, 3), "ca_sl_poolk": ("Pool size", 1, 5, 2),
           "ca_sl_seed": ("Seed", 0, 1_000_000, 0)}


def knob(key: str, col=st, **kw) -> int:
    label, lo, hi, default = SINGLES[key]
    value = default() if callable(default) else default
    return int(col.number_input(label, lo, hi, value, 1, key=key, **kw))


def link_params() -> list[Param]:
    """The page's state in its URL (names without the ``ca_`` prefix)."""
    ps = [Param("tab", "ca_tab", choices=list(TABS), default=next(iter(TABS)), text=lambda t: TABS.get(t, t)),
          Param("kind", "ca_kind", choices=KINDS, default=KINDS[0]),
          Param("pad_mode", "ca_pad_mode", choices=PAD_MODES, default="number")]
    for key, (_, lo, hi, default) in PAIRS.items():
        ps += [Param(f"{key[3:]}_{s}", f"{key}_{s}", "int", default, lo=lo, hi=hi) for s in "hw"]
    ps += [Param(key[3:], key, "int", default, lo=lo, hi=hi) for key, (_, lo, hi, default) in SINGLES.items()]
    ps += [Param("ceil", "ca_ceil", "bool", False), Param("bias", "ca_bias", "bool", True),
           Param("sl_preset", "ca_sl_preset", choices=list(ar.PRESETS.values()), default=next(iter(ar.PRESETS.values())),
                 text={v: k for k, v in ar.PRESETS.items()}.get),
           Param("sl_kind", "ca_sl_kind", choices=list(ar.SLIDE_KINDS), default=ar.SLIDE_KINDS[0]),
           Param("sl_pad_mode", "ca_sl_pad_mode", choices=PAD_MODES, default="number"),
           Param("sl_ceil", "ca_sl_ceil", "bool", False),
           Param("sl_photo", "ca_sl_photo", "int", 0, lo=0, hi=len(paths.sample_photos()) - 1),
           Param("q", "ca_q_pick", "int", 0, lo=0, hi=len(ar.course_questions()) - 1,
                 dump=lambda v: str(v) if 0 < v < len(ar.course_questions()) else None)]
    return ps


@st.cache_data(max_entries=256, show_spinner=False)
def analyze(fields: tuple) -> ar.Report:
    """``ar.analyze`` of the layer with these fields (a knob turned back is free)."""
    return ar.analyze(ar.Layer(**dict(fields)))


@st.cache_data(max_entries=256, show_spinner=False)
def windows_svg(axis: str, dims: tuple) -> str:
    """The "where the windows land" picture of one dimension (inline SVG, ui/conv_windows.py),
    cached on that dimension's numbers alone: a knob of the height leaves the width's element
    exactly as it was."""
    return conv_windows.windows_svg(ar.windows_along(**dict(dims)), axis=axis)


page_intro(PAGE)
links.bind(PAGE, link_params())

st.markdown(conv_html.CSS, unsafe_allow_html=True)


def pair_inputs(key: str, cols, *, help: str | None = None, disabled: bool = False) -> tuple[int, int]:
    """A (height, width) knob: the height in the grid's left column, the width in its right."""
    label, lo, hi, default = PAIRS[key]
    value = default() if callable(default) else default
    return tuple(int(col.number_input(f"{label} {side}", min_value=lo, max_value=hi, value=value, step=1,
                                      key=f"{key}_{side[0]}", help=help, disabled=disabled))
                 for col, side in zip(cols, ("height", "width")))


def use_padding(p: int) -> None:
    st.session_state["ca_pad_mode"] = "number"
    st.session_state["ca_pad_h"] = p
    st.session_state["ca_pad_w"] = p


# ================================================================================== shape & formula
# A knob reruns the shape fragment, and the browser redraws every element the rerun sends (each
# unchanged number input too): bench_feel measured ~1.5 ms of chromium's script per element. So
# the knobs sit in one two-column grid (heights left, widths right; was a row of columns per
# pair, 37 layout blocks) and each output is one element of HTML.
def layer_fields() -> tuple[dict, str, tuple[int, int]]:
    """The knobs: the layer's fields for ``ar.Layer``, the padding mode, the padding typed."""
    kind = st.selectbox("Layer", KINDS, key="ca_kind")
    is_conv, is_t, is_pool = kind == "Conv2d", kind == "ConvTranspose2d", pooling(kind)
    modes = PAD_MODES if is_conv else ["number"]
    if st.session_state.get("ca_pad_mode") not in modes:
        st.session_state["ca_pad_mode"] = "number"
    pad_mode = st.radio("Padding", modes, horizontal=True, key="ca_pad_mode",
                        help="Conv2d also takes the words 'valid' (no padding) and 'same' (keep the size).")
    grid = st.columns(2)
    in_h, in_w = pair_inputs("ca_in", grid)
    in_ch = knob("ca_in_c", grid[0])
    out_ch = knob("ca_out_c", grid[1], disabled=is_pool)
    kh, kw = pair_inputs("ca_k", grid)
    sh, sw = pair_inputs("ca_s", grid, help="PyTorch's pooling layers default the stride to the kernel size.")
    ph, pw = pair_inputs("ca_pad", grid, disabled=pad_mode != "number")
    dh, dw = pair_inputs("ca_dil", grid, disabled=kind == "AvgPool2d",
                         help="Spaces the kernel's taps apart; AvgPool2d has none.")
    if kind == "AvgPool2d":
        dh = dw = 1
    oph, opw = pair_inputs("ca_op", grid, disabled=not is_t,
                           help="ConvTranspose2d only: adds rows/columns at the end of the output.")
    batch = knob("ca_batch", grid[0])
    bias = grid[1].checkbox("bias", value=True, key="ca_bias", disabled=is_pool)
    ceil_mode = st.checkbox("ceil_mode (round up: keep a last, partial window)", key="ca_ceil",
                            disabled=not is_pool)
    if is_pool:
        st.caption("Pooling keeps the number of channels and has no weights.")
    padding = pad_mode if pad_mode != "number" else (ph, pw)
    fields = dict(kind=kind, in_h=in_h, in_w=in_w, in_channels=in_ch, out_channels=out_ch,
                  kernel=(kh, kw), stride=(sh, sw), padding=padding, dilation=(dh, dw),
                  ceil_mode=ceil_mode and is_pool, output_padding=(oph, opw) if is_t else 0, bias=bias,
                  batch=batch)
    return fields, pad_mode, (ph, pw)


def report_panel(layer: ar.Layer, report: ar.Report) -> None:
    """What the layer makes: counts, formulas with the numbers, code, where the windows land."""
    st.markdown(conv_html.counts_html(report) + conv_html.formulas_html(report), unsafe_allow_html=True)
    st.code(f"layer = {report.code}\n"
            f"y = layer(torch.randn{layer.input_shape})\n"
            f"y.shape   # torch.Size({list(report.output_shape)})", language="python")
    parts = [f"{len(u)} input {what}(s) ({', '.join(map(str, u[:12]))}{', ...' if len(u) > 12 else ''})"
             for what, u in (("row", report.uncovered_rows), ("column", report.uncovered_cols)) if u]
    if parts:
        st.warning("The windows do not fit evenly: " + " and ".join(parts) +
                   " are never read by any window (shaded red below). Their values cannot "
                   "influence the output.", icon=":material/warning:")
    if max(layer.in_h, layer.in_w) <= 512:         # where the windows land, per dimension: one element
        svgs = [windows_svg(name, tuple(d.items())) for name, d in zip(("rows", "columns"), layer.dims())]
        st.markdown(conv_html.windows_pair_html(layer.windows(), svgs), unsafe_allow_html=True)


def keep_size_panel(layer: ar.Layer, pad_mode: str, typed: tuple[int, int]) -> None:
    """Conv2d: the padding that keeps the size, with a button that sets it."""
    with st.container(border=True):
        try:
            sol_h, sol_w = layer.keep_size()
        except ValueError as exc:
            st.markdown(f"**Padding that keeps the size**\n\nNo solution for these numbers: {exc}")
            return
        labelled = [("", sol_h)] if sol_h == sol_w else [("Height: ", sol_h), ("Width: ", sol_w)]
        st.markdown("**Padding that keeps the size**\n\n" + "\n".join(
            f"- {prefix}{line}" for prefix, sol in labelled for line in sol.explanation))
        best = sol_h.best if sol_h.best == sol_w.best else None
        if best is not None and (pad_mode != "number" or typed != (best, best)):
            st.button(f"Use padding = {best}", key="ca_use_pad", on_click=use_padding, args=(best,))


def formula_help() -> None:
    with st.expander("How the formula works"):
        st.markdown(conv_html.FORMULA_HELP)


@st.fragment
def shape_section() -> None:
    """Every knob of one layer and what it makes: a knob reruns this section only."""
    links.sync(PAGE)
    shape_slot = st.empty()
    knobs, view = st.columns([1.1, 2], gap="large")
    with knobs:
        fields, pad_mode, typed_pad = layer_fields()
    layer = ar.Layer(**fields)
    with view:
        try:
            report = analyze(tuple(fields.items()))
            error = None
        except ValueError as exc:
            report, error = None, exc
        shape_slot.markdown(conv_html.shape_html(layer.input_shape, report.output_shape if report else None,
                                                 fields["kind"]), unsafe_allow_html=True)
        if error is not None:
            said = layer.torch_error()
            show_error(f"PyTorch refuses this layer. {error}",
                       detail=f"{layer.code()}\n\nPyTorch's own message:\n{said or '(accepted when run alone on the CPU)'}")
        else:
            report_panel(layer, report)
        if fields["kind"] == "Conv2d":
            keep_size_panel(layer, pad_mode, typed_pad)


def shape_tab() -> None:
    shape_section()
    formula_help()         # static: outside the fragment, a knob does not resend it

# ================================================================================== sliding kernel
def reseed() -> None:
    st.session_state["ca_sl_seed"] = int(st.session_state.get("ca_sl_seed", 0)) + 1


@st.fragment
def slide_section() -> None:
    """The kernel sliding over real numbers: its knobs rerun this section only."""
    links.sync(PAGE)
    st.markdown("<div class='ca-big'>Real numbers, a real kernel: press <b>Play</b> (or drag the slider) "
                "to move the window. Every output value is computed by PyTorch (<code>F.conv2d</code>, "
                "<code>F.max_pool2d</code>, <code>F.avg_pool2d</code>).</div>", unsafe_allow_html=True)
    preset_by_label = {label: key for key, label in ar.PRESETS.items()}
    a, b, c, d = st.columns([1.8, 1.9, 0.9, 0.9])
    preset = preset_by_label[a.selectbox("Values", list(preset_by_label), key="ca_sl_preset")]
    s_kind = b.radio("Layer", list(ar.SLIDE_KINDS), horizontal=True, key="ca_sl_kind")
    s_stride = knob("ca_sl_stride", c)
    s_dil = knob("ca_sl_dil", d, disabled=s_kind == "AvgPool2d")
    if s_kind == "AvgPool2d":
        s_dil = 1
    e, f_, g, h = st.columns([1.8, 1.9, 0.9, 0.9])
    if s_kind == "Conv2d":
        s_pad_mode = e.radio("Padding mode", PAD_MODES, horizontal=True, key="ca_sl_pad_mode")
    else:
        s_pad_mode = "number"
        e.caption("Pooling takes a number for padding (at most half the kernel).")
    s_pad = knob("ca_sl_pad", f_, disabled=s_pad_mode != "number")
    s_ceil = g.checkbox("ceil_mode", key="ca_sl_ceil", disabled=s_kind == "Conv2d")

    # the starting values of the preset
    sz, ksz, seed, photo = 6, 3, 0, None
    if preset in ("random", "photo"):
        sz = knob("ca_sl_size", h)
        ksz = knob("ca_sl_ksize", h) if s_kind == "Conv2d" else 3
    if preset == "random":
        e.button("New random values", key="ca_sl_reseed", icon=":material/casino:", on_click=reseed)
        seed = int(st.session_state.get("ca_sl_seed", 0))
    elif preset == "photo":
        photos = paths.sample_photos()
        seed = e.selectbox("Photo", range(len(photos)), format_func=lambda i: photos[i].stem, key="ca_sl_photo")
        photo = photos[seed]
    img0, ker0 = ar.starting_values(preset, size=sz, kernel_size=ksz, seed=seed, photo=photo)
    if s_kind != "Conv2d":
        ker0 = None
    pool_k = knob("ca_sl_poolk", h, help="The pooling window: pool size x pool size.") if s_kind != "Conv2d" else None

    tag = f"{preset}_{seed}_{len(img0)}_{len(img0[0])}"
    with st.expander(":material/edit: Edit the values: input grid" + (" and kernel weights" if ker0 else ""),
                     expanded=False):
        ed1, ed2 = st.columns([3, 2], gap="medium")
        with ed1:
            st.markdown("**Input values**")
            img_df = st.data_editor(pd.DataFrame(img0, columns=[str(i) for i in range(len(img0[0]))]),
                                    key=f"ca_sl_img_{tag}", hide_index=False, width="stretch")
        with ed2:
            if ker0 is not None:
                st.markdown("**Kernel weights**")
                ker_df = st.data_editor(pd.DataFrame(ker0, columns=[str(i) for i in range(len(ker0[0]))]),
                                        key=f"ca_sl_ker_{tag}_{len(ker0)}", hide_index=False, width="stretch")
            else:
                ker_df = None
                st.caption(f"{s_kind} has no weights: it takes the "
                           f"{'maximum' if s_kind == 'MaxPool2d' else 'mean'} of each {pool_k}x{pool_k} window.")
    try:
        image = img_df.apply(pd.to_numeric, errors="coerce").astype(float).values.tolist()
        kernel = None if ker_df is None else ker_df.apply(pd.to_numeric, errors="coerce").astype(float).values.tolist()
        padding = s_pad_mode if s_pad_mode != "number" else s_pad
        sl = ar.slide(image, kernel, kind=s_kind, kernel_size=pool_k, stride=s_stride, padding=padding,
                      dilation=s_dil, ceil_mode=s_ceil and s_kind != "Conv2d")
        fig = plot.lean(cf.sliding_figure(sl))
    except ValueError as exc:
        show_error(f"This sliding-kernel setup does not work: {exc}", exc)
    else:
        st.plotly_chart(fig, key="ca_sl_fig", width="stretch")
        oh, ow = len(sl.output), len(sl.output[0])
        notes = [f"{len(sl.steps)} positions -> output {oh}x{ow}."]
        if any(p for pair in sl.pads for p in pair):
            notes.append("Grey cells: padding (" + ("never wins the max" if s_kind == "MaxPool2d" else "zeros") + ").")
        if sl.uncovered_rows or sl.uncovered_cols:
            notes.append("<b style='color:#c92a2a'>Red: never covered by any window.</b>")
        if ker0 is not None:
            notes.append("<span style='color:#d9480f'>Orange ×w: the kernel weight on that cell.</span>")
        st.markdown(f"<div class='ca-big'>{' '.join(notes)}</div>", unsafe_allow_html=True)
        with st.expander("The whole output, as PyTorch computed it"):
            st.dataframe(pd.DataFrame(sl.output).round(4), width="stretch")

# ================================================================================== practice
@st.fragment
def quiz_section() -> None:
    links.sync(PAGE)
    st.markdown("<div class='ca-big'>Fill in the blank of each row, then check. A wrong answer says which "
                "step went wrong.</div>", unsafe_allow_html=True)
    if "ca_q_seeds" not in st.session_state:
        st.session_state["ca_q_seeds"] = []
    course = ar.course_questions()
    questions = course + [ar.random_question(s_) for s_ in st.session_state["ca_q_seeds"]]
    labels = [f"{i + 1}. {q.prompt}" if i < len(course) else f"{i + 1}. New question (#{q.qid[1:]})"
              for i, q in enumerate(questions)]

    def new_question():
        seeds = st.session_state["ca_q_seeds"]
        nxt = (max(seeds) + 1) if seeds else 1
        seeds.append(nxt)
        st.session_state["ca_q_pick"] = len(course) + len(seeds) - 1

    def next_question():
        st.session_state["ca_q_pick"] = (st.session_state.get("ca_q_pick", 0) + 1) % len(questions)

    qa, qb = st.columns([2, 1.3], gap="large")
    with qa:
        pick = st.selectbox("Question", range(len(questions)), format_func=lambda i: labels[i], key="ca_q_pick")
        q = questions[pick]
        st.markdown(f"<div class='ca-big'><b>{html.escape(q.prompt)}</b></div>", unsafe_allow_html=True)
        st.markdown(conv_html.question_html(q), unsafe_allow_html=True)
        with st.form("ca_q_form", border=True):
            ans = st.number_input(f"Your answer: the {q.blank}", min_value=0, max_value=10_000, value=None,
                                  step=1, key=f"ca_q_ans_{pick}_{q.qid}", placeholder="type a whole number")
            checked = st.form_submit_button("Check", type="primary")
        if checked:
            if ans is None:
                st.warning("Type a number first.")
            else:
                v = ar.check_answer(q, ans)
                (st.success if v.correct else st.error)(v.message)
                if not v.correct and v.formula is not None:
                    st.markdown(conv_html.formula_html("The right way", v.formula), unsafe_allow_html=True)
        n1, n2 = st.columns(2)
        n1.button("Next question", key="ca_q_next", on_click=next_question, icon=":material/arrow_forward:")
        n2.button("Make a new question", key="ca_q_new", on_click=new_question, icon=":material/casino:")
    with qb:
        st.markdown("**The course's table** (blanks marked ?)")
        table = [x.row() for x in course]
        st.dataframe(pd.DataFrame(table).astype(str), hide_index=True, width="stretch",
                     height=36 * (len(table) + 1) + 3)
        with st.expander("The formula to use"):
            st.markdown("**out = floor((in - k + 2p) / s) + 1** for a conv or pooling layer "
                        "(k = kernel, p = padding on each side, s = stride). For a blank other than the output, "
                        "try values until the row holds: several inputs can give the same output when s > 1.")


tabs = st.tabs(list(TABS), key="ca_tab", on_change="rerun")   # only the open tab runs
for tab, section in zip(tabs, (shape_tab, slide_section, quiz_section)):
    if tab.open:
        with tab:
            section()
links.share(PAGE)
