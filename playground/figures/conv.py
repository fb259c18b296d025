"""Figures for one conv / pooling layer: the sliding kernel (an animated grid) and where the
windows land along one dimension. Data in (a ``Slide``, a ``Windows`` from
:mod:`playground.arithmetic`), ``go.Figure`` out."""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.arithmetic import Slide, Windows, format_value

WINDOW = "#f08c00"          # the current window / output cell
WINDOW_FILL = "rgba(255, 212, 59, 0.45)"
PAD_FILL = "#dee2e6"
UNCOVERED_FILL = "rgba(224, 49, 49, 0.22)"
UNCOVERED_LINE = "#c92a2a"
EMPTY_FILL = "#e9ecef"      # output cells not computed yet
# negative blue, zero pale yellow (so a computed 0 differs from an empty cell), positive red
OUTPUT_SCALE = [[0, "#1971c2"], [0.5, "#fff3bf"], [1, "#e03131"]]
FONT = dict(family="Inter, Arial, sans-serif", size=16)
MAX_FRAMES = 400


def _wrap(text: str, per_line: int) -> str:
    """Break a long dot product after every ``per_line`` terms (one kernel row per line) so it
    reads on a projector: ``a*w + b*w + c*w`` / ``+ d*w ...`` / ``... = out``."""
    if text.startswith(("max(", "(")):
        head, _, rest = text.partition("(")
        body, _, tail = rest.rpartition(")")
        sep = ", " if head == "max" else " + "
        parts = body.split(sep)
        lines = [sep.join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
        return f"{head}(" + (sep.strip() + "<br>  ").join(lines) + f"){tail}"
    body, eq, result = text.rpartition(" = ")
    parts = body.split(" + ")
    lines = [" + ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return "<br>+ ".join(lines) + f"{eq}<b>{result}</b>"


class FramesFigure(go.Figure):
    """A validated ``go.Figure`` carrying animation frames as plain dicts (added on export:
    ``to_dict`` / ``to_plotly_json``, which ``st.plotly_chart`` and ``plotly.io`` use)."""

    _raw_frames: list[dict]

    @classmethod
    def wrap(cls, fig: go.Figure, frames: list[dict]) -> "FramesFigure":
        fig.__class__ = cls          # no copy: re-validating the figure would cost what we save
        fig._raw_frames = frames
        return fig

    def to_dict(self):
        d = super().to_dict()
        d["frames"] = self._raw_frames
        return d

    def to_plotly_json(self):
        return self.to_dict()


def _font(cells: int) -> int:
    """Text size for a grid ``cells`` wide: large enough to read on a projector, small enough to fit."""
    return 24 if cells <= 8 else 17 if cells <= 12 else 12


def _input_grid(s: Slide, rows: list[int], cols: list[int]) -> tuple[list, list, list, list]:
    """The input's values and labels, and the padding's, on the padded grid (None where the other is)."""
    H, W = len(s.image), len(s.image[0])
    pad_text = "-∞" if s.kind == "MaxPool2d" else "0"
    in_z, in_t, pad_z, pad_t = [], [], [], []
    for r in rows:
        inside = [0 <= r < H and 0 <= c < W for c in cols]
        in_z.append([s.image[r][c] if ok else None for c, ok in zip(cols, inside)])
        in_t.append([format_value(s.image[r][c]) if ok else "" for c, ok in zip(cols, inside)])
        pad_z.append([None if ok else 0 for ok in inside])
        pad_t.append(["" if ok else pad_text for ok in inside])
    return in_z, in_t, pad_z, pad_t


def _output_cells(s: Slide, upto: int) -> tuple[list, list]:
    """The output grid after step ``upto``: values and labels so far, None / "" for the rest."""
    OH, OW = len(s.output), len(s.output[0])
    z = [[None] * OW for _ in range(OH)]
    t = [[""] * OW for _ in range(OH)]
    for st in s.steps[:upto + 1]:
        z[st.out_row][st.out_col] = st.value
        t[st.out_row][st.out_col] = format_value(round(st.value, 2))
    return z, t


def _uncovered_shapes(s: Slide) -> list[dict]:
    """Red dotted bands over the input rows and columns no window reads."""
    H, W = len(s.image), len(s.image[0])
    bands = [dict(x0=-0.5, x1=W - 0.5, y0=r - 0.5, y1=r + 0.5) for r in s.uncovered_rows]
    bands += [dict(x0=c - 0.5, x1=c + 0.5, y0=-0.5, y1=H - 0.5) for c in s.uncovered_cols]
    return [dict(type="rect", xref="x", yref="y", **band, fillcolor=UNCOVERED_FILL,
                 line=dict(color=UNCOVERED_LINE, width=1, dash="dot"), layer="above") for band in bands]


def _box(xref: str, rows: tuple[int, int], cols: tuple[int, int]) -> dict:
    """The orange outline around cells ``rows`` x ``cols`` (first, last) of one subplot."""
    return dict(type="rect", xref=xref, yref=xref.replace("x", "y"), x0=cols[0] - 0.5, x1=cols[1] + 0.5,
                y0=rows[0] - 0.5, y1=rows[1] + 0.5, line=dict(color=WINDOW, width=4), layer="above")


def _grids(s: Slide, rows: list[int], cols: list[int], start: int, cell_font: int) -> go.Figure:
    """The two grids: padding and input values (left); the output, empty cells under the values
    computed up to position ``start`` (right). Trace 3 is the one each frame replaces."""
    H, W = len(s.image), len(s.image[0])
    OH, OW = len(s.output), len(s.output[0])
    in_z, in_t, pad_z, pad_t = _input_grid(s, rows, cols)
    lim = max((abs(v) for row in s.output for v in row), default=1.0) or 1.0
    out_font = _font(max(OH, OW))
    padded = " + padding" if len(rows) > H or len(cols) > W else ""
    fig = make_subplots(rows=1, cols=2, column_widths=[len(cols), max(OW, 1) + 0.8], horizontal_spacing=0.08,
                        subplot_titles=(f"<b>Input</b> {H}x{W}{padded}", f"<b>Output</b> {OH}x{OW}"))
    fig.add_trace(go.Heatmap(x=cols, y=rows, z=pad_z, text=pad_t, texttemplate="%{text}",
                             textfont=dict(size=cell_font, color="#495057"),
                             colorscale=[[0, PAD_FILL], [1, PAD_FILL]], showscale=False,
                             hovertemplate="padding (row %{y}, col %{x})<extra></extra>", xgap=2, ygap=2),
                  1, 1)
    fig.add_trace(go.Heatmap(x=cols, y=rows, z=in_z, text=in_t, texttemplate="%{text}",
                             textfont=dict(size=cell_font), colorscale="Greys", reversescale=True,
                             showscale=False, xgap=2, ygap=2,
                             hovertemplate="input row %{y}, col %{x}: %{z}<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(x=list(range(OW)), y=list(range(OH)), z=[[0] * OW for _ in range(OH)],
                             text=[["?"] * OW for _ in range(OH)], texttemplate="%{text}",
                             textfont=dict(size=out_font, color="#adb5bd"),
                             colorscale=[[0, EMPTY_FILL], [1, EMPTY_FILL]], showscale=False, xgap=2, ygap=2,
                             hoverinfo="skip"), 1, 2)
    z0, t0 = _output_cells(s, start)
    fig.add_trace(go.Heatmap(x=list(range(OW)), y=list(range(OH)), z=z0, text=t0, texttemplate="%{text}",
                             textfont=dict(size=out_font), colorscale=OUTPUT_SCALE, zmid=0, zmin=-lim, zmax=lim,
                             showscale=False, xgap=2, ygap=2,
                             hovertemplate="output row %{y}, col %{x}: %{z}<extra></extra>"), 1, 2)
    return fig


def _frame_layout(s: Slide, i: int, static_shapes: list[dict], cell_font: int) -> dict:
    """Shapes and annotations of position ``i``: the window's taps (with their weights), its
    outline, the output cell's outline, and the expression written out above."""
    st = s.steps[i]
    shapes, annotations = list(static_shapes), []
    for a, r in enumerate(st.rows):
        for b, c in enumerate(st.cols):
            shapes.append(dict(type="rect", xref="x", yref="y", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5,
                               y1=r + 0.5, fillcolor=WINDOW_FILL, line=dict(width=0), layer="above"))
            if s.kernel is not None:
                annotations.append(dict(xref="x", yref="y", x=c + 0.48, y=r + 0.48, xanchor="right",
                                        yanchor="bottom", showarrow=False,
                                        text=f"<b>×{format_value(s.kernel[a][b])}</b>",
                                        font=dict(size=max(cell_font - 7, 10), color="#d9480f")))
    shapes.append(_box("x", (st.rows[0], st.rows[-1]), (st.cols[0], st.cols[-1])))
    shapes.append(_box("x2", (st.out_row, st.out_row), (st.out_col, st.out_col)))
    head = (f"<b>Position {i + 1} of {len(s.steps)}</b> -> output row {st.out_row}, col {st.out_col}:")
    annotations.append(dict(xref="paper", yref="paper", x=0, y=1.0, yshift=48, xanchor="left",
                            yanchor="bottom", align="left", showarrow=False,
                            text=f"{head}<br>{_wrap(st.expression, s.kernel_size[1])}",
                            font=dict(size=18, color="#212529", family="DejaVu Sans Mono, Menlo, monospace")))
    return dict(shapes=shapes, annotations=annotations)


def _controls(n: int, start: int, duration_ms: int) -> dict:
    """Play / Pause buttons and a slider over the ``n`` positions, all run in the browser."""
    play = dict(label="▶ Play", method="animate",
                args=[None, dict(frame=dict(duration=duration_ms, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0), mode="immediate")])
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                    transition=dict(duration=0))])
    steps = [dict(method="animate", label=str(i + 1),
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                       transition=dict(duration=0))]) for i in range(n)]
    return dict(
        updatemenus=[dict(type="buttons", direction="left", x=0, y=0, xanchor="left", yanchor="top",
                          pad=dict(t=78, r=10), showactive=False, buttons=[play, pause],
                          font=dict(size=16))],
        sliders=[dict(active=start, x=0.3, len=0.7, y=0, yanchor="top", pad=dict(t=58),
                      currentvalue=dict(prefix="Position ", font=dict(size=16, color="#212529"), visible=True,
                                        xanchor="left"),
                      font=dict(size=12, color="#495057" if n <= 30 else "rgba(0,0,0,0)"),
                      steps=steps, transition=dict(duration=0))])


