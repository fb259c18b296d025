"""playground.data: the generated shapes, torchvision's folder layout, user zips, augmentation."""
from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile

import pytest
import torch
from PIL import Image

from playground import data
from playground.data import folders

torch.set_num_threads(1)


# -- generated shapes ------------------------------------------------------------------------
def test_shapes_types_and_determinism():
    a = data.make_shapes(96, size=32, seed=3)
    b = data.make_shapes(96, size=32, seed=3)
    c = data.make_shapes(96, size=32, seed=4)
    assert a.images.shape == (96, 3, 32, 32) and a.images.dtype == torch.uint8
    assert a.labels.shape == (96,) and a.labels.dtype == torch.int64
    assert a.masks.shape == (96, 32, 32) and a.masks.dtype == torch.bool
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, c.images)


def test_shapes_classes_balanced_sized_and_visible():
    d = data.make_shapes(400, size=32, seed=0)
    k = len(d.class_names)
    assert k >= 6 and len(set(d.class_names)) == k
    counts = torch.bincount(d.labels, minlength=k)
    assert counts.max() - counts.min() <= 1
    # Every object is there, 30-80% of the image side wide, and differs from its surroundings.
    rows = d.masks.any(dim=2)
    cols = d.masks.any(dim=1)
    for i in range(len(d)):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(cols[i]).flatten()
        side = max(int(ys[-1] - ys[0]), int(xs[-1] - xs[0])) + 1
        assert 0.3 * 32 <= side <= 0.8 * 32, (i, d.class_names[d.labels[i]], side)
    img = d.images.float()
    m = d.masks[:, None].float()
    ring = (torch.nn.functional.max_pool2d(m, 5, 1, 2) - m).clamp(0, 1)   # pixels just outside
    inside = (img * m).sum((2, 3)) / m.sum((2, 3))
    outside = (img * ring).sum((2, 3)) / ring.sum((2, 3)).clamp_min(1)
    contrast = (inside - outside).abs().sum(1)
    assert (contrast > 40).float().mean() > 0.95


def test_shapes_plain_variant_has_flat_background():
    d = data.make_shapes(32, seed=1, texture=0.0)
    bg = d.images.float().masked_fill(d.masks[:, None], float("nan"))
    spread = torch.stack([torch.from_numpy(__import__("numpy").nanstd(bg[i].numpy(), axis=(1, 2)))
                          for i in range(32)])
    assert spread.mean() < 12  # only a little noise left


def test_load_data_shapes_dataset():
    ds = data.load_data({"name": "shapes", "n_train": 64, "n_val": 32, "seed": 0, "classes": ["circle", "cross"]})
    assert ds.class_names == ["circle", "cross"] and ds.input_shape == (3, 32, 32)
    assert ds.val_masks is not None and ds.val_masks.shape == (32, 32, 32)
    assert len(ds.mean) == 3 and all(0 < s < 1 for s in ds.std)
    x = ds.train_x.float() / 255
    assert torch.allclose(torch.tensor(ds.mean), x.mean((0, 2, 3)), atol=1e-3)


# -- augmentation ----------------------------------------------------------------------------
def test_random_crop_is_a_shift_of_the_padded_image():
    x = torch.rand(6, 3, 12, 12)
    g = torch.Generator().manual_seed(0)
    out = data.augment(x, {"crop": 2}, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(6):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 12, dx:dx + 12])
                   for dy in range(5) for dx in range(5))


