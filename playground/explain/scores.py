"""Explanations you can check: with an exact object mask (the generated shapes have one), every
attribution map gets a score, the share of its positive attribution that falls inside the
object (an energy-based pointing game, as Score-CAM's authors measure it). 1 = all of it on the
object; the object's share of the image is what a map spread evenly would get.

    >>> s = mask_share(heat, mask)     # heat: (H, W) >= 0, mask: (H, W) bool
    >>> s.inside, s.chance             # 0.81, 0.17
"""
from __future__ import annotations

from dataclasses import dataclass

from .arrays import as_tensor


@dataclass(frozen=True)
class MaskShare:
    inside: float     # share of the map's positive attribution inside the mask, 0..1
    chance: float     # the mask's share of the image: what an even map scores

    def text(self) -> str:
        return (f"{100 * self.inside:.0f} % of it on the shape "
                f"(the shape covers {100 * self.chance:.0f} % of the image)")


def mask_share(heat, mask) -> MaskShare:
    """How much of ``heat``'s positive part lies inside ``mask`` (both (H, W), tensors or numpy
    arrays). A map with no positive value scores 0."""
    h = as_tensor(heat).clamp(min=0)
    m = as_tensor(mask) > 0
    if h.shape != m.shape or h.dim() != 2:
        raise ValueError(f"The map {tuple(h.shape)} and the mask {tuple(m.shape)} must be the "
                         "same (H, W) size.")
    total = float(h.sum())
    inside = float(h[m].sum()) / total if total > 0 else 0.0
    return MaskShare(inside=inside, chance=float(m.float().mean()))
