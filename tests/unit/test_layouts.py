"""A learner's own data: the layouts understood (ImageFolder semantics, kept splits), what is
skipped and why, the input shape and statistics inferred from the data, the proposed network,
the decode cache, and each bad input's message. Images are made here with PIL (no files needed)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from playground import data, images
from playground.data import decoding

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Every test decodes into its own cache folder."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data-cache"))


def glyph(cls: int, i: int, size=(28, 28), mode="L") -> bytes:
    """A digit-like PNG: class 0 a ring, 1 a bar, 2 a cross; jittered by ``i``."""
    rng = np.random.default_rng(cls * 1000 + i)
    w, h = size
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    ox, oy = rng.integers(-2, 3, 2)
    cx, cy, r = w // 2 + ox, h // 2 + oy, min(w, h) // 3
    if cls == 0:
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=3)
    elif cls == 1:
        d.line([cx, cy - r, cx, cy + r], fill=255, width=3)
    else:
        d.line([cx - r, cy - r, cx + r, cy + r], fill=255, width=3)
        d.line([cx - r, cy + r, cx + r, cy - r], fill=255, width=3)
    noise = rng.integers(0, 24, (h, w), dtype=np.uint8)         # every image different
    img = Image.fromarray(np.maximum(np.asarray(img), noise)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in entries:
            zf.writestr(name, payload)
    return buf.getvalue()


def classes_zip(n=6, prefix="", classes=(0, 1, 2), start=0, **kw) -> list[tuple[str, bytes]]:
    return [(f"{prefix}c{c}/{i}.png", glyph(c, start + i, **kw)) for c in classes for i in range(n)]


# -- layouts -----------------------------------------------------------------------------------
def test_class_is_the_first_folder_and_one_wrapper_is_skipped():
    entries = [(f"my_pets/cats/{sub}/{i}.png", glyph(0, i + 10 * j))
               for j, sub in enumerate(("indoor", "outdoor")) for i in range(3)]
    entries += [(f"my_pets/dogs/{i}.png", glyph(1, i)) for i in range(4)]
    insp = data.inspect_source(make_zip(entries))
    assert insp.layout == "classes" and insp.classes == ["cats", "dogs"]
    assert insp.counts == {"train": {"cats": 6, "dogs": 4}}
    assert "my_pets/" in insp.description


def test_train_and_val_are_kept_as_given():
    entries = classes_zip(8, "train/") + classes_zip(3, "val/", start=100)
    insp = data.inspect_source(make_zip(entries))
    assert insp.layout == "split" and insp.counts["val"] == {"c0": 3, "c1": 3, "c2": 3}
    assert "kept as given" in insp.description
    ds = data.load_data({"name": "zip", "path": make_zip(entries)})
    assert len(ds.train_y) == 24 and len(ds.val_y) == 9 and ds.test_x is None
    # the validation images are exactly those of val/ (drawn apart from train/'s here)
    val = [(f"val/c{c}/{i}.png", glyph(c, 100 + i)) for c in (0, 1, 2) for i in range(3)]
    ds = data.load_data({"name": "zip", "path": make_zip(classes_zip(8, "train/") + val)})
    want = sorted(np.asarray(Image.open(io.BytesIO(b))).tobytes() for _, b in val)
    assert sorted(x[0].numpy().tobytes() for x in ds.val_x) == want


def test_train_valid_test_with_a_wrapper():
    entries = (classes_zip(6, "export/train/") + classes_zip(2, "export/valid/", start=100)
               + [(f"export/test/c{c}/t{i}.png", glyph(c, 50 + i)) for c in (0, 1, 2) for i in range(4)])
    insp = data.inspect_source(make_zip(entries))
    assert set(insp.counts) == {"train", "val", "test"} and sum(insp.counts["test"].values()) == 12
    assert "test/ held out" in insp.description
    ds = data.load_data({"name": "zip", "path": make_zip(entries)})
    assert ds.has_test and ds.test_x.shape == (12, 1, 28, 28)
    assert sorted(ds.test_y.tolist()) == [0] * 4 + [1] * 4 + [2] * 4


def test_train_and_test_only_draws_validation_from_train():
    entries = classes_zip(10, "train/") + [(f"test/c{c}/t{i}.png", glyph(c, 70 + i))
                                           for c in (0, 1, 2) for i in range(2)]
    ds = data.load_data({"name": "zip", "path": make_zip(entries), "val_fraction": 0.2})
    assert torch.bincount(ds.val_y).tolist() == [2, 2, 2] and len(ds.train_y) == 24 and len(ds.test_y) == 6


@pytest.mark.parametrize("entries, words", [
    ([(f"{i}.png", glyph(0, i)) for i in range(4)], "not inside class folders"),
    ([(f"val/c{c}/{i}.png", glyph(c, i)) for c in (0, 1) for i in range(3)], "no train/ folder"),
    (classes_zip(3, classes=(0,)), "fewer than two classes"),
    ([("c0/readme.txt", b"hi"), ("c1/notes.md", b"x")], "no images"),
])
def test_unreadable_layouts_name_the_expected_ones(entries, words):
    with pytest.raises(data.DataError) as e:
        data.inspect_source(make_zip(entries))
    msg = str(e.value)
    assert words in msg.lower() or words in msg
    assert "One folder per class" in msg and "train/cats/1.jpg" in msg and "val/dogs/4.jpg" in msg


def test_too_many_images_says_the_limit_and_what_to_do():
    png = glyph(0, 0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(50_000):
            zf.writestr(f"c{i % 2}/{i}.png", png)
    with pytest.raises(data.DataError) as e:
        data.load_data({"name": "zip", "path": buf.getvalue()})
    assert "50,000 images" in str(e.value) and "20,000" in str(e.value) and "smaller" in str(e.value)


def test_duplicates_corrupt_and_unsupported_are_skipped_and_counted():
    entries = classes_zip(5) + [
        ("c0/copy.png", glyph(0, 1)),                        # the same bytes as c0/1.png
        ("c1/broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
        ("c1/truncated.png", glyph(1, 3)[:-30]),
        ("c2/notes.txt", b"not an image"),
        ("stray.png", glyph(2, 9)),
        ("__MACOSX/c0/._1.png", b"junk"), (".DS_Store", b"junk"),
    ]
    insp = data.inspect_source(make_zip(entries))
    why = dict(insp.skipped)
    assert why["c0/copy.png"] == "duplicate of c0/1.png"
    assert why["c1/broken.png"].startswith("corrupt") and why["c1/truncated.png"].startswith("corrupt")
    assert why["c2/notes.txt"] == "not an image file (txt)" and why["stray.png"] == "not inside a class folder"
    assert len(insp.skipped) == 5                              # system files are not listed
    assert insp.counts == {"train": {"c0": 5, "c1": 5, "c2": 5}}


# -- shape, statistics, proposal ---------------------------------------------------------------
def test_gray_digits_load_gray_at_their_size_with_their_statistics():
    z = make_zip(classes_zip(6))
    insp = data.inspect_source(z)
    assert insp.input_shape == (1, 28, 28) and insp.modes == {"L": 18} and insp.sizes == {(28, 28): 18}
    ds = data.load_data({"name": "zip", "path": z})
    assert ds.input_shape == (1, 28, 28)
    x = torch.cat([ds.train_x, ds.val_x]).float() / 255
    assert insp.mean[0] == pytest.approx(float(x.mean()), abs=1e-3)
    assert ds.mean[0] == pytest.approx(float(ds.train_x.float().mean() / 255), abs=1e-3)
    assert ds.std[0] == pytest.approx(float((ds.train_x.float() / 255).std()), abs=2e-3)
    assert all(p.shape == (28, 28) and p.dtype == np.uint8 for p in insp.previews["c0"])
    # the proposal: the course's MNIST SimpleCNN, sized by the real trace
    assert insp.proposal["preset"] == "mnist_simple_cnn"
    assert insp.proposal["params"] == (8 * 9 + 8) + (16 * 72 + 16) + (16 * 5 * 5 * 3 + 3)
    assert insp.proposal["macs"] > 0


def test_mixed_sizes_and_modes_propose_a_size_from_the_data():
    entries = [(f"a/{i}.png", glyph(0, i, size=(40 + 4 * i, 30 + 2 * i), mode="RGB")) for i in range(5)]
    entries += [(f"b/{i}.png", glyph(1, i, size=(120, 90), mode="L")) for i in range(4)]
    insp = data.inspect_source(make_zip(entries))
    shorter = sorted([30 + 2 * i for i in range(5)] + [90] * 4)
    side = min(shorter[(len(shorter) - 1) // 2], 64)
    assert insp.input_shape == (3, side, side)                  # some colour: 3 channels
    assert set(insp.modes) == {"RGB", "L"} and len(insp.sizes) == 6
    assert insp.proposal["preset"] == "shapes_cnn"
    big = [(f"{c}/{i}.png", glyph(c, i, size=(200, 150), mode="RGB")) for c in (0, 1) for i in range(3)]
    assert data.inspect_source(make_zip(big)).input_shape == (3, 64, 64)       # capped at 64
    asked = data.load_data({"name": "zip", "path": make_zip(big), "size": 32, "channels": 1})
    assert asked.input_shape == (1, 32, 32)


def test_second_load_reads_the_cache_and_decodes_nothing(monkeypatch):
    z = make_zip(classes_zip(5))
    calls = []
    real = images.decode
    monkeypatch.setattr(images, "decode", lambda b, **kw: calls.append(1) or real(b, **kw))
    first = data.load_data({"name": "zip", "path": z})
    assert len(calls) == 15
    digest = data.inspect_source(z).digest
    assert (decoding.cache_dir(digest) / f"1x28x28-v{decoding.CACHE_VERSION}.pt").exists()
    again = data.load_data({"name": "zip", "path": z})
    assert len(calls) == 15                                     # nothing decoded the second time
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.val_y, again.val_y)


def test_small_images_are_read_once_larger_ones_again_at_the_input_size(monkeypatch):
    """One pass over small images (hash, header and pixels together); an image larger than the
    input size's limit (64 px) gives its header first and its pixels once the size is known.
    Every image is decoded once either way."""
    small = classes_zip(4, classes=(0, 1))                                     # 28 x 28
    big = [(f"c{c}/big{i}.png", glyph(c, 50 + i, size=(100, 80))) for c in (0, 1) for i in range(2)]
    reads, decodes = [], []
    read, decode = zipfile.ZipFile.read, images.decode
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None:
                        reads.append(getattr(name, "filename", name)) or read(self, name, pwd))
    monkeypatch.setattr(images, "decode", lambda b, **kw: decodes.append(1) or decode(b, **kw))
    ds = data.load_data({"name": "zip", "path": make_zip(small + big)})
    assert ds.input_shape == (1, 28, 28)              # the median shorter side: 28
    assert len(ds.train_x) + len(ds.val_x) == 12 and len(decodes) == 12
    assert sorted(reads) == sorted([name for name, _ in small] + 2 * [name for name, _ in big])

