"""Datasets for training runs, all ending up as uint8 tensors on the training device.

- ``make_shapes``: the offline default. Coloured shapes (8 classes, told apart by shape only:
  colour is random) at random positions, sizes and rotations on textured, noisy backgrounds,
  with each object's pixel mask kept so that an explanation can be scored against where the
  object really is. Rasterised in batches with torch (2x supersampled), deterministic by seed.
- torchvision's MNIST, FashionMNIST and CIFAR-10: read from a local folder in torchvision's own
  layout, downloaded (with progress) when missing and online; offline, :class:`DataUnavailable`
  says where to put the files.
- A zip (or a folder) of class folders, e.g. ``cats/`` and ``dogs/``: checked before anything is
  extracted (no ``..``, no absolute paths, no links, bounded sizes, images present), decoded once,
  split into train and validation.

``load_data(cfg)`` turns a JSON-able data config into a :class:`Dataset`. Augmentation
(``augment``) works on whole batches on the device: random crop with padding, horizontal flip,
rotation, colour jitter and random erasing, as tensor ops, never per-sample PIL.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import paths


# The default classes are all solid shapes, so "where the object is" (its mask) is also where its
# evidence is: a network's attention can be scored against the mask. Hollow shapes (ring,
# crescent) are available on request; their centre is background, and Grad-CAM's coarse map
# peaks there (tests/unit/test_explain.py measures both).
DEFAULT_SHAPES = ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "semicircle")
HOLLOW_SHAPES = ("ring", "crescent")
SHAPE_CLASSES = DEFAULT_SHAPES + HOLLOW_SHAPES
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

# Limits for user zips: generous for a class assignment, small enough to stop a zip bomb.
ZIP_MAX_FILES = 20_000
ZIP_MAX_TOTAL = 1 << 30          # 1 GiB uncompressed in all
ZIP_MAX_MEMBER = 50 << 20        # 50 MiB per file
ZIP_MAX_RATIO = 200              # uncompressed / compressed per file
MAX_IMAGE_PIXELS = 40_000_000


class DataError(ValueError):
    """Data that cannot be used; the message says why in plain words."""


class DataUnavailable(DataError):
    """A torchvision dataset that is neither in the local folder nor downloadable (offline)."""


class UnsafeArchive(DataError):
    """A zip refused before extraction: path traversal, links, or sizes of a zip bomb."""


# --------------------------------------------------------------------------------------------
# The generated shapes
# --------------------------------------------------------------------------------------------
@dataclass
class ShapesData:
    images: torch.Tensor        # uint8 (N, 3, H, W)
    labels: torch.Tensor        # int64 (N,)
    masks: torch.Tensor         # bool (N, H, W): the object's pixels
    class_names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


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
    k = len(classes)
    labels = torch.arange(n) % k
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.empty((n, 3, size, size), dtype=torch.uint8)
    masks = torch.empty((n, size, size), dtype=torch.bool)
    ss = 2  # supersampling for smooth edges
    coords = (torch.arange(size * ss, dtype=torch.float32) + 0.5) / ss
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    pix = torch.arange(size, dtype=torch.float32)
    py, px = torch.meshgrid(pix, pix, indexing="ij")
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        b = lab.shape[0]
        rand = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
        radius = (min_frac + (max_frac - min_frac) * rand(b)) * size / 2
        cx = radius + rand(b) * (size - 2 * radius)
        cy = radius + rand(b) * (size - 2 * radius)
        theta = rand(b) * 2 * math.pi
        cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        dx = (gx[None] - cx[:, None, None]) / radius[:, None, None]
        dy = (gy[None] - cy[:, None, None]) / radius[:, None, None]
        u = cos * dx + sin * dy
        v = -sin * dx + cos * dy
        fine = torch.zeros((b, size * ss, size * ss), dtype=torch.bool)
        for ci, kind in enumerate(classes):
            sel = lab == ci
            if sel.any():
                fine[sel] = _inside(kind, u[sel], v[sel])
        cover = F.avg_pool2d(fine[:, None].float(), ss)  # (b, 1, H, W) in [0, 1]
        mask = cover[:, 0] >= 0.5

        # Background: a base colour, a smooth colour field, a stripe texture, pixel noise.
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
        bg = base + (field_ + stripes[:, None] * tex_col) * texture

        # Object colour: random, but far enough from the background colour to be seen.
        obj = rand(b, 3, 1, 1)
        for _ in range(8):
            close = (obj - base).abs().sum(dim=1, keepdim=True) < 0.6
            if not close.any():
                break
            obj = torch.where(close, rand(b, 3, 1, 1), obj)
        shade = 1 + 0.15 * (px[None, None] - cx[:, None, None, None]) / size
        fg = obj * shade
        img = bg * (1 - cover) + fg * cover
        img = img + torch.randn(img.shape, generator=g) * (noise * max(texture, 0.3))
        images[start:start + b] = (img.clamp(0, 1) * 255).round().to(torch.uint8)
        masks[start:start + b] = mask
    return ShapesData(images, labels.to(torch.int64), masks, list(classes))


# --------------------------------------------------------------------------------------------
# The dataset the training code sees
# --------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    class_names: list[str]
    train_x: torch.Tensor             # uint8 (N, C, H, W)
    train_y: torch.Tensor             # int64 (N,)
    val_x: torch.Tensor
    val_y: torch.Tensor
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    val_masks: torch.Tensor | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.mean:
            self.mean, self.std = channel_stats(self.train_x)

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
                       self.source, list(self.notes))


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 (N, C, H, W) tensor, in [0, 1] units."""
    c = x.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    count = 0
    for i in range(0, x.shape[0], chunk):
        part = x[i:i + chunk].to("cpu", torch.float64) / 255
        s += part.sum(dim=(0, 2, 3))
        s2 += (part * part).sum(dim=(0, 2, 3))
        count += part.shape[0] * part.shape[2] * part.shape[3]
    mean = s / max(count, 1)
    std = (s2 / max(count, 1) - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(float(m), 4) for m in mean), tuple(round(max(float(v), 1e-3), 4) for v in std)


