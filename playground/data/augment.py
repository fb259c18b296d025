"""Batches as the network sees them: uint8 -> float, channel-matched, resized, augmented and
normalized, all as whole-batch tensor ops on the training device (never per-sample PIL: on a
CPU the batch ops are what make the app's loop faster than a DataLoader of PIL images,
bench/bench_training.py measures it)."""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

# Every augmentation off: the generated shapes need none to learn (RunConfig's default).
AUGMENT_DEFAULTS = {"crop": 0, "hflip": False, "rotate": 0.0, "jitter": 0.0, "erase": 0.0}
# The statistics torchvision's ImageNet weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Rand = Callable[..., torch.Tensor]


def _crop(x: torch.Tensor, pad: int, rnd: Rand) -> torch.Tensor:
    """Pad by ``pad`` pixels (reflect) and crop back at a random offset per image."""
    b, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect" if pad < min(h, w) else "replicate")
    ox = (rnd(b) * (2 * pad + 1)).long().clamp_max(2 * pad)
    oy = (rnd(b) * (2 * pad + 1)).long().clamp_max(2 * pad)
    rows = oy[:, None] + torch.arange(h, device=dev)[None]                     # (b, h)
    cols = ox[:, None] + torch.arange(w, device=dev)[None]                     # (b, w)
    xp = torch.gather(xp, 2, rows[:, None, :, None].expand(b, c, h, xp.shape[3]))
    return torch.gather(xp, 3, cols[:, None, None, :].expand(b, c, h, w))


def _rotate(x: torch.Tensor, deg: float, rnd: Rand) -> torch.Tensor:
    """A random rotation in +-``deg`` degrees per image (bilinear, reflected borders)."""
    ang = (rnd(x.shape[0]) * 2 - 1) * math.radians(deg)
    cos, sin = torch.cos(ang), torch.sin(ang)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _jitter(x: torch.Tensor, j: float, rnd: Rand) -> torch.Tensor:
    """Brightness, contrast and (colour images) saturation, each scaled by 1 +- ``j``."""
    b, c = x.shape[:2]
    bright = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
    contrast = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean) * bright
    if c == 3:
        sat = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
        grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        x = (x - grey) * sat + grey
    return x.clamp(0, 1)


def _erase(x: torch.Tensor, p: float, rnd: Rand) -> torch.Tensor:
    """With probability ``p`` per image, a random rectangle (2-22% of the area) of one colour."""
    b, c, h, w = x.shape
    dev = x.device
    area = 0.02 + rnd(b) * 0.2
    aspect = torch.exp((rnd(b) * 2 - 1) * math.log(3))
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
    y0 = rnd(b) * (h - eh)
    x0 = rnd(b) * (w - ew)
    yy = torch.arange(h, device=dev)[None, :, None]
    xx = torch.arange(w, device=dev)[None, None, :]
    box = ((yy >= y0[:, None, None]) & (yy < (y0 + eh)[:, None, None])
           & (xx >= x0[:, None, None]) & (xx < (x0 + ew)[:, None, None]))            # (b, h, w)
    box = box & (rnd(b) < p)[:, None, None]
    return torch.where(box[:, None], rnd(b, c, 1, 1).expand_as(x), x)


def augment(x: torch.Tensor, aug: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
    """Random augmentations of a float batch (B, C, H, W) in [0, 1], on its own device.

    ``crop``: pad by this many pixels (reflect) and crop back at a random offset;
    ``hflip``: mirror half of the images; ``rotate``: random angle in +-degrees;
    ``jitter``: brightness/contrast/saturation strength (0.2 = +-20%);
    ``erase``: probability of blanking a random rectangle (random erasing)."""
    def rnd(*shape):
        return torch.rand(*shape, device=x.device, generator=generator)

    pad = int(aug.get("crop") or 0)
    if pad > 0:
        x = _crop(x, pad, rnd)
    if aug.get("hflip"):
        flip = rnd(x.shape[0]) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    deg = float(aug.get("rotate") or 0)
    if deg > 0:
        x = _rotate(x, deg, rnd)
    j = float(aug.get("jitter") or 0)
    if j > 0:
        x = _jitter(x, j, rnd)
    p = float(aug.get("erase") or 0)
    if p > 0:
        x = _erase(x, p, rnd)
    return x


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.as_tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def to_model_input(x_uint8: torch.Tensor, mean, std, aug: dict[str, Any] | None = None,
                   generator: torch.Generator | None = None, *, channels: int | None = None,
                   size: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 batch (B, C, H, W) -> float, channel-matched to ``channels``, resized to ``size``,
    optionally augmented, normalized: what the network is fed."""
    x = x_uint8.float().div_(255)
    if channels and x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    if size and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if aug and any(aug.get(k) for k in AUGMENT_DEFAULTS):
        x = augment(x, aug, generator)
    return normalize(x, mean, std)
