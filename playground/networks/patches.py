"""A vision transformer's first step, shown as what it is: the image cut into patches.

torchvision's ``VisionTransformer`` embeds the image with ``conv_proj``, a ``Conv2d`` whose
kernel = stride = patch size: each output position sees exactly one patch and no two patches
overlap, so the conv is one linear map applied to every flattened patch (unfold + linear,
:func:`patches_as_linear`; tests/unit/test_vit.py checks they agree with the same weights).

    >>> f = vit_facts({"torchvision": "vit_b_16"})     # or a VisionTransformer module
    >>> f.patch, f.tokens(224), f.total_macs(224)        # 16, 197 (196 patches + class token), ...
    >>> f.cost_curve([32, 64, 128, 224, 384])            # attention's cost grows with tokens^2

:meth:`ViTFacts.total_macs` counts what the inspector's tracer counts (convolutions and matrix
products, torchvision's convention), from the model's own numbers: it equals
:func:`playground.summary.summarize`'s total at every image size (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .build import build
from .schema import SpecError


@dataclass(frozen=True)
class ViTFacts:
    """A ViT's sizes, read from the module."""

    patch: int            # patch side, pixels (= conv_proj's kernel and stride)
    channels: int         # input channels
    dim: int              # one token's length (hidden_dim)
    image: int            # the side the model was built for (torchvision checks it)
    layers: int           # encoder blocks
    heads: int            # attention heads per block
    mlp_dim: int          # the MLP's hidden width
    classes: int          # the head's outputs

    def grid(self, side: int | None = None) -> int:
        """Patches along one side of a ``side`` x ``side`` image (default: its own size)."""
        return (side or self.image) // self.patch

    def tokens(self, side: int | None = None) -> int:
        """Tokens the encoder sees: one per patch, plus the class token."""
        return self.grid(side) ** 2 + 1

    @property
    def patch_values(self) -> int:
        """Numbers in one flattened patch: channels x patch x patch."""
        return self.channels * self.patch * self.patch

    def equation(self) -> str:
        """The embedding as a formula (LaTeX), with this model's sizes."""
        g = self.grid()
        return (r"\begin{gathered}z_i = W\,\mathrm{flatten}(x_i) + b,\quad "
                rf"i = 1, \dots, {g * g}\\ "
                rf"x_i \in \mathbb{{R}}^{{{self.channels}\times {self.patch}\times {self.patch}}},\quad "
                rf"W \in \mathbb{{R}}^{{{self.dim}\times {self.patch_values}}},\quad "
                rf"b \in \mathbb{{R}}^{{{self.dim}}}\end{{gathered}}")

    def attention_macs(self, side: int | None = None) -> int:
        """One block's attention products: Q K^T and (weights) V, tokens^2 x dim each."""
        return 2 * self.tokens(side) ** 2 * self.dim

    def linear_macs(self, side: int | None = None) -> int:
        """One block's projections (Q, K, V, out: 4 dim^2) and MLP (2 dim mlp_dim) per token."""
        return self.tokens(side) * (4 * self.dim ** 2 + 2 * self.dim * self.mlp_dim)

    def total_macs(self, side: int | None = None) -> int:
        """The whole network for one ``side`` x ``side`` image: patch embedding, every block,
        the head (on the class token)."""
        embed = self.grid(side) ** 2 * self.dim * self.patch_values
        blocks = self.layers * (self.attention_macs(side) + self.linear_macs(side))
        return embed + blocks + self.dim * self.classes

    def cost_curve(self, sides: list[int]) -> list[dict]:
        """Per image side: tokens, and one block's MACs split into attention and the rest."""
        return [{"side": s, "tokens": self.tokens(s), "attention": self.attention_macs(s),
                 "linear": self.linear_macs(s), "total": self.total_macs(s)}
                for s in sides if s >= self.patch]

    def sides(self, largest: int = 1024) -> list[int]:
        """Image sides for :meth:`cost_curve`: multiples of the patch up to ``largest``."""
        step = max(self.patch, largest // 32 // self.patch * self.patch)
        return sorted({*range(self.patch, largest + 1, step), self.image})


def is_vit(model: nn.Module) -> bool:
    """Whether ``model`` is a torchvision ``VisionTransformer`` (pretrained, or built small)."""
    from torchvision.models import VisionTransformer

    return isinstance(model, VisionTransformer)


def vit_facts(model: nn.Module | dict) -> ViTFacts | None:
    """The patch embedding's and encoder's sizes of a ViT module or spec; None for other
    networks (CNNs, Swin: its patches are merged stage by stage, its attention windowed)."""
    if isinstance(model, dict):
        if "torchvision" not in model:
            return None
        try:
            with torch.device("meta"):
                model = build({**model, "weights": None})
        except SpecError:
            return None
    if not is_vit(model):
        return None
    block = model.encoder.layers[0]
    return ViTFacts(patch=model.patch_size, channels=model.conv_proj.in_channels,
                    dim=model.hidden_dim, image=model.image_size, layers=len(model.encoder.layers),
                    heads=block.num_heads, mlp_dim=model.mlp_dim,
                    classes=model.heads[-1].out_features)


def patches_as_linear(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv``'s output computed the other way: cut ``x`` (B, C, H, W) into non-overlapping
    patches (``unfold``), flatten each, apply one linear map with the conv's own weights.
    Returns (B, patches, out_channels), the tokens in row-major patch order. ``conv`` must have
    kernel = stride and no padding or dilation (a patch embedding)."""
    k, s = tuple(conv.kernel_size), tuple(conv.stride)
    if k != s or tuple(conv.padding) != (0, 0) or tuple(conv.dilation) != (1, 1) or conv.groups != 1:
        raise SpecError(f"Not a patch embedding: kernel {k}, stride {s}, padding {conv.padding} "
                        "(a patch embedding has kernel = stride, no padding).")
    cols = F.unfold(x, kernel_size=k, stride=s)                  # (B, C*kh*kw, patches)
    return F.linear(cols.transpose(1, 2), conv.weight.flatten(1), conv.bias)