def sliding_figure(s: Slide, start: int = 0, *, duration_ms: int = 800, height: int | None = None
                   ) -> go.Figure:
    """The kernel sliding over the input: padded input grid (left) and output grid (right).

    One animation frame per output cell: the window's taps highlighted on the input, the output
    filled up to that cell, the dot product written out above. Play/Pause buttons and a slider
    step through the positions in the browser (no server round trip)."""
    H, W = len(s.image), len(s.image[0])
    (pt, pb), (pl, pr) = s.pads
    rows, cols = list(range(-pt, H + pb)), list(range(-pl, W + pr))
    n = len(s.steps)
    if n > MAX_FRAMES:
        raise ValueError(f"{n} positions are too many to animate (at most {MAX_FRAMES}); use a "
                         "smaller grid or a larger stride.")
    start = min(max(int(start), 0), n - 1)
    big = max(len(rows), len(cols))
    cell_font = _font(big)
    fig = _grids(s, rows, cols, start, cell_font)

    static_shapes = _uncovered_shapes(s)
    titles = [a.to_plotly_json() for a in fig.layout.annotations]   # subplot titles: keep in every frame

    def layout_at(i: int) -> dict:
        lay = _frame_layout(s, i, static_shapes, cell_font)
        return dict(lay, annotations=titles + lay["annotations"])

    fig.update_layout(layout_at(start))
    max_lines = max(_wrap(st.expression, s.kernel_size[1]).count("<br>") for st in s.steps) + 2
    top = 70 + 24 * max_lines
    cell_px = 64 if big <= 8 else 46 if big <= 12 else 32
    fig.update_layout(font=FONT, height=height or max(420, top + 170 + cell_px * max(len(rows), len(s.output))),
                      margin=dict(l=50, r=20, t=top, b=150), plot_bgcolor="white",
                      **_controls(n, start, duration_ms))
    fig.update_xaxes(showgrid=False, zeroline=False, dtick=1, tickfont=dict(size=13), constrain="domain")
    fig.update_yaxes(showgrid=False, zeroline=False, dtick=1, tickfont=dict(size=13), autorange="reversed",
                     constrain="domain")
    fig.update_xaxes(title_text="column", row=1, col=1)
    fig.update_yaxes(title_text="row", row=1, col=1, scaleanchor="x", scaleratio=1)
    fig.update_xaxes(title_text="column", row=1, col=2)
    fig.update_yaxes(row=1, col=2, scaleanchor="x2", scaleratio=1)
    # Frames as plain dicts: plotly validates each go.Frame property by property, seconds for a
    # few hundred frames; every key they use is already validated in the figure's first state.
    frames = []
    for i in range(n):
        z, t = _output_cells(s, i)
        frames.append({"name": str(i), "traces": [3], "data": [{"type": "heatmap", "z": z, "text": t}],
                       "layout": layout_at(i)})
    return FramesFigure.wrap(fig, frames)


