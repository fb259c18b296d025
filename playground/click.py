"""Click to segment: SAM's point prompt without SAM's weights.

SAM (Segment Anything) turns a click into a mask: a big image encoder embeds the picture once, a
prompt encoder embeds the click, and a small decoder answers "the object under this point". Here a
small U-Net (:mod:`playground.networks.unet`, 0.48 M parameters) does the same job in one pass: its
input is the image's 3 channels plus a 4th that marks the click, and its output is the clicked
object's mask (2 classes: not the object, the object). It is trained on the shapes' scenes
(:func:`playground.data.scenes.make_scenes`: 1 to 4 shapes that may touch or overlap, each with its
exact visible mask) by ``scripts/train_click_model.py``, which ships ``assets/click_unet.pt``.

The click channel is a Gaussian blob (sigma CLICK_SIGMA pixels) rather than a one-pixel dot or a
hard disc: a dot is a single nonzero pixel that the first 3x3 convolutions blur away and a
disc's rim reads like an object edge; the blob's smooth peak says where the click is to every
pixel within a few sigma, and its maximum is exactly the clicked pixel.

    from playground import click
    mask = click.segment_at(image, x=30, y=41)     # bool (H, W) at the image's own size
"""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import paths
from .checkpoints import atomic_save
from .data import DataError
from .data.scenes import SceneData, make_scenes
from .networks.unet import UNet

MODEL_PATH = paths.ASSETS / "click_unet.pt"        # written by scripts/train_click_model.py
FORMAT = "cnn-playground-click/1"
KNOBS = {"width": 16, "depth": 3, "skips": True}  # the segment task's U-Net, one more input channel
TRAIN_SIZE = 64          # the scenes the shipped model was trained on (64 x 64 px)
NATIVE = (64, 96)        # longer sides run as they are; others are resized to the nearer end
CLICK_SIGMA = 3.0        # the click blob's standard deviation, in (working) pixels
BACKGROUND_CLICKS = 0.1  # share of training clicks on the background (target: no object)
BORDER_CLICKS = 0.3      # share of object clicks on the object's outermost pixels
MIN_SIDE = 8             # an image smaller than this is not something to click on