DATASETS = {
    "shapes": "Generated shapes (8 classes, offline, 32x32 colour)",
    "mnist": "MNIST handwritten digits (28x28 grey)",
    "fashion-mnist": "FashionMNIST clothing (28x28 grey)",
    "cifar10": "CIFAR-10 photos (32x32 colour)",
    "zip": "Your zip of class folders",
    "folder": "A folder of class folders",
}


def data_root() -> Path:
    """Where torchvision datasets live: ``$PLAYGROUND_DATA_DIR``, default ``<repo>/data-cache``
    (git-ignored)."""
    return paths.data_dir()


def load_data(cfg: dict[str, Any], progress: Callable[[str, float], None] | None = None) -> Dataset:
    """A :class:`Dataset` from a JSON-able config, e.g. ``{"name": "shapes", "n_train": 8000,
    "n_val": 2000, "size": 32, "seed": 0}``, ``{"name": "mnist", "root": "data"}``,
    ``{"name": "zip", "path": "cats_dogs.zip", "size": 64, "val_fraction": 0.2}``.
    ``limit_train`` / ``limit_val`` take the first images only (quick experiments)."""
    name = str(cfg.get("name", "shapes")).lower()
    if name == "shapes":
        size = int(cfg.get("size", 32))
        seed = int(cfg.get("seed", 0))
        kinds = tuple(cfg.get("classes") or DEFAULT_SHAPES)
        tex = float(cfg.get("texture", 1.0))
        tr = make_shapes(int(cfg.get("n_train", 8000)), size, seed, classes=kinds, texture=tex)
        va = make_shapes(int(cfg.get("n_val", 2000)), size, seed + 1_000_003, classes=kinds, texture=tex)
        ds = Dataset("shapes", tr.class_names, tr.images, tr.labels, va.images, va.labels,
                     val_masks=va.masks, source=f"generated, seed {seed}")
    elif name in ("mnist", "fashion-mnist", "fashionmnist", "cifar10", "cifar-10"):
        ds = load_torchvision(name, cfg.get("root"), download=bool(cfg.get("download", True)),
                              progress=progress)
    elif name in ("zip", "folder"):
        path = cfg.get("path")
        if not path:
            raise DataError("Give the path of the zip or folder of class folders.")
        ds = load_image_folder(path, size=int(cfg.get("size", 64)),
                               val_fraction=float(cfg.get("val_fraction", 0.2)),
                               seed=int(cfg.get("seed", 0)), progress=progress)
    else:
        raise DataError(f"Unknown dataset {name!r}. Known: {', '.join(DATASETS)}.")
    lt, lv = cfg.get("limit_train"), cfg.get("limit_val")
    if lt or lv:
        ds = Dataset(ds.name, ds.class_names, ds.train_x[:lt or None], ds.train_y[:lt or None],
                     ds.val_x[:lv or None], ds.val_y[:lv or None], ds.mean, ds.std,
                     None if ds.val_masks is None else ds.val_masks[:lv or None], ds.source, ds.notes)
    return ds


