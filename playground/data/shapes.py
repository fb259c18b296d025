"""The offline default dataset: coloured shapes (told apart by shape only: colour is random) at
random positions, sizes and rotations on textured, noisy backgrounds, with each object's pixel
mask kept so that an explanation can be scored against where the object really is. Rasterised
in batches with torch (2x supersampled), deterministic by seed."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .dataset import DataError, Dataset

# The default classes are all solid shapes, so "where the object is" (its mask) is also where its
# evidence is: a network's attention can be scored against the mask. Hollow shapes (ring,
# crescent) are available on request; their centre is background, and Grad-CAM's coarse map
# peaks there (tests/unit/test_explain.py measures both).
DEFAULT_SHAPES = ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "semicircle")
HOLLOW_SHAPES = ("ring", "crescent")
SHAPE_CLASSES = DEFAULT_SHAPES + HOLLOW_SHAPES
# The validation set's seed is the training seed plus this prime: never the same images.
VAL_SEED_OFFSET = 1_000_003
BACKGROUND = "background"   # class 0 of every segmentation mask


@dataclass
class ShapesData:
    images: torch.Tensor        # uint8 (N, 3, H, W)
    labels: torch.Tensor        # int64 (N,)
    masks: torch.Tensor         # bool (N, H, W): the object's pixels
    class_names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_masks(self) -> torch.Tensor:
        """int64 (N, H, W) segmentation targets: 0 on the background, 1 + the shape's class
        index on its pixels (class names: ``[BACKGROUND, *class_names]``)."""
        return torch.where(self.masks, self.labels[:, None, None] + 1, 0)


def _polygon_radius(phi: torch.Tensor, sides: int) -> torch.Tensor:
    """Radius of a regular polygon (circumradius 1) in direction ``phi``."""
    sector = 2 * math.pi / sides
    a = torch.remainder(phi, sector) - sector / 2
    return math.cos(math.pi / sides) / torch.cos(a)


def _inside(kind: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the shape ``kind`` in local coordinates (radius ~1 around the origin)."""
    r = torch.sqrt(u * u + v * v)
    phi = torch.atan2(v, u)
    if kind == "circle":
        return r <= 0.92
    if kind == "square":
        return (u.abs() <= 0.72) & (v.abs() <= 0.72)
    if kind == "triangle":
        return r <= _polygon_radius(phi + math.pi / 2, 3) * 1.05
    if kind == "star":
        t = torch.remainder(phi + math.pi / 2, 2 * math.pi / 5) / (2 * math.pi / 5)
        tri = (t - 0.5).abs() * 2                      # 1 at the tips, 0 between them
        return r <= 0.5 + 0.55 * tri ** 1.5
    if kind == "cross":
        return ((u.abs() <= 0.36) & (v.abs() <= 1.0)) | ((v.abs() <= 0.36) & (u.abs() <= 1.0))
    if kind == "ring":
        return (r <= 0.98) & (r >= 0.58)
    if kind == "heart":
        x, y = u * 1.25, -v * 1.25 + 0.25
        return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    if kind == "crescent":
        return (r <= 0.98) & ((u - 0.45) ** 2 + v ** 2 > 0.75 ** 2)
    if kind == "diamond":                               # an elongated rhombus (not a square)
        return u.abs() / 1.0 + v.abs() / 0.62 <= 1.0
    if kind == "semicircle":                            # a half disc, its middle at the origin
        return (u * u + (v + 0.45) ** 2 <= 1.0) & (v >= -0.45)
    raise KeyError(kind)