def test_flip_rotate_jitter_erase_keep_shape_and_range():
    x = torch.rand(16, 3, 16, 16)
    flipped = data.augment(x, {"hflip": True}, torch.Generator().manual_seed(1))
    same = [torch.equal(flipped[i], x[i]) for i in range(16)]
    mirrored = [torch.equal(flipped[i], x[i].flip(-1)) for i in range(16)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(mirrored) and any(same)
    aug = {"crop": 2, "hflip": True, "rotate": 30, "jitter": 0.3, "erase": 1.0}
    a = data.augment(x, aug, torch.Generator().manual_seed(2))
    b = data.augment(x, aug, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    erased = data.augment(x, {"erase": 1.0}, torch.Generator().manual_seed(3))
    assert ((erased != x).flatten(1).any(1)).all()


# -- torchvision's layout ----------------------------------------------------------------------
def _idx_images(imgs: torch.Tensor) -> bytes:
    n, h, w = imgs.shape
    return struct.pack(">IIII", 0x0803, n, h, w) + imgs.numpy().tobytes()


def _idx_labels(labels: torch.Tensor) -> bytes:
    return struct.pack(">II", 0x0801, len(labels)) + labels.to(torch.uint8).numpy().tobytes()


def test_mnist_read_from_a_folder_in_torchvisions_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    xt = torch.randint(0, 256, (20, 28, 28), generator=g, dtype=torch.uint8)
    yt = torch.arange(20) % 10
    xv = torch.randint(0, 256, (10, 28, 28), generator=g, dtype=torch.uint8)
    yv = torch.arange(10)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx_images(xt))
    (raw / "train-labels-idx1-ubyte").write_bytes(_idx_labels(yt))
    # the test split as the .gz files of the download: unpacked like torchvision would
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(xv)))
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_labels(yv)))
    ds = data.load_data({"name": "mnist", "root": str(tmp_path), "download": False})
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert torch.equal(ds.train_x[:, 0], xt) and torch.equal(ds.train_y, yt)
    assert torch.equal(ds.val_x[:, 0], xv) and torch.equal(ds.val_y, yv)


def test_missing_dataset_offline_says_where_to_put_files(tmp_path):
    with pytest.raises(data.DataUnavailable) as e:
        data.load_data({"name": "cifar10", "root": str(tmp_path), "download": False})
    assert str(tmp_path / "cifar-10-batches-py") in str(e.value)
    with pytest.raises(data.DataUnavailable) as e:
        data.load_data({"name": "fashion-mnist", "root": str(tmp_path), "download": False})
    assert str(tmp_path / "FashionMNIST" / "raw") in str(e.value)


# -- zips of class folders ---------------------------------------------------------------------
def _png(color, i: int = 0) -> bytes:
    """A plain colour; pixel (0, 0) set by ``i``, so that images of one class differ (the
    same bytes twice is a duplicate, skipped)."""
    img = Image.new("RGB", (20, 14), color)
    img.putpixel((0, 0), (i % 256, i // 256, 7))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _zip(entries: list[tuple[str, bytes]], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in entries:
            zf.writestr(name, payload)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


GOOD = [(f"pets/{c}/{i}.png", _png(col, i)) for c, col in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200)))
        for i in range(10)]


def test_good_zip_is_split_stratified():
    assert data.describe_zip(_zip(GOOD)) == {"cats": 10, "dogs": 10}
    ds = data.load_image_folder(_zip(GOOD), size=16, val_fraction=0.2, seed=0)
    assert ds.class_names == ["cats", "dogs"]
    assert ds.train_x.shape == (16, 3, 16, 16) and ds.val_x.shape == (4, 3, 16, 16)
    assert torch.bincount(ds.val_y).tolist() == [2, 2]
    # the colours survived decoding: cats are red, dogs blue
    red = ds.train_x[:, 0].float().mean((1, 2)) > ds.train_x[:, 2].float().mean((1, 2))
    assert torch.equal(red, ds.train_y == 0)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "bomb", "no_images", "one_class"])
