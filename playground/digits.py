"""A drawn (or photographed) digit made to look like an MNIST digit, step by step.

MNIST's digits were made this way (LeCun et al.): the ink's bounding box scaled, keeping its aspect
ratio, to fit a 20 x 20 box (anti-aliased, hence the grey edges), then placed in a 28 x 28 image so
that its centre of mass sits at the centre; white ink on black. A network trained on MNIST has
only ever seen digits like that: a digit drawn small in a corner of a canvas, or dark on white
paper, is a different input to it. :func:`mnist_style` gives the 28 x 28 image,
:func:`mnist_steps` every intermediate for the page to show.

    >>> from playground import digits, images
    >>> img = images.decode(png_bytes)               # the app's one decoder
    >>> digits.mnist_style(img).size
    (28, 28)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 28          # MNIST's image side
BOX = 20           # the side of the box the digit's ink is fitted into
INK = 0.2          # a pixel is ink when it is this far (0..1) from the background


class DigitError(ValueError):
    """No digit to read (an empty drawing, a blank photo); the message says what to do."""


@dataclass
class DigitSteps:
    """Every step of :func:`mnist_style`, for display."""
    gray: Image.Image           # the input in grey levels, ink made white on black ("L")
    inverted: bool              # the input was dark ink on a light background
    box: tuple[int, int, int, int]   # the ink's bounding box in ``gray`` (left, top, right, bottom)
    fitted: Image.Image         # the ink, scaled to fit 20 x 20 keeping its aspect ratio
    centre_of_mass: tuple[float, float]   # (row, col) of the ink in ``result`` (~ (13.5, 13.5))
    result: Image.Image         # 28 x 28 "L": what an MNIST model gets

    def in_box(self) -> Image.Image:
        """The fitted ink centred in its 20 x 20 box (black around it), for display."""
        box = Image.new("L", (BOX, BOX), 0)
        box.paste(self.fitted, ((BOX - self.fitted.width) // 2, (BOX - self.fitted.height) // 2))
        return box

    def marked(self) -> Image.Image:
        """The grey input (ink white on black) with the ink's bounding box drawn in orange."""
        img = self.gray.convert("RGB")
        width = max(2, round(max(img.size) / 140))
        ImageDraw.Draw(img).rectangle([self.box[0], self.box[1], self.box[2] - 1, self.box[3] - 1],
                                      outline=(253, 126, 20), width=width)
        return img


def _background_is_light(a: np.ndarray) -> bool:
    """The median of the border pixels: paper (light) or a black canvas (dark)."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return float(np.median(border)) > 127


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = float(a.sum())
    rows, cols = np.indices(a.shape)
    return float((rows * a).sum() / total), float((cols * a).sum() / total)


def mnist_steps(image: Image.Image) -> DigitSteps:
    """Turn ``image`` (any mode, any size; from :func:`playground.images.decode`) into an
    MNIST-style 28 x 28 digit, keeping every step. Raises :class:`DigitError` when there is no
    ink (an empty drawing)."""
    gray = image.convert("L")
    a = np.asarray(gray, dtype=np.float32)                              # (H, W), 0..255
    inverted = _background_is_light(a)
    if inverted:
        a = 255 - a
        gray = Image.fromarray(a.astype(np.uint8), "L")
    a = a - np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]))  # the background to 0
    ink = a > INK * 255
    if not ink.any():
        raise DigitError("There is no digit to read: the drawing is empty. Draw a digit (0 to 9) "
                         "with the mouse or a finger, large and in the middle.")
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    crop = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L").crop(box)
    scale = BOX / max(crop.size)
    w, h = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
    fitted = crop.resize((w, h), Image.Resampling.LANCZOS)                  # anti-aliased
    f = np.asarray(fitted, dtype=np.float32)
    if f.sum() == 0:   # a speck that vanished when scaled
        raise DigitError("The drawing is too faint or too small to read: draw the digit larger.")
    r, c = _centre_of_mass(f)
    # place the fitted box so that its centre of mass lands on the image's centre
    top = int(np.clip(round(SIZE / 2 - 0.5 - r), 0, SIZE - h))
    left = int(np.clip(round(SIZE / 2 - 0.5 - c), 0, SIZE - w))
    out = Image.new("L", (SIZE, SIZE), 0)
    out.paste(fitted, (left, top))
    return DigitSteps(gray=gray, inverted=inverted, box=box, fitted=fitted,
                      centre_of_mass=_centre_of_mass(np.asarray(out, dtype=np.float32)), result=out)


def mnist_style(image: Image.Image) -> Image.Image:
    """``image`` as MNIST's digits are: white ink on black, the digit fitted into 20 x 20 and
    centred by its centre of mass in 28 x 28 (mode "L"). :class:`DigitError` when empty."""
    return mnist_steps(image).result
