"""The shipped digits model and the MNIST-style preprocessing of a drawn digit
(playground/digits.py): the model loads weights-only and describes itself, its recorded held-out
accuracy is >= 98%, and digits drawn as strokes (the way a mouse draws them on the canvas) are read
correctly wherever and however large they are drawn, dark on light or light on dark."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageOps

from playground import checkpoints, digits, images, models, paths


def arc(cx, cy, rx, ry, a0, a1, n=24):
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# Each digit as the strokes a hand draws, on a 0..10 grid (x right, y down).
STROKES = {
    "0": [arc(5, 5, 2.6, 3.8, 0, 360)],
    "1": [[(4, 2.5), (5.4, 1.2), (5.4, 8.8)]],
    "2": [arc(5, 3.4, 2.5, 2.2, 200, 360) + arc(5, 3.4, 2.5, 2.2, 0, 60) + [(2.6, 8.6), (7.8, 8.6)]],
    "3": [arc(5, 3.2, 2.3, 2.0, 210, 450), arc(5, 6.9, 2.5, 2.0, 270, 510)],
    "4": [[(6.2, 1.2), (2.2, 6.2), (8.0, 6.2)], [(6.2, 3.4), (6.2, 8.9)]],
    "5": [[(7.4, 1.4), (3.4, 1.4), (3.0, 4.6)] + arc(4.9, 6.3, 2.6, 2.4, 235, 480)],
    "6": [[(6.8, 1.2), (4.2, 3.4), (2.7, 6.0)] + arc(5, 6.5, 2.4, 2.3, 180, 540)],
    "7": [[(2.4, 1.6), (7.8, 1.6), (4.2, 8.9)]],
    "8": [arc(5, 3.1, 2.0, 1.9, 90, 450), arc(5, 6.9, 2.4, 2.0, -90, 270)],
    "9": [arc(5, 3.4, 2.4, 2.2, 0, 360), [(7.4, 3.4), (6.9, 8.9)]],
}


def drawn(d: str, box=(0, 0, 280, 280), width=18, ink=0, paper=255, size=280) -> bytes:
    """A 280 x 280 canvas PNG with digit ``d`` drawn in strokes of ``width`` px inside ``box``."""
    im = Image.new("L", (size, size), paper)
    dr = ImageDraw.Draw(im)
    x0, y0, x1, y1 = box
    for s in STROKES[d]:
        dr.line([(x0 + (x1 - x0) * x / 10, y0 + (y1 - y0) * y / 10) for x, y in s],
                fill=ink, width=width, joint="curve")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def lm() -> models.LoadedModel:
    return models.load(models.entry("digits"))


def read(lm: models.LoadedModel, img: Image.Image) -> str:
    with torch.no_grad():
        return lm.class_names[int(lm.model(images.prepare(img, lm.preprocess).tensor).argmax())]


# ------------------------------------------------------------------------------ the shipped model
def test_shipped_digits_model_describes_itself():
    path = paths.DIGITS_MODEL
    assert path.is_file() and path.stat().st_size < 1_000_000           # commit-worthy
    raw = torch.load(path, map_location="cpu", weights_only=True)       # no code runs
    assert raw["class_names"] == [str(d) for d in range(10)] and raw["input_shape"] == [1, 28, 28]
    assert raw["mean"] == pytest.approx([0.1307]) and raw["std"] == pytest.approx([0.3081])
    run = raw["run"]
    assert run["trained_by"] == "scripts/train_digits_model.py"
    assert run["holdout_acc"] >= 0.98 and run["n_holdout"] >= 1000
    ck = checkpoints.load_checkpoint(path)
    assert ck.model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_digits_model_is_in_the_one_picker(lm):
    keys = [e.key for e in models.catalogue(torchvision_models=[])]
    assert keys[:2] == ["default", "digits"]
    assert lm.input_shape == (1, 28, 28) and lm.reads_digits
    assert not models.load(models.entry("default")).reads_digits


@pytest.mark.parametrize("style", ["large, black on white", "small in a corner", "white on black"])
def test_drawn_digits_are_read(lm, style):
    kw = {"large, black on white": {}, "small in a corner": {"box": (150, 150, 270, 270), "width": 8},
          "white on black": {"ink": 255, "paper": 0}}[style]
    got = [read(lm, digits.mnist_style(images.decode(drawn(d, **kw)))) for d in STROKES]
    assert got == list(STROKES)


def test_a_transparent_canvas_png_goes_through_the_one_decoder(lm):
    """Black strokes on a transparent canvas (how a canvas without a background exports):
    the decoder composites them on white, the MNIST step inverts them."""
    gray = Image.open(io.BytesIO(drawn("7")))
    rgba = Image.new("RGBA", gray.size, (0, 0, 0, 0))
    rgba.putalpha(ImageOps.invert(gray))                  # ink opaque black, paper transparent
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    assert read(lm, digits.mnist_style(images.decode(buf.getvalue()))) == "7"


def test_the_mnist_step_is_what_makes_a_small_digit_readable(lm):
    """The same small corner digits, only resized (no MNIST-style step): mostly misread."""
    raw = [read(lm, ImageOps.invert(images.decode(drawn(d, (150, 150, 270, 270), 8)).convert("L")))
           for d in STROKES]
    assert sum(g == d for g, d in zip(raw, STROKES)) <= 5


# ------------------------------------------------------------------------------ the MNIST step
def test_mnist_steps_follow_mnist():
    st = digits.mnist_steps(images.decode(drawn("7", (20, 30, 120, 250), 10)))
    assert st.inverted and st.result.size == (28, 28) and st.result.mode == "L"
    assert max(st.fitted.size) == 20                                     # fitted into 20 x 20
    a = np.asarray(st.result, dtype=np.float64)
    assert a[0].max() == 0 and a[:, 0].max() == 0 and a.max() > 200      # white ink on black
    r, c = st.centre_of_mass
    assert abs(r - 13.5) <= 0.5 and abs(c - 13.5) <= 0.5                 # centred by mass
    # the ink's box: the stroke's end points (2.4, 1.6) and (7.8, 1.6), (4.2, 8.9) on the 0..10
    # grid mapped into (20, 30, 120, 250), give or take half the 10 px stroke
    want = (20 + 2.4 * 10, 30 + 1.6 * 22, 20 + 7.8 * 10, 30 + 8.9 * 22)
    assert all(abs(got - w) <= 6 for got, w in zip(st.box, want)), (st.box, want)


def test_same_digit_anywhere_gives_nearly_the_same_input():
    big = np.asarray(digits.mnist_style(images.decode(drawn("4"))), dtype=np.float64)
    small = np.asarray(digits.mnist_style(images.decode(drawn("4", (10, 150, 110, 250), 7))),
                       dtype=np.float64)
    assert np.corrcoef(big.ravel(), small.ravel())[0, 1] > 0.8


@pytest.mark.parametrize("paper", [255, 0])
def test_an_empty_drawing_is_a_clear_message(paper):
    blank = Image.new("RGB", (280, 280), (paper,) * 3)
    with pytest.raises(digits.DigitError, match="empty"):
        digits.mnist_style(blank)
    rgba = Image.new("RGBA", (280, 280), (0, 0, 0, 0))      # the canvas's transparent background
    with pytest.raises(digits.DigitError, match="empty"):
        digits.mnist_style(rgba)