def test_unsafe_or_useless_zips_are_refused(case):
    if case == "dotdot":
        z = _zip(GOOD + [("cats/../../evil.png", _png((0, 0, 0)))])
    elif case == "absolute":
        z = _zip(GOOD + [("/tmp/evil.png", _png((0, 0, 0)))])
    elif case == "symlink":
        z = _zip(GOOD, link="cats/link.png")
    elif case == "bomb":
        z = _zip(GOOD + [("cats/bomb.png", b"\0" * (8 << 20))])
    elif case == "no_images":
        z = _zip([("cats/readme.txt", b"hello"), ("dogs/notes.txt", b"x")])
    else:
        z = _zip([("cats/a.png", _png((1, 2, 3))), ("cats/b.png", _png((1, 2, 3)))])
    err = data.UnsafeArchive if case in ("dotdot", "absolute", "symlink", "bomb") else data.DataError
    with pytest.raises(err) as e:
        data.load_image_folder(z, size=16)
    msg = str(e.value)
    assert {"dotdot": "outside", "absolute": "outside", "symlink": "link", "bomb": "zip bomb",
            "no_images": "no images", "one_class": "fewer than two"}[case] in msg


def test_zip_total_size_limit(monkeypatch):
    monkeypatch.setattr(folders, "ZIP_MAX_TOTAL", 1000)   # the limit lives beside check_zip
    with pytest.raises(data.UnsafeArchive, match="unpacks to more than"):
        data.describe_zip(_zip(GOOD))


def test_folder_of_class_folders(tmp_path):
    for c, col in (("a", (255, 255, 255)), ("b", (0, 0, 0))):
        (tmp_path / c).mkdir()
        for i in range(5):
            (tmp_path / c / f"{i}.png").write_bytes(_png(col, i))
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    ds = data.load_data({"name": "folder", "path": str(tmp_path), "size": 8, "val_fraction": 0.2})
    assert ds.class_names == ["a", "b"] and len(ds.train_y) + len(ds.val_y) == 10
    assert ds.notes and "1 files" in ds.notes[0]


def test_pixel_bomb_in_a_zip_is_skipped_and_pil_is_left_alone():
    from tests.unit.test_images import png_header_only

    before = Image.MAX_IMAGE_PIXELS
    bombs = [("pets/cats/bomb.png", png_header_only(9000, 9000)),       # 81 MP: ours refuses
             ("pets/dogs/bigger.png", png_header_only(30000, 30000))]   # 900 MP: PIL refuses
    ds = data.load_image_folder(_zip(GOOD + bombs), size=16, val_fraction=0.2, seed=0)
    assert len(ds.train_y) + len(ds.val_y) == 20                          # the 20 good images
    assert Image.MAX_IMAGE_PIXELS == before


def test_decode_cache_is_bounded_least_recently_used_first(tmp_path, monkeypatch):
    """A class server decodes every zip its visitors train on: the decoded images kept on disk
    stay under MAX_CACHE_BYTES, the least recently used source going first, never the new one."""
    from playground.data import decoding
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "cache"))
    zips = []
    for k in range(3):
        z = tmp_path / f"set{k}.zip"
        z.write_bytes(_zip([(f"{c}/{i}.png", _png(col, 100 * k + i))
                            for c, col in (("a", (200, 30, 30)), ("b", (30, 30, 200))) for i in range(6)]))
        zips.append(z)
    root = tmp_path / "cache" / "own-data"
    data.load_data({"name": "zip", "path": str(zips[0])})
    one = decoding.evict_cache(limit=1 << 40)                         # nothing to evict yet
    assert one == [] and len(list(root.iterdir())) == 1
    per_source = sum(f.stat().st_size for f in next(root.iterdir()).iterdir())
    monkeypatch.setattr(decoding, "MAX_CACHE_BYTES", int(per_source * 2.5))
    first = next(root.iterdir())
    data.load_data({"name": "zip", "path": str(zips[1])})
    os.utime(first, (1, 1))                                           # set 0: least recently used
    data.load_data({"name": "zip", "path": str(zips[2])})             # the third source evicts it
    kept = list(root.iterdir())
    assert len(kept) == 2 and first not in kept
    assert sum(f.stat().st_size for d in kept for f in d.iterdir()) <= decoding.MAX_CACHE_BYTES
    ds = data.load_data({"name": "zip", "path": str(zips[0])})       # evicted: decoded again, same data
    assert ds.class_names == ["a", "b"] and len(list(root.iterdir())) == 2