# --------------------------------------------------------------------------------------------
# torchvision datasets
# --------------------------------------------------------------------------------------------
_TV = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "FashionMNIST"),
       "fashionmnist": ("FashionMNIST", "FashionMNIST"), "cifar10": ("CIFAR10", "cifar-10-batches-py"),
       "cifar-10": ("CIFAR10", "cifar-10-batches-py")}


def expected_location(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder torchvision reads ``name`` from (its own layout)."""
    cls, folder = _TV[name.lower()]
    root = Path(root) if root else data_root()
    return root / folder / "raw" if cls != "CIFAR10" else root / folder


def _gunzip_raw(raw: Path) -> None:
    """MNIST files placed as the .gz downloads: unpack them next to themselves, as torchvision's
    own download would."""
    if raw.is_dir():
        for gz in raw.glob("*-ubyte.gz"):
            out = gz.with_suffix("")
            if not out.exists():
                with gzip.open(gz, "rb") as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def load_torchvision(name: str, root: str | os.PathLike | None = None, *, download: bool = True,
                     progress: Callable[[str, float], None] | None = None) -> Dataset:
    """MNIST / FashionMNIST / CIFAR-10 (train split for training, test split for validation)
    as uint8 tensors. Reads ``root`` in torchvision's layout; downloads when missing and
    ``download``; raises :class:`DataUnavailable` with the folder to fill when it cannot."""
    import torchvision.datasets as tvd

    key = name.lower()
    if key not in _TV:
        raise DataError(f"Unknown torchvision dataset {name!r}.")
    cls_name, _ = _TV[key]
    cls = getattr(tvd, cls_name)
    root = Path(root) if root else data_root()
    if cls_name != "CIFAR10":
        _gunzip_raw(expected_location(key, root))
    splits = {}
    for train in (True, False):
        try:
            splits[train] = cls(str(root), train=train, download=False)
        except (RuntimeError, FileNotFoundError, OSError):
            if not download:
                raise DataUnavailable(_offline_message(key, root)) from None
            if progress:
                progress(f"Downloading {cls_name} to {root} ...", 0.0)
            try:
                splits[train] = cls(str(root), train=train, download=True)
            except Exception as e:  # noqa: BLE001 - URLError, socket errors, checksum errors
                raise DataUnavailable(_offline_message(key, root) + f" (download failed: {e})") from e
    tr, va = splits[True], splits[False]

    def to_tensor(ds) -> tuple[torch.Tensor, torch.Tensor]:
        data = ds.data
        x = torch.as_tensor(data)
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x.contiguous().to(torch.uint8), torch.as_tensor(ds.targets, dtype=torch.int64)

    (xt, yt), (xv, yv) = to_tensor(tr), to_tensor(va)
    return Dataset(key.replace("cifar-10", "cifar10").replace("fashionmnist", "fashion-mnist"),
                   list(tr.classes), xt, yt, xv, yv, source=f"torchvision {cls_name} from {root}")


def _offline_message(key: str, root: Path) -> str:
    cls, _ = _TV[key]
    where = expected_location(key, root)
    if cls == "CIFAR10":
        files = "the extracted cifar-10-batches-py folder (data_batch_1..5, test_batch, batches.meta)"
    else:
        files = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                 "t10k-labels-idx1-ubyte (the .gz files work too)")
    return (f"{cls} is not on this computer and could not be downloaded (no internet?). "
            f"Put {files} in {where}, or set PLAYGROUND_DATA_DIR to a folder that has them.")


# --------------------------------------------------------------------------------------------
# Zips and folders of class folders
# --------------------------------------------------------------------------------------------
def check_zip(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The image members of a zip of class folders, after refusing anything unsafe."""
    infos = zf.infolist()
    if len(infos) > ZIP_MAX_FILES:
        raise UnsafeArchive(f"The zip holds {len(infos):,} entries; the limit is {ZIP_MAX_FILES:,}.")
    total = 0
    images = []
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise UnsafeArchive(f"Refused: the zip contains the path {name!r}, which points outside "
                                "the folder it would be extracted to.")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"Refused: {name!r} in the zip is a symbolic link.")
        if info.file_size > ZIP_MAX_MEMBER:
            raise UnsafeArchive(f"Refused: {name!r} unpacks to {info.file_size / 2**20:,.0f} MB; "
                                f"the limit per file is {ZIP_MAX_MEMBER >> 20} MB.")
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO and info.file_size > 1 << 20:
            raise UnsafeArchive(f"Refused: {name!r} is compressed {info.file_size / info.compress_size:,.0f}"
                                " times, the mark of a zip bomb.")
        total += info.file_size
        if total > ZIP_MAX_TOTAL:
            raise UnsafeArchive(f"Refused: the zip unpacks to more than {ZIP_MAX_TOTAL >> 30} GB.")
        if info.is_dir() or parts[-1].startswith(".") or "__MACOSX" in parts:
            continue
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            images.append(info)
    if not images:
        raise DataError("The zip holds no images (.jpg, .png, ...). Put one folder per class in "
                        "it, e.g. cats/ and dogs/, with the images inside.")
    return images


