"""The kernel sandbox: a hand-made 3 x 3 kernel applied to a photo as a conv layer applies its
filters, and the model's first-layer filter most like it. Tensors or numpy arrays in, in kind out."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .arrays import as_tensor, like

KERNELS: dict[str, list[list[float]]] = {
    "Horizontal edges (course)": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "Vertical edges (course)": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Blur (box)": [[1 / 9] * 3, [1 / 9] * 3, [1 / 9] * 3],
    "Gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "Sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


def apply_kernel(gray, kernel):
    """Cross-correlate a (H, W) gray image with a (k, k) kernel, as ``nn.Conv2d`` does, with
    zero padding that keeps the size."""
    k = as_tensor(kernel)
    if k.dim() != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"The kernel must be square with an odd size, got {tuple(k.shape)}.")
    if not torch.isfinite(k).all():
        raise ValueError("The kernel holds a value that is not a number.")
    g = as_tensor(gray)
    return like(F.conv2d(g[None, None], k[None, None], padding=k.shape[0] // 2)[0, 0], gray)


def most_similar_filter(weight, kernel) -> tuple[int, float, torch.Tensor]:
    """The first-layer filter most like ``kernel`` (k, k) by cosine similarity.

    Each filter (out, C, kh, kw) is summed over its input channels (what it does to a gray
    image) and, if its size differs, resized to the kernel's with adaptive average pooling.
    Returns (filter index, cosine similarity in [-1, 1], the compared (k, k) filter, of the
    kind ``weight`` is).
    """
    k = as_tensor(kernel)
    w = as_tensor(weight).sum(1)                              # (out, kh, kw)
    if w.shape[-2:] != k.shape:
        w = F.adaptive_avg_pool2d(w[:, None], tuple(k.shape))[:, 0]
    sims = F.cosine_similarity(w.flatten(1), k.flatten()[None], dim=1, eps=1e-12)
    i = int(torch.argmax(sims))
    return i, float(sims[i]), like(w[i], weight)