def coverage(lab: torch.Tensor, classes: tuple[str, ...], size: int, g: torch.Generator,
              min_frac: float, max_frac: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(coverage (b, 1, H, W) in [0, 1], centre x (b,)) of one shape per image, placed at a
    random position, size and rotation; rasterised 2x supersampled for smooth edges."""
    b, ss = lab.shape[0], 2
    coords = (torch.arange(size * ss, dtype=torch.float32) + 0.5) / ss
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")                    # (H*ss, W*ss)
    radius = (min_frac + (max_frac - min_frac) * torch.rand(b, generator=g)) * size / 2
    cx = radius + torch.rand(b, generator=g) * (size - 2 * radius)
    cy = radius + torch.rand(b, generator=g) * (size - 2 * radius)
    theta = torch.rand(b, generator=g) * 2 * math.pi
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    dx = (gx[None] - cx[:, None, None]) / radius[:, None, None]
    dy = (gy[None] - cy[:, None, None]) / radius[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy                          # (b, H*ss, W*ss)
    fine = torch.zeros((b, size * ss, size * ss), dtype=torch.bool)
    for ci, kind in enumerate(classes):
        sel = lab == ci
        if sel.any():
            fine[sel] = _inside(kind, u[sel], v[sel])
    return F.avg_pool2d(fine[:, None].float(), ss), cx


def background(b: int, size: int, g: torch.Generator, texture: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(background (b, 3, H, W), its base colour (b, 3, 1, 1)): a base colour, a smooth colour
    field and a stripe texture, the last two scaled by ``texture``."""
    rand = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    pix = torch.arange(size, dtype=torch.float32)
    py, px = torch.meshgrid(pix, pix, indexing="ij")
    base = rand(b, 3, 1, 1) * 0.8 + 0.1
    field_ = F.interpolate(torch.randn(b, 3, 4, 4, generator=g) * 0.09, size=(size, size),
                           mode="bicubic", align_corners=False)
    freq = 0.15 + rand(b) * 0.5
    ang = rand(b) * math.pi
    phase = rand(b) * 2 * math.pi
    stripes = torch.sin(freq[:, None, None] * (px[None] * torch.cos(ang)[:, None, None]
                                               + py[None] * torch.sin(ang)[:, None, None])
                        * 2 * math.pi + phase[:, None, None])
    tex_col = (rand(b, 3, 1, 1) - 0.5) * 0.25
    return base + (field_ + stripes[:, None] * tex_col) * texture, base


def object_colour(base: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random colour per image, redrawn (up to 8 times) until it is far enough from the
    background's base colour to be seen."""
    obj = torch.rand(base.shape, generator=g)
    for _ in range(8):
        close = (obj - base).abs().sum(dim=1, keepdim=True) < 0.6
        if not close.any():
            break
        obj = torch.where(close, torch.rand(base.shape, generator=g), obj)
    return obj


def make_shapes(n: int, size: int = 32, seed: int = 0, *, classes: tuple[str, ...] = DEFAULT_SHAPES,
                min_frac: float = 0.5, max_frac: float = 0.75, noise: float = 0.06,
                texture: float = 1.0, chunk: int = 2048) -> ShapesData:
    """``n`` images of ``size`` x ``size`` pixels, one shape each, balanced classes in random
    order. The object's width is ``min_frac``..``max_frac`` of the image side. ``texture``
    scales the background's colour field, stripes and noise (0: plain backgrounds, an easy
    variant that a tiny network learns in seconds). The same seed always gives the same images."""
    if n < 1 or size < 8:
        raise DataError("Need at least one image of at least 8x8 pixels.")
    for c in classes:
        if c not in SHAPE_CLASSES:
            raise DataError(f"Unknown shape {c!r}; known: {', '.join(SHAPE_CLASSES)}.")
    g = torch.Generator().manual_seed(int(seed))
    labels = (torch.arange(n) % len(classes))[torch.randperm(n, generator=g)]
    images = torch.empty((n, 3, size, size), dtype=torch.uint8)
    masks = torch.empty((n, size, size), dtype=torch.bool)
    px = torch.arange(size, dtype=torch.float32)
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        b = lab.shape[0]
        cover, cx = coverage(lab, classes, size, g, min_frac, max_frac)      # (b, 1, H, W)
        bg, base = background(b, size, g, texture)
        shade = 1 + 0.15 * (px[None, None, None] - cx[:, None, None, None]) / size
        img = bg * (1 - cover) + object_colour(base, g) * shade * cover
        img = img + torch.randn(img.shape, generator=g) * (noise * max(texture, 0.3))
        images[start:start + b] = (img.clamp(0, 1) * 255).round().to(torch.uint8)
        masks[start:start + b] = cover[:, 0] >= 0.5
    return ShapesData(images, labels.to(torch.int64), masks, list(classes))


def _splits(cfg: dict[str, Any]) -> tuple[ShapesData, ShapesData]:
    """(training, validation) shapes of a data config."""
    size, seed = int(cfg["size"]), int(cfg["seed"])
    kinds = tuple(cfg.get("classes") or DEFAULT_SHAPES)
    tex = float(cfg["texture"])
    tr = make_shapes(int(cfg["n_train"]), size, seed, classes=kinds, texture=tex)
    va = make_shapes(int(cfg["n_val"]), size, seed + VAL_SEED_OFFSET, classes=kinds, texture=tex)
    return tr, va


def load_shapes(cfg: dict[str, Any]) -> Dataset:
    """The shapes :class:`Dataset` of a data config (the catalogue fills in its defaults)."""
    tr, va = _splits(cfg)
    return Dataset("shapes", tr.class_names, tr.images, tr.labels, va.images, va.labels,
                   val_masks=va.masks, source=f"generated, seed {int(cfg['seed'])}")


def load_shape_masks(cfg: dict[str, Any]) -> Dataset:
    """The shapes of a data config as a segmentation :class:`Dataset`: the same images as
    :func:`load_shapes`, with ``train_y`` / ``val_y`` the int64 (N, H, W) class masks
    (:meth:`ShapesData.class_masks`; class 0 the background)."""
    tr, va = _splits(cfg)
    return Dataset("shapes", [BACKGROUND, *tr.class_names], tr.images, tr.class_masks(), va.images,
                   va.class_masks(), val_masks=va.masks, source=f"generated, seed {int(cfg['seed'])}")
