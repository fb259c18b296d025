"""Conv arithmetic's HTML pieces: the page's CSS, the shape boxes, a formula with its numbers, a
quiz row. Plain strings (no Streamlit): cheap for the browser, identical when unchanged."""
from __future__ import annotations

import html

from playground import arithmetic as ar
from ui import conv_windows
from ui.common import fmt_int

CSS = """<style>
.ca-shape {display:flex; align-items:center; gap:1rem; flex-wrap:wrap; margin:0.3rem 0 0.2rem 0;}
.ca-shape .box {border:2px solid #dee2e6; border-radius:10px; padding:0.35rem 1rem;}
.ca-shape .box.out {border-color:#3b5bdb; background:#edf2ff;}
.ca-shape .lbl {display:block; font-size:0.95rem; color:#495057;}
.ca-shape .val {font-size:2rem; font-weight:700; font-family:ui-monospace, Menlo, monospace;}
.ca-shape .arrow {font-size:2.3rem; color:#868e96; text-align:center; line-height:1.1;}
.ca-shape .arrow .lbl {font-size:0.9rem; font-family:ui-monospace, Menlo, monospace; color:#364fc7; max-width:11rem; overflow-wrap:anywhere;}
.ca-shape .box.bad {border-color:#e03131; background:#fff5f5; color:#c92a2a;}
.ca-formula {font-family:ui-monospace, Menlo, monospace; font-size:1.3rem; line-height:1.6;
             background:#f8f9fa; border-left:5px solid #3b5bdb; padding:0.4rem 0.8rem; margin:0.2rem 0 0.4rem 0;
             overflow-x:auto; white-space:pre-wrap;}
.ca-formula .gen {color:#495057; font-size:1.05rem;}
.ca-formula .res {font-weight:600;}
.ca-big {font-size:1.35rem;}
table.ca-q {font-size:1.6rem; border-collapse:collapse; margin:0.4rem 0 0.8rem 0;}
table.ca-q th {font-size:1rem; color:#495057; font-weight:600; padding:0.2rem 1rem; text-align:center;}
table.ca-q td {border:2px solid #dee2e6; padding:0.3rem 1.1rem; text-align:center; font-family:ui-monospace, Menlo, monospace;}
.ca-counts {display:flex; flex-wrap:wrap; gap:0.4rem 2.5rem; margin:0.1rem 0 0.6rem 0;}
.ca-counts .l {display:block; font-size:0.9rem; color:#495057; text-decoration:underline dotted #adb5bd;}
.ca-counts .v {font-size:1.9rem; font-variant-numeric:tabular-nums;}
.ca-cap {font-size:0.875rem; color:rgba(49,51,63,0.6); margin:0 0 0.6rem 0;}
.ca-wins {display:grid; grid-template-columns:1fr 1fr; gap:1.2rem;}
table.ca-q td.blank {border-color:#3b5bdb; background:#edf2ff; color:#3b5bdb; font-weight:700;}
""" + conv_windows.CSS + "</style>"


SHAPE_CAPTION = ("N = batch size, C = channels, H = height, W = width. The output shape is what PyTorch's own "
                 "module returns (run on the meta device: no memory, no compute).")
FORMULA_HELP = (
    "- A window of size **k** starts at the first row of the padded input and moves **s** rows at a "
    "time. The padded input has **in + 2p** rows, so the last start is at most **in + 2p - k**.\n"
    "- The number of starts is **floor((in + 2p - k) / s) + 1**: the floor drops a window that would "
    "hang off the end, the +1 counts the window at position 0.\n"
    "- **Dilation d** spaces the taps d apart, so the window spans **d*(k-1)+1** rows.\n"
    "- **Pooling with ceil_mode** rounds up instead, keeping a last, partial window, but only if it "
    "starts inside the input or the left padding (PyTorch's rule).\n"
    "- **ConvTranspose2d** runs the arithmetic backwards: **(in-1)*s - 2p + d*(k-1) + output_padding "
    "+ 1**. Because the conv's floor maps several sizes to one, output_padding picks which one.\n"
    "- **Parameters** of Conv2d: out * in * kh * kw weights + out biases. **MACs** (one multiply and "
    "one add) come from `torch.utils.flop_counter`: every output value costs in * kh * kw of them.")


