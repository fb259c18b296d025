"""Scenes: 1 to 4 of the shapes in one image, which may touch or overlap (a later shape is drawn
on top of an earlier one), each with its exact visible mask, its class and its box. The data of
detection (boxes from the masks with ``torchvision.ops.masks_to_boxes``) and of click to segment
(one instance's mask per click). Rasterised in batches like :mod:`.shapes`, deterministic by seed."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import masks_to_boxes

from .dataset import DataError, Dataset
from .shapes import DEFAULT_SHAPES, SHAPE_CLASSES, VAL_SEED_OFFSET, background, coverage, object_colour

MAX_SHAPES = 4            # the most shapes in one scene (the 1 to 4)
MIN_VISIBLE = 0.6         # an object keeps at least this share of its own pixels in view
PLACEMENT_TRIES = 6       # redraws of a shape that would hide too much of one below it


@dataclass
class SceneData:
    images: torch.Tensor        # uint8 (N, 3, H, W)
    instances: torch.Tensor     # uint8 (N, H, W): 0 background, k = the k-th object (1-based)
    labels: torch.Tensor        # int64 (N, MAX_SHAPES): each object's class, -1 where none
    boxes: torch.Tensor         # float32 (N, MAX_SHAPES, 4): x1, y1, x2, y2 in pixel edges, 0 where none
    class_names: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def counts(self) -> torch.Tensor:
        """int64 (N,): objects per scene."""
        return (self.labels >= 0).sum(1)

    def class_masks(self) -> torch.Tensor:
        """int64 (N, H, W) semantic masks: 0 background, 1 + class index on each object's pixels."""
        lab = torch.cat([torch.zeros_like(self.labels[:, :1]), self.labels + 1], 1).clamp(min=0)
        return torch.gather(lab, 1, self.instances.long().flatten(1)).view(self.instances.shape)

    def targets(self) -> torch.Tensor:
        """float32 (N, MAX_SHAPES, 5): ``class, x1, y1, x2, y2`` per object, class -1 in the
        padding rows; a fixed-size tensor, so batches index like any other targets."""
        return torch.cat([self.labels[..., None].float(), self.boxes], -1)


def _place(cover: torch.Tensor, visible: torch.Tensor, areas: torch.Tensor, k: int) -> torch.Tensor:
    """bool (b,): whether drawing ``cover`` (b, H, W) as object ``k`` on top leaves every earlier
    object at least MIN_VISIBLE of its own area in view."""
    if k == 0:
        return torch.ones(cover.shape[0], dtype=torch.bool)
    left = (visible[:, :k] & ~cover[:, None]).flatten(2).sum(-1)                 # (b, k)
    ok = (left >= MIN_VISIBLE * areas[:, :k]) | (areas[:, :k] == 0)
    return ok.all(1)