# --------------------------------------------------------------------------------------------
# The network's input: image + click channel
# --------------------------------------------------------------------------------------------
def click_maps(xs: torch.Tensor, ys: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """float (N, 1, H, W): a Gaussian blob of CLICK_SIGMA pixels, peak 1, at each click
    (``xs`` column, ``ys`` row, pixel centres at integers)."""
    cols = torch.arange(w, dtype=torch.float32)[None, None, :] - xs.float()[:, None, None]
    rows = torch.arange(h, dtype=torch.float32)[None, :, None] - ys.float()[:, None, None]
    return torch.exp(-(cols ** 2 + rows ** 2) / (2 * CLICK_SIGMA ** 2))[:, None]


def model_input(images: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 3, H, W) and clicks -> float (N, 4, H, W): the image scaled to [-1, 1]
    and the click channel."""
    h, w = images.shape[-2:]
    return torch.cat([images.float() / 127.5 - 1, click_maps(xs, ys, h, w)], 1)


def build_model() -> nn.Module:
    """The click U-Net, untrained: 4 channels in, 2 classes out (background, the clicked object)."""
    return UNet(4, 2, **KNOBS)


# --------------------------------------------------------------------------------------------
# Training examples from scenes
# --------------------------------------------------------------------------------------------
def border_pixels(masks: torch.Tensor) -> torch.Tensor:
    """bool (N, H, W): the mask pixels with one of their 8 neighbours outside the mask (the outline)."""
    m = masks.float()[:, None]
    eroded = -F.max_pool2d(-F.pad(m, (1, 1, 1, 1), value=0.0), 3, stride=1)
    return (masks & (eroded[:, 0] < 0.5))


def inner_points(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(xs, ys) int64 (N,): for each mask a pixel as far inside it as possible (the last pixel left
    when the mask is eroded again and again): where a person clicks an object."""
    m = masks.float()[:, None]
    keep = m
    while True:
        eroded = -F.max_pool2d(-F.pad(keep, (1, 1, 1, 1), value=0.0), 3, stride=1)
        alive = eroded.flatten(1).amax(1) > 0.5
        if not alive.any():
            break
        keep = torch.where(alive[:, None, None, None], eroded, keep)
    flat = keep.flatten(1).argmax(1)          # the first remaining pixel of each mask
    w = masks.shape[-1]
    return flat % w, flat // w


def sample_clicks(scenes: SceneData, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One click per scene: (xs, ys, target bool (N, H, W)). A random object is picked and clicked
    at a random pixel of its visible mask (BORDER_CLICKS of the time on its outline); a share
    BACKGROUND_CLICKS of the clicks land on the background, whose target is empty."""
    n = len(scenes)
    pick = (torch.rand(n, generator=g) * scenes.counts).long() + 1                # (N,) 1..count
    on_bg = torch.rand(n, generator=g) < BACKGROUND_CLICKS
    target = (scenes.instances == pick[:, None, None]) & ~on_bg[:, None, None]     # (N, H, W)
    where = torch.where(on_bg[:, None, None], scenes.instances == 0, target)
    edge = border_pixels(where)
    use_edge = (torch.rand(n, generator=g) < BORDER_CLICKS) & edge.flatten(1).any(1)
    where = torch.where(use_edge[:, None, None], edge, where)
    score = torch.rand(where.shape, generator=g) * where                          # random pixel of each
    flat = score.flatten(1).argmax(1)
    w = scenes.instances.shape[-1]
    return flat % w, flat // w, target


def training_batch(scenes: SceneData, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(input (N, 4, H, W), target int64 (N, H, W)) with random clicks and random flips."""
    xs, ys, target = sample_clicks(scenes, g)
    x = model_input(scenes.images, xs, ys)
    y = target.long()
    if torch.rand(1, generator=g).item() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if torch.rand(1, generator=g).item() < 0.5:
        x, y = x.flip(-2), y.flip(-2)
    return x, y


def iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """float (N,): intersection over union of bool masks (N, H, W); 1 when both are empty."""
    inter = (pred & truth).flatten(1).sum(1).float()
    union = (pred | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@torch.no_grad()
def evaluate(model: nn.Module, n: int = 500, seed: int = 10_000, *, inner: bool = True) -> dict[str, float]:
    """Click every object of ``n`` fresh scenes (at its innermost pixel, or a random one with
    ``inner=False``): the mean IoU against its true visible mask and the share at IoU >= 0.8;
    plus the mean predicted pixels for a click on the background."""
    model.eval()
    scenes = make_scenes(n, TRAIN_SIZE, seed)
    g = torch.Generator().manual_seed(seed)
    ious = []
    for k in range(1, int(scenes.counts.max()) + 1):
        idx = (scenes.counts >= k).nonzero().flatten()
        truth = scenes.instances[idx] == k
        if inner:
            xs, ys = inner_points(truth)
        else:
            flat = (torch.rand(truth.shape, generator=g) * truth).flatten(1).argmax(1)
            xs, ys = flat % TRAIN_SIZE, flat // TRAIN_SIZE
        pred = predict_batch(model, scenes.images[idx], xs, ys)
        ious.append(iou(pred, truth))
    bg = scenes.instances == 0
    flat = (torch.rand(bg.shape, generator=g) * bg).flatten(1).argmax(1)
    bg_pred = predict_batch(model, scenes.images, flat % TRAIN_SIZE, flat // TRAIN_SIZE)
    all_iou = torch.cat(ious)
    return {"iou": float(all_iou.mean()), "share_08": float((all_iou >= 0.8).float().mean()),
            "objects": int(all_iou.numel()),
            "background_pixels": float(bg_pred.flatten(1).sum(1).float().mean())}


@torch.no_grad()
def predict_batch(model: nn.Module, images: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor,
                  batch: int = 256) -> torch.Tensor:
    """bool (N, H, W): the clicked objects' masks for uint8 images (N, 3, H, W)."""
    out = []
    for i in range(0, images.shape[0], batch):
        logits = model(model_input(images[i:i + batch], xs[i:i + batch], ys[i:i + batch]))
        out.append(logits.argmax(1) == 1)
    return torch.cat(out)


# --------------------------------------------------------------------------------------------
# The shipped model: written and read as plain tensors and JSON-able values (weights only)
# --------------------------------------------------------------------------------------------
def save_model(path: str | os.PathLike, model: nn.Module, info: dict[str, Any]) -> None:
    """Write the click model: ``{"format", "unet", "state_dict", "info"}``, atomically."""
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    atomic_save({"format": FORMAT, "unet": dict(KNOBS), "state_dict": state, "info": dict(info)}, path)


@functools.lru_cache(maxsize=2)
def load_model(path: str = str(MODEL_PATH)) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, its training record), loaded once per process with
    ``torch.load(weights_only=True)``; DataError in words when the file is missing or not one."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"The click model {p.name} is missing: train it with "
                        "`python scripts/train_click_model.py`.")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged or hostile file
        raise DataError(f"{p.name} is not a readable click model ({type(e).__name__}).") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DataError(f"{p.name} is not a click model (format {FORMAT} expected).")
    model = UNet(4, 2, **obj["unet"])
    model.load_state_dict(obj["state_dict"])
    model.eval()
    return model, dict(obj.get("info") or {})


# --------------------------------------------------------------------------------------------
# One click on one image of any size
# --------------------------------------------------------------------------------------------
def as_tensor(image: Any) -> torch.Tensor:
    """uint8 (3, H, W) from a PIL image, an (H, W, 3) or (H, W) uint8 array, encoded image bytes
    or a uint8 (3, H, W) tensor."""
    if isinstance(image, (bytes, bytearray)):
        from .images import load_image

        image = load_image(bytes(image))
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        arr = image if image.ndim == 3 else np.repeat(image[..., None], 3, -1)
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise DataError(f"An image is (height, width, 3) pixels, not {tuple(image.shape)}.")
        image = torch.from_numpy(np.ascontiguousarray(arr[..., :3])).permute(2, 0, 1)
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
        raise DataError("Give an image: a photo, an RGB array or a (3, H, W) tensor.")
    if image.dtype == torch.uint8:
        return image
    return (image.float().clamp(0, 1) * 255).round().to(torch.uint8)        # floats in [0, 1]


def working_size(h: int, w: int) -> tuple[int, int]:
    """The size the model sees: the image's own when its longer side is within NATIVE, else
    scaled (aspect kept) so the longer side is NATIVE's nearer end."""
    longer = max(h, w)
    target = min(max(longer, NATIVE[0]), NATIVE[1])
    if target == longer:
        return h, w
    s = target / longer
    return max(1, round(h * s)), max(1, round(w * s))


def check_click(h: int, w: int, x: float, y: float) -> None:
    """DataError in words for a click that is not on the image (``x`` column, ``y`` row)."""
    if min(h, w) < MIN_SIDE:
        raise DataError(f"The image is {w} x {h} pixels: too small to click on (at least "
                        f"{MIN_SIDE} x {MIN_SIDE}).")
    ok = np.isfinite(x) and np.isfinite(y) and 0 <= x < w and 0 <= y < h
    if not ok:
        raise DataError(f"The click at x = {x:g}, y = {y:g} is outside the image, which is "
                        f"{w} x {h} pixels (x from 0 to {w - 1}, y from 0 to {h - 1}): click on "
                        f"the picture itself.")


def segment_at(image: Any, x: float, y: float, *, model: nn.Module | None = None) -> np.ndarray:
    """bool (H, W) at the image's own size: the object under the click at column ``x``, row
    ``y`` (pixels of ``image``). Other sizes are resized in and out (:func:`working_size`).
    Uses the shipped model (loaded once) unless ``model`` is given; DataError for a click outside
    the image."""
    img = as_tensor(image)
    h, w = img.shape[-2:]
    check_click(h, w, float(x), float(y))
    net = model if model is not None else load_model()[0]
    wh, ww = working_size(h, w)
    small = img[None]
    if (wh, ww) != (h, w):
        small = F.interpolate(img[None].float(), size=(wh, ww), mode="bilinear", antialias=True,
                              align_corners=False).round().clamp(0, 255).to(torch.uint8)
    sx, sy = (x + 0.5) * ww / w - 0.5, (y + 0.5) * wh / h - 0.5       # pixel centres kept
    with torch.no_grad():
        logits = net(model_input(small, torch.tensor([sx]), torch.tensor([sy])))   # (1, 2, wh, ww)
        p = torch.softmax(logits, 1)[:, 1:]                                         # (1, 1, wh, ww)
        if (wh, ww) != (h, w):
            p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
    return (p[0, 0] > 0.5).numpy()


# --------------------------------------------------------------------------------------------
# What the page shows
# --------------------------------------------------------------------------------------------
def scene(seed: int, size: int = TRAIN_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, 3), instances uint8 (H, W)) of the scene ``seed``: the page's picture
    and, for tests, each object's visible mask (0 background, k the k-th object)."""
    s = make_scenes(1, size, int(seed))
    return s.images[0].permute(1, 2, 0).numpy(), s.instances[0].numpy()


OUTLINE_COLOUR = np.array([255, 255, 0], dtype=np.uint8)
DIM = 0.4               # what is not the mask is shown at 40% brightness: the object stands out
                        # whatever its colour (a tint in one colour vanished on shapes of that colour)


def overlay(image: np.ndarray, mask: np.ndarray | None, x: float | None, y: float | None,
            scale: int = 1) -> np.ndarray:
    """uint8 (H*scale, W*scale, 3): the image enlarged ``scale`` times (nearest), everything but
    the mask dimmed, the mask's outline drawn in yellow, and the click marked by a ring."""
    img = np.repeat(np.repeat(np.asarray(image, dtype=np.uint8), scale, 0), scale, 1).astype(np.float32)
    if mask is not None and mask.any():
        big = np.repeat(np.repeat(mask.astype(bool), scale, 0), scale, 1)
        img[~big] *= DIM
        edge = border_pixels(torch.from_numpy(big)[None])[0].numpy()
        thick = edge | np.roll(edge, 1, 0) | np.roll(edge, 1, 1)
        img[thick & big] = OUTLINE_COLOUR
    out = img.round().clip(0, 255).astype(np.uint8)
    if x is not None and y is not None:
        cx, cy = (x + 0.5) * scale, (y + 0.5) * scale
        rr, cc = np.mgrid[:out.shape[0], :out.shape[1]]
        d = np.hypot(rr + 0.5 - cy, cc + 0.5 - cx)
        r = max(3.0, 1.2 * scale)
        out[(d <= r + 1.5) & (d >= r - 0.5)] = (0, 0, 0)
        out[(d < r - 0.5) & (d >= r - 2)] = (255, 255, 255)
    return out


def to_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) picture."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def display_to_pixel(value: dict | None, h: int, w: int) -> tuple[int, int] | None:
    """The image pixel (x, y) of a click reported on a picture displayed at another size (the click
    component's ``{"x", "y", "width", "height"}``); None for no click."""
    if not value or "x" not in value or "y" not in value:
        return None
    dw, dh = float(value.get("width") or w), float(value.get("height") or h)
    x, y = int(float(value["x"]) * w / dw), int(float(value["y"]) * h / dh)
    return min(max(x, 0), w - 1), min(max(y, 0), h - 1)     # the picture's last pixel, not past it


__all__ = ["MODEL_PATH", "NATIVE", "TRAIN_SIZE", "build_model", "click_maps", "display_to_pixel", "evaluate",
           "inner_points", "iou", "load_model", "model_input", "overlay", "predict_batch",
           "sample_clicks", "save_model", "scene", "segment_at", "training_batch", "working_size"]