def describe_zip(source: str | os.PathLike | bytes) -> dict[str, int]:
    """Images per class folder of a zip, after the safety checks (nothing is extracted)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"This is not a readable zip file ({e}).") from e
    counts: dict[str, int] = {}
    with zf:
        for info in check_zip(zf):
            cls = _class_of(info.filename.replace("\\", "/").split("/"))
            if cls:
                counts[cls] = counts.get(cls, 0) + 1
    if len(counts) < 2:
        raise DataError("Found images for fewer than two classes. Put one folder per class in the "
                        f"zip, e.g. cats/ and dogs/ (found: {', '.join(counts) or 'none'}).")
    return dict(sorted(counts.items()))


def _decode(data: bytes, size: int) -> torch.Tensor:
    """RGB uint8 (3, size, size) from image bytes: centre crop to a square, resize."""
    import warnings

    from PIL import Image

    # Our own pixel limit, checked on the header before decoding; PIL's global limit is left
    # alone (it is process-wide state other code relies on). Beyond twice PIL's own limit, open()
    # raises DecompressionBombError, which the caller reports as a skipped image.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data))
    with im:
        if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
            raise DataError(f"{im.size[0]:,} x {im.size[1]:,} pixels is more than the "
                            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixel limit.")
        im.draft("RGB", (size * 2, size * 2))
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((size, size), Image.Resampling.BILINEAR)
        return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1).clone()


def _class_of(parts: list[str]) -> str | None:
    """The class folder of a member path: the last folder above the file; a single top folder
    that wraps all class folders is handled by the caller."""
    return parts[-2] if len(parts) >= 2 else None


def load_image_folder(path: str | os.PathLike | bytes, *, size: int = 64, val_fraction: float = 0.2,
                      seed: int = 0, progress: Callable[[str, float], None] | None = None) -> Dataset:
    """A dataset from a zip (path or bytes) or a folder holding one folder per class."""
    items: list[tuple[str, Callable[[], bytes]]] = []
    label = "folder"
    if isinstance(path, (bytes, bytearray)) or (Path(path).is_file() and zipfile.is_zipfile(path)):
        try:
            zf = zipfile.ZipFile(io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path)
        except zipfile.BadZipFile as e:
            raise DataError(f"This is not a readable zip file ({e}).") from e
        for info in check_zip(zf):
            parts = info.filename.replace("\\", "/").split("/")
            cls = _class_of(parts)
            if cls:
                items.append((cls, lambda i=info: zf.read(i)))
        label = "zip" if isinstance(path, (bytes, bytearray)) else Path(path).name
    elif Path(path).is_dir():
        base = Path(path)
        for f in sorted(base.rglob("*")):
            if f.is_symlink():
                continue
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."):
                items.append((f.parent.name, lambda f=f: f.read_bytes()))
        label = base.name
    else:
        raise DataError(f"{path} is neither a zip file nor a folder.")
    classes = sorted({c for c, _ in items})
    if len(classes) < 2:
        raise DataError("Found images for fewer than two classes. Put one folder per class in the "
                        f"zip, e.g. cats/ and dogs/ (found: {', '.join(classes) or 'none'}).")
    xs, ys, bad = [], [], []
    for i, (cls, read) in enumerate(items):
        try:
            xs.append(_decode(read(), size))
            ys.append(classes.index(cls))
        except Exception as e:  # noqa: BLE001 - a broken image is skipped and reported
            bad.append(f"{cls}: {type(e).__name__}")
        if progress and i % 50 == 0:
            progress(f"Decoding images {i:,}/{len(items):,}", i / len(items))
    if len(xs) < 4:
        raise DataError("Fewer than 4 images could be decoded: " + "; ".join(bad[:5]))
    x = torch.stack(xs)
    y = torch.tensor(ys, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for c in range(len(classes)):  # stratified split: every class in both parts
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        nv = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val_idx.append(idx[:nv])
        train_idx.append(idx[nv:])
    ti, vi = torch.cat(train_idx), torch.cat(val_idx)
    ti = ti[torch.randperm(len(ti), generator=g)]
    notes = [f"{len(bad)} files could not be read as images and were skipped."] if bad else []
    return Dataset(label, classes, x[ti], y[ti], x[vi], y[vi], source=f"{len(xs):,} images from {label}",
                   notes=notes)


# --------------------------------------------------------------------------------------------
# Augmentation on whole batches, on the device
# --------------------------------------------------------------------------------------------
AUGMENT_DEFAULTS = {"crop": 0, "hflip": False, "rotate": 0.0, "jitter": 0.0, "erase": 0.0}


def augment(x: torch.Tensor, aug: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
    """Random augmentations of a float batch (B, C, H, W) in [0, 1], on its own device.

    ``crop``: pad by this many pixels (reflect) and crop back at a random offset;
    ``hflip``: mirror half of the images; ``rotate``: random angle in +-degrees;
    ``jitter``: brightness/contrast/saturation strength (0.2 = +-20%);
    ``erase``: probability of blanking a random rectangle (random erasing)."""
    b, c, h, w = x.shape
    dev = x.device

    def rnd(*shape):
        return torch.rand(*shape, device=dev, generator=generator)

    pad = int(aug.get("crop") or 0)
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad), mode="reflect" if pad < min(h, w) else "replicate")
        ox = (rnd(b) * (2 * pad + 1)).long().clamp_max(2 * pad)
        oy = (rnd(b) * (2 * pad + 1)).long().clamp_max(2 * pad)
        rows = (oy[:, None] + torch.arange(h, device=dev)[None])          # (b, h)
        cols = (ox[:, None] + torch.arange(w, device=dev)[None])          # (b, w)
        xp = torch.gather(xp, 2, rows[:, None, :, None].expand(b, c, h, xp.shape[3]))
        x = torch.gather(xp, 3, cols[:, None, None, :].expand(b, c, h, w))
    if aug.get("hflip"):
        flip = rnd(b) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    deg = float(aug.get("rotate") or 0)
    if deg > 0:
        ang = (rnd(b) * 2 - 1) * math.radians(deg)
        cos, sin = torch.cos(ang), torch.sin(ang)
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    j = float(aug.get("jitter") or 0)
    if j > 0:
        bright = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
        contrast = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
        x = x * bright
        if c == 3:
            sat = 1 + (rnd(b, 1, 1, 1) * 2 - 1) * j
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            x = (x - grey) * sat + grey
        x = x.clamp(0, 1)
    p = float(aug.get("erase") or 0)
    if p > 0:
        area = 0.02 + rnd(b) * 0.2
        aspect = torch.exp((rnd(b) * 2 - 1) * math.log(3))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
        y0 = rnd(b) * (h - eh)
        x0 = rnd(b) * (w - ew)
        yy = torch.arange(h, device=dev)[None, :, None]
        xx = torch.arange(w, device=dev)[None, None, :]
        box = ((yy >= y0[:, None, None]) & (yy < (y0 + eh)[:, None, None])
               & (xx >= x0[:, None, None]) & (xx < (x0 + ew)[:, None, None]))
        box = box & (rnd(b) < p)[:, None, None]
        x = torch.where(box[:, None], rnd(b, c, 1, 1).expand_as(x), x)
    return x


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.as_tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def prepare(x_uint8: torch.Tensor, mean, std, aug: dict[str, Any] | None = None,
            generator: torch.Generator | None = None, *, channels: int | None = None,
            size: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 batch -> float, optionally augmented, resized / channel-matched, normalized."""
    x = x_uint8.float().div_(255)
    if channels and x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    if size and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if aug and any(aug.get(k) for k in AUGMENT_DEFAULTS):
        x = augment(x, aug, generator)
    return normalize(x, mean, std)
