"""The dataset the training code sees: uint8 image tensors and int64 labels, a train and a
validation split, and the per-channel statistics that normalize them. Every loader in this
package ends in a :class:`Dataset`; its errors say in plain words what is wrong with the data."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


class DataError(ValueError):
    """Data that cannot be used; the message says why in plain words."""


class DataUnavailable(DataError):
    """A torchvision dataset that is neither in the local folder nor downloadable (offline)."""


class UnsafeArchive(DataError):
    """A zip refused before extraction: path traversal, links, or sizes of a zip bomb."""


STATS_CHUNK_BYTES = 64 << 20      # float32 working memory of mean_std, at most (one image more)


def mean_std(x: torch.Tensor, chunk: int | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 (N, C, H, W) tensor, in [0, 1] units: float32 chunks
    of at most ``STATS_CHUNK_BYTES`` (a chunk's sum is pairwise in torch, exact enough), the chunk
    sums added in float64, so no float copy of the whole data is ever made (50,000 CIFAR images
    would be 600 MB; 2,048 images at 224 px were 1.2 GB a chunk)."""
    c = x.shape[1]
    if chunk is None:
        chunk = max(1, STATS_CHUNK_BYTES // max(1, 4 * x[0].numel())) if len(x) else 1
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    count = 0
    for i in range(0, x.shape[0], chunk):
        part = x[i:i + chunk].to("cpu", torch.float32).div_(255)              # (n, C, H, W)
        s += part.sum(dim=(0, 2, 3)).double()
        s2 += part.square_().sum(dim=(0, 2, 3)).double()
        count += part.shape[0] * part.shape[2] * part.shape[3]
        del part        # else the next chunk is made while this one lives: two chunks at the peak
    mean = s / max(count, 1)
    std = (s2 / max(count, 1) - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(float(m), 4) for m in mean), tuple(round(max(float(v), 1e-3), 4) for v in std)


@dataclass
class Dataset:
    name: str
    class_names: list[str]
    train_x: torch.Tensor             # uint8 (N, C, H, W)
    train_y: torch.Tensor             # int64 (N,)
    val_x: torch.Tensor               # uint8 (M, C, H, W)
    val_y: torch.Tensor               # int64 (M,)
    mean: tuple[float, ...] = ()      # per channel, [0, 1] units; from train_x when not given
    std: tuple[float, ...] = ()
    val_masks: torch.Tensor | None = None   # bool (M, H, W): the object's pixels (shapes only)
    source: str = ""
    notes: list[str] = field(default_factory=list)
    test_x: torch.Tensor | None = None      # uint8 (T, C, H, W): a held-out test/ split, if any
    test_y: torch.Tensor | None = None      # int64 (T,); evaluated once, at the end of a run

    def __post_init__(self) -> None:
        if not self.mean:
            self.mean, self.std = mean_std(self.train_x)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device | str) -> "Dataset":
        """The same data with the tensors on ``device`` (decoded once, batched there)."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Dataset(self.name, self.class_names, mv(self.train_x), mv(self.train_y),
                       mv(self.val_x), mv(self.val_y), self.mean, self.std, mv(self.val_masks),
                       self.source, list(self.notes), mv(self.test_x), mv(self.test_y))

    @property
    def has_test(self) -> bool:
        return self.test_x is not None and len(self.test_x) > 0

    def head(self, n_train: int | None, n_val: int | None) -> "Dataset":
        """The first ``n_train`` / ``n_val`` images only (None: all), statistics unchanged."""
        return Dataset(self.name, self.class_names, self.train_x[:n_train], self.train_y[:n_train],
                       self.val_x[:n_val], self.val_y[:n_val], self.mean, self.std,
                       None if self.val_masks is None else self.val_masks[:n_val], self.source,
                       list(self.notes), self.test_x, self.test_y)