def make_scenes(n: int, size: int = 64, seed: int = 0, *, classes: tuple[str, ...] = DEFAULT_SHAPES,
                min_shapes: int = 1, max_shapes: int = MAX_SHAPES, min_frac: float = 0.22,
                max_frac: float = 0.42, noise: float = 0.06, texture: float = 1.0) -> SceneData:
    """``n`` scenes of ``size`` x ``size`` pixels with ``min_shapes``..``max_shapes`` shapes each
    (each shape's width ``min_frac``..``max_frac`` of the side, random class, colour, position and
    rotation). Shapes may touch and overlap; one that would hide more than 40% of a shape below
    it is redrawn elsewhere (up to PLACEMENT_TRIES times, then left out). The same seed always
    gives the same scenes."""
    if n < 1 or size < 16:
        raise DataError("Need at least one scene of at least 16x16 pixels.")
    if not 1 <= min_shapes <= max_shapes <= MAX_SHAPES:
        raise DataError(f"Scenes hold 1 to {MAX_SHAPES} shapes; asked {min_shapes} to {max_shapes}.")
    for c in classes:
        if c not in SHAPE_CLASSES:
            raise DataError(f"Unknown shape {c!r}; known: {', '.join(SHAPE_CLASSES)}.")
    g = torch.Generator().manual_seed(int(seed))
    want = torch.randint(min_shapes, max_shapes + 1, (n,), generator=g)
    bg, base = background(n, size, g, texture)
    img = bg
    visible = torch.zeros((n, MAX_SHAPES, size, size), dtype=torch.bool)
    areas = torch.zeros((n, MAX_SHAPES))
    labels = torch.full((n, MAX_SHAPES), -1, dtype=torch.int64)
    px = torch.arange(size, dtype=torch.float32)
    for k in range(max_shapes):
        todo = want > k
        for _ in range(PLACEMENT_TRIES):
            idx = todo.nonzero().flatten()
            if idx.numel() == 0:
                break
            lab = torch.randint(len(classes), (idx.numel(),), generator=g)
            cover, cx = coverage(lab, classes, size, g, min_frac, max_frac)       # (b, 1, H, W)
            inside = cover[:, 0] >= 0.5
            ok = _place(inside, visible[idx], areas[idx], k) & (inside.flatten(1).sum(1) > 0)
            idx, lab, cover, cx, inside = idx[ok], lab[ok], cover[ok], cx[ok], inside[ok]
            shade = 1 + 0.15 * (px[None, None, None] - cx[:, None, None, None]) / size
            colour = object_colour(base[idx], g) * shade
            img[idx] = img[idx] * (1 - cover) + colour * cover
            visible[idx, :k] &= ~inside[:, None]
            visible[idx, k] = inside
            areas[idx, k] = inside.flatten(1).sum(1).float()
            labels[idx, k] = lab
            todo[idx] = False
    img = img + torch.randn(img.shape, generator=g) * (noise * max(texture, 0.3))
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    # objects left out (no room after PLACEMENT_TRIES) leave a gap: close it, so objects are 1..count
    order = torch.argsort((labels < 0).to(torch.int8), dim=1, stable=True)
    labels = torch.gather(labels, 1, order)
    visible = torch.gather(visible, 1, order[:, :, None, None].expand_as(visible))
    instances = torch.zeros((n, size, size), dtype=torch.uint8)
    for k in range(MAX_SHAPES):
        instances[visible[:, k]] = k + 1
    boxes = torch.zeros((n, MAX_SHAPES, 4))
    present = visible.flatten(2).any(-1)
    if present.any():
        b = masks_to_boxes(visible[present])            # inclusive pixel indices
        b[:, 2:] += 1                                   # -> pixel edges: a 1-pixel object is 1 wide
        boxes[present] = b
    labels[~present] = -1
    return SceneData(images, instances, labels, boxes, list(classes))


def load_scene_boxes(cfg: dict) -> Dataset:
    """The scenes of a data config (``n_train``, ``n_val``, ``size``, ``seed``, ``texture``,
    ``classes``, ``min_shapes``, ``max_shapes``: the catalogue's ``scenes`` defaults) as a
    detection :class:`Dataset`: ``train_y`` / ``val_y`` the float32 (N, MAX_SHAPES, 5) targets
    ``class, x1, y1, x2, y2`` in pixels (:meth:`SceneData.targets`), class names the shapes.
    The validation scenes come from another seed: never the training scenes."""
    size, seed = int(cfg["size"]), int(cfg["seed"])
    kw = {"classes": tuple(cfg.get("classes") or DEFAULT_SHAPES), "texture": float(cfg["texture"]),
          "min_shapes": int(cfg["min_shapes"]), "max_shapes": int(cfg["max_shapes"])}
    tr = make_scenes(int(cfg["n_train"]), size, seed, **kw)
    va = make_scenes(int(cfg["n_val"]), size, seed + VAL_SEED_OFFSET, **kw)
    return Dataset("scenes", tr.class_names, tr.images, tr.targets(), va.images, va.targets(),
                   source=f"generated scenes of {kw['min_shapes']} to {kw['max_shapes']} shapes, seed {seed}")


__all__ = ["MAX_SHAPES", "SceneData", "load_scene_boxes", "make_scenes"]