def windows_figure(w: Windows, *, axis: str = "rows", height: int | None = None) -> go.Figure:
    """Where each window lands along one dimension: one line per window (its taps as dots), the
    input's cells along the x axis, padding shaded grey, never-covered cells shaded red.

    For a transposed convolution (``w.transposed``) each line is one input cell and its dots the
    output cells it writes to; the x axis is the output."""
    spans, size, pads, uncovered = w.taps, w.size, w.pads, w.uncovered
    window_label = f"input {axis[:-1]}" if w.transposed else "window"
    lo, hi = (0, w.out_size - 1) if w.transposed else (-pads[0], size + pads[1] - 1)
    fig = go.Figure()
    if not w.transposed:
        if pads[0]:
            fig.add_vrect(x0=-pads[0] - 0.5, x1=-0.5, fillcolor=PAD_FILL, line_width=0, layer="below",
                          annotation_text="padding", annotation_position="top left")
        if pads[1]:
            fig.add_vrect(x0=size - 0.5, x1=size + pads[1] - 0.5, fillcolor=PAD_FILL, line_width=0,
                          layer="below", annotation_text="padding", annotation_position="top right")
    for u in uncovered:
        fig.add_vrect(x0=u - 0.5, x1=u + 0.5, fillcolor=UNCOVERED_FILL, line_width=0, layer="below")
    n = len(spans)
    fig_h = height or int(min(420, max(200, 110 + 14 * n)))
    msize = max(3, min(11, int(0.7 * (fig_h - 90) / max(n, 1)), int(0.7 * 480 / max(hi - lo + 1, 1))))
    xs, ys, lx, ly = [], [], [], []
    for i, taps in enumerate(spans):
        xs += taps
        ys += [i] * len(taps)
        lx += [taps[0], taps[-1], None]
        ly += [i, i, None]
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="#748ffc", width=max(1, msize // 3)),
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(size=msize, color="#3b5bdb"),
                             name="cells read", hovertemplate=f"{window_label} %{{y}} reads {axis[:-1]} "
                                                              "%{x}<extra></extra>", showlegend=False))
    if uncovered:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="never covered",
                                 marker=dict(size=14, symbol="square", color=UNCOVERED_FILL,
                                             line=dict(color=UNCOVERED_LINE, width=1))))
    fig.update_layout(
        font=FONT, height=fig_h, plot_bgcolor="white",
        margin=dict(l=60, r=10, t=30, b=50), showlegend=bool(uncovered),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    fig.update_xaxes(title_text=f"{'output' if w.transposed else 'input'} {axis[:-1]}",
                     range=[lo - 0.6, hi + 0.6], showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=window_label, autorange="reversed", showgrid=True, gridcolor="#f1f3f5",
                     zeroline=False, dtick=max(1, math.ceil(n / 8)))
    return fig
