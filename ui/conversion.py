"""One sentence that says how a photo becomes what a model was trained on (gray or colour, its
size, its mean and std), for Classify's and Look inside's "what the model receives" panels."""
from __future__ import annotations

from playground import images, models

MODE_WORDS = {"L": "gray", "1": "black-and-white", "RGB": "colour", "RGBA": "colour (with transparency)",
              "P": "palette", "CMYK": "CMYK", "I;16": "16-bit gray", "I": "32-bit gray", "F": "float gray"}


def _vals(v) -> str:
    return ", ".join(f"{x:.3f}" for x in v)


def trained_on(lm: models.LoadedModel) -> str:
    """'gray 28 x 28 px' / 'colour 224 x 224 px' (width x height): the images the model was
    trained on."""
    c, h, w = lm.input_shape
    return f"{'gray' if c == 1 else 'colour'} {w} x {h} px"


def conversion(lm: models.LoadedModel, prep: images.Prepared) -> str:
    """Markdown: what the model was trained on and each step that turns this photo into it."""
    pre = prep.pre
    src = prep.original
    where = {"run": "a training run", "default": "shipped with the app", "upload": "the uploaded "
             "checkpoint", "torchvision": "torchvision's ImageNet weights"}.get(lm.kind, "this model")
    mode = MODE_WORDS.get(src.mode, src.mode)
    steps = []
    if pre.channels == 1 and src.mode != "L":
        steps.append("turned gray (the luminance of its colours)")
    elif pre.channels == 3 and src.mode != "RGB":
        steps.append("turned into colour (red, green and blue)")
    steps.append(f"resized so that its shorter side is {pre.resize} px")
    steps.append(f"centre-cropped to {pre.crop[1]} x {pre.crop[0]} px")
    steps.append(f"scaled to [0, 1] and normalised with the training data's mean ({_vals(pre.mean)}) "
                 f"and std ({_vals(pre.std)})")
    return (f"**This model ({where}) was trained on {trained_on(lm)} images.** Your "
            f"{src.width} x {src.height} px {mode} image is " + ", ".join(steps[:-1]) +
            f" and {steps[-1]}: a tensor of {' x '.join(map(str, prep.tensor.shape))} "
            "(batch, channels, height, width).")
