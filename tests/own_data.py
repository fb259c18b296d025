"""Zips of a learner's own images, made in the test with PIL (no files on disk needed): the
layout of the course's cats-vs-dogs data (``train/<class>/``, ``val/<class>/``), some images saved
as phones save portraits (JPEG with EXIF orientation 6), others as PNG."""
from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image, ImageDraw

# Three classes a tiny network tells apart in an epoch: a colour and a shape each.
SHAPES = {"circle": (220, 40, 40), "square": (40, 80, 220), "triangle": (30, 170, 60)}
EXIF_ORIENTATION = 0x0112


def shape_image(cls: str, i: int, size: tuple[int, int] = (48, 40), gray: bool = False) -> Image.Image:
    """One image of class ``cls`` (deterministic by ``i``): the shape on a light noisy background."""
    rng = np.random.default_rng(i * 7 + len(cls))
    w, h = size
    bg = (235 + rng.integers(-15, 15, (h, w, 3))).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(img)
    s = min(w, h)
    r = int(s * (0.28 + 0.08 * rng.random()))
    cx, cy = w // 2 + int(rng.integers(-3, 4)), h // 2 + int(rng.integers(-3, 4))
    colour = SHAPES[cls]
    if cls == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif cls == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return img.convert("L") if gray else img


def encode(img: Image.Image, exif_rotated: bool = False) -> bytes:
    """PNG bytes, or a JPEG stored sideways with EXIF orientation 6 (shown upright after the
    viewer rotates it 90 degrees clockwise, as a phone's portrait photo is)."""
    buf = io.BytesIO()
    if exif_rotated:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        # stored rotated 90 degrees counter-clockwise; orientation 6 turns it back
        img.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


def split_zip(n_train: int = 8, n_val: int = 3, *, gray: bool = False, size=(48, 40),
              wrap: str = "") -> bytes:
    """A zip laid out ``[wrap/]train/<class>/`` and ``[wrap/]val/<class>/``; every third image
    is an EXIF-rotated JPEG."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split, n in (("train", n_train), ("val", n_val)):
            for cls in SHAPES:
                for i in range(n):
                    rotated = i % 3 == 0 and not gray
                    data = encode(shape_image(cls, i + (1000 if split == "val" else 0), size, gray), rotated)
                    ext = "jpg" if rotated else "png"
                    zf.writestr(f"{wrap + '/' if wrap else ''}{split}/{cls}/{cls}_{i}.{ext}", data)
    return buf.getvalue()


def one_class_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            zf.writestr(f"circle/{i}.png", encode(shape_image("circle", i)))
    return buf.getvalue()