def counts_html(report: ar.Report) -> str:
    """Parameters, MACs (or a pooling's comparisons/additions) and output values: one line."""
    if report.ops_name == "MACs":
        ops = ("MACs", report.macs, "Multiply-accumulates for one forward pass of the batch, counted by "
               "torch.utils.flop_counter (FLOPs / 2).")
    else:
        ops = (report.ops_name.capitalize(), report.ops, "Pooling has no multiply-accumulates: one comparison "
               "(max) or addition (mean) per cell of each window.")
    items = [("Parameters", report.params, "Weights + biases of the layer."), ops,
             ("Output values", report.output_values, "N*C*H*W numbers in the output tensor.")]
    cells = "".join(f"<div><span class='l' title='{html.escape(h, quote=True)}'>{label}</span>"
                    f"<span class='v' data-count='{label}'>{fmt_int(v)}</span></div>" for label, v, h in items)
    return f"<div class='ca-counts'>{cells}</div>"


def formulas_html(report: ar.Report) -> str:
    """The height's and the width's formula with the numbers, then their notes as a list."""
    hf, wf = report.formulas
    notes = hf.notes if hf.notes == wf.notes else (
        [f"Height: {n}" for n in hf.notes] + [f"Width: {n}" for n in wf.notes])
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return formula_html("Height", hf) + formula_html("Width", wf) + (f"<ul>{items}</ul>" if items else "")


def windows_pair_html(windows: tuple, svgs: list[str]) -> str:
    """The rows' and the columns' "where the windows land", side by side, each with its title."""
    out = []
    for name, w, svg in zip(("rows", "columns"), windows, svgs):
        if w.transposed:
            title = f"Where each input {name[:-1]} writes in the output ({w.out_size} {name})"
        else:
            title = f"{len(w.taps)} windows along the {('height', 'width')[name == 'columns']}"
        out.append(f"<div data-axis='{name}'><p><b>{title}</b></p>{svg}</div>")
    return f"<div class='ca-wins'>{''.join(out)}</div>"


def shape_html(inp: tuple, out: tuple | None, kind: str) -> str:
    out_box = (f"<div class='box out'><span class='lbl'>output (N, C, H, W)</span>"
               f"<span class='val'>({', '.join(str(v) for v in out)})</span></div>") if out else (
        "<div class='box bad'><span class='lbl'>output</span><span class='val'>refused</span></div>")
    return (f"<div class='ca-shape'><div class='box'><span class='lbl'>input (N, C, H, W)</span>"
            f"<span class='val'>({', '.join(str(v) for v in inp)})</span></div>"
            f"<div class='arrow'><span class='lbl'>{html.escape(kind)}</span>&rarr;</div>{out_box}</div>"
            f"<p class='ca-cap'>{SHAPE_CAPTION}</p>")


def formula_html(name: str, f: ar.Formula) -> str:
    def step(s: str) -> str:
        first, sep, rest = s.partition(" = ")   # the expression, then its evaluation on a new line
        body, _, result = rest.rpartition(" = ")
        if not sep:
            return html.escape(s)
        tail = f"= {html.escape(body)} = <b>{html.escape(result)}</b>" if body else f"= <b>{html.escape(rest)}</b>"
        return f"{html.escape(first)}<br>{tail}"
    steps = "<br>".join(f"<span class='res'>{step(s)}</span>" for s in f.steps)
    return (f"<div class='ca-formula'><span class='gen'>{name}: {html.escape(f.general)}</span><br>"
            f"{steps}</div>")


def question_html(q: ar.Question) -> str:
    cells = q.row()
    head = "".join(f"<th>{k}</th>" for k in cells)
    body = "".join("<td class='blank'>?</td>" if k == q.blank else f"<td>{v}</td>" for k, v in cells.items())
    return f"<table class='ca-q'><tr>{head}</tr><tr>{body}</tr></table>"
