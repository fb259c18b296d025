"""playground.images: every kind of bad file is refused with ImageError, every photo mode becomes
RGB, and the model receives exactly what torchvision's own preprocessing gives."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground import images
from playground.images import ImageError, load_image

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "playground" / "assets" / "samples" / "cat.jpg"


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with one tiny compressed row of data:
    what a decompression bomb looks like to a decoder that trusts the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------- refusals
def test_empty_file():
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_too_many_bytes():
    data = encode(Image.new("RGB", (64, 64), "red"))
    with pytest.raises(ImageError, match="limit"):
        load_image(data, max_bytes=len(data) - 1)
    assert load_image(data, max_bytes=len(data)).size == (64, 64)


def test_too_many_pixels_checked_on_the_header():
    # 7,000 x 7,000 = 49 MP: above our 40 MP limit, below PIL's own bomb limit.
    with pytest.raises(ImageError, match="megapixels"):
        load_image(png_header_only(7000, 7000))


def test_decompression_bomb_far_beyond_pils_limit():
    # 30,000 x 30,000 = 900 MP claimed by a file of a few hundred bytes
    data = png_header_only(30000, 30000)
    assert len(data) < 1000
    with pytest.raises(ImageError, match="(?i)bomb|megapixels"):
        load_image(data)
    # and nothing global was changed to get there
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)


def test_real_compressed_bomb():
    data = encode(Image.new("1", (9000, 9000)), optimize=True)  # 81 MP of zeros, ~10 KB
    assert len(data) < 100_000
    with pytest.raises(ImageError):
        load_image(data)


def test_truncated_jpeg_and_png():
    jpg = CAT.read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        load_image(jpg[: len(jpg) // 2])
    png = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ImageError):
        load_image(png[: len(png) - 200])


@pytest.mark.parametrize("data", [b"hello world, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  b"\xff\xd8\xff" + bytes(range(256)) * 4, b"GIF89a" + b"\x01" * 10])
def test_corrupt_bytes(data):
    with pytest.raises(ImageError):
        load_image(data)


def test_unsupported_format():
    data = encode(Image.new("RGB", (32, 32), "blue"), "ICO")
    with pytest.raises(ImageError, match="not supported"):
        load_image(data)


def test_too_small():
    with pytest.raises(ImageError, match="at least"):
        load_image(encode(Image.new("RGB", (2, 50))))


def test_not_bytes():
    with pytest.raises(ImageError):
        load_image("cat.jpg")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- modes
def test_real_photo_is_rgb():
    img = load_image(CAT.read_bytes())
    assert img.mode == "RGB" and img.size == Image.open(CAT).size


def test_grayscale():
    a = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    img = load_image(encode(Image.fromarray(a, "L")))
    arr = np.asarray(img)
    assert img.mode == "RGB"
    assert (arr[..., 0] == a).all() and (arr[..., 1] == a).all() and (arr[..., 2] == a).all()


def test_rgba_composited_on_white():
    a = np.zeros((16, 16, 4), dtype=np.uint8)
    a[:, :8] = (255, 0, 0, 255)        # opaque red
    a[:, 8:] = (0, 0, 255, 0)          # fully transparent blue -> white
    arr = np.asarray(load_image(encode(Image.fromarray(a, "RGBA"))))
    assert (arr[:, :8] == (255, 0, 0)).all()
    assert (arr[:, 8:] == (255, 255, 255)).all()


def test_palette_with_transparency():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 255, 0] + [10, 20, 30] * 255)
    img.paste(1, (8, 0, 16, 16))
    data = encode(img, transparency=1)
    arr = np.asarray(load_image(data))
    assert (arr[:, :8] == (0, 255, 0)).all()
    assert (arr[:, 8:] == (255, 255, 255)).all()


def test_16_bit_grayscale_keeps_its_range():
    a = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    img16 = Image.fromarray(a)
    assert img16.mode.startswith("I;16")
    arr = np.asarray(load_image(encode(img16)))
    assert arr[0, 0, 0] == 0 and arr[-1, -1, 0] == 255          # not clipped at 255/65535
    assert abs(int(arr[32, 0, 0]) - 128) <= 2


def test_webp():
    img = load_image(encode(Image.new("RGB", (40, 30), (200, 100, 50)), "WEBP", lossless=True))
    assert img.size == (40, 30) and np.asarray(img)[5, 5].tolist() == [200, 100, 50]


def test_exif_rotation_applied():
    # Stored 40 wide x 20 high, left half red, right half blue, EXIF orientation 6: "the 0th
    # row is the visual right side, the 0th column the visual top" -> shown 20 x 40, red on top.
    a = np.zeros((20, 40, 3), dtype=np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(a), "JPEG", exif=exif.tobytes(), quality=95)
    img = load_image(data)
    assert img.size == (20, 40)
    arr = np.asarray(img).astype(int)
    assert arr[5, 10, 0] > 200 and arr[5, 10, 2] < 60        # top: red
    assert arr[35, 10, 2] > 200 and arr[35, 10, 0] < 60      # bottom: blue


# ---------------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "mobilenet_v3_small"])
def test_prepare_equals_torchvision_transforms(name):
    import torchvision

    w = torchvision.models.get_model_weights(name).DEFAULT
    img = load_image(CAT.read_bytes())
    prep = images.prepare(img, images.Preprocess.from_torchvision(w.transforms()))
    assert prep.tensor.shape == (1, 3, 224, 224)
    assert torch.equal(prep.tensor[0], w.transforms()(img))
    assert min(prep.resized.size) == 256 and prep.cropped.size == (224, 224)


def test_prepare_for_a_checkpoint_and_denormalize_round_trip():
    img = load_image(CAT.read_bytes())                       # 451 x 300
    pre = images.Preprocess.for_input((3, 32, 32), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    prep = images.prepare(img, pre)
    assert prep.tensor.shape == (1, 3, 32, 32)
    assert prep.resized.size == (48, 32)                     # shorter side 32, aspect kept
    back = images.denormalize(prep.tensor, pre.mean, pre.std)
    assert np.abs(back.astype(int) - np.asarray(prep.cropped).astype(int)).max() <= 1
    stats = prep.stats
    assert [s["channel"] for s in stats] == ["R", "G", "B"]
    assert stats[0]["mean"] == pytest.approx(float(prep.tensor[0, 0].mean()), abs=1e-6)


def test_prepare_gray_model():
    img = load_image(CAT.read_bytes())
    prep = images.prepare(img, images.Preprocess.for_input((1, 28, 28), (0.13,), (0.31,)))
    assert prep.tensor.shape == (1, 1, 28, 28)
    assert prep.shown.shape == (28, 28, 3)


def test_overlay():
    photo = np.full((10, 10, 3), 100, dtype=np.uint8)
    heat = torch.zeros(5, 5)
    heat[0, 0] = 1.0
    assert (images.overlay(photo, heat, 0.0) == photo).all()
    full = images.overlay(photo, np.ones((10, 10)), 1.0)
    assert (full == images.colormap()[255]).all()
    assert images.overlay(photo, heat, 0.5).shape == (10, 10, 3)
    assert images.upscale(np.zeros((32, 32, 3))).shape == (256, 256, 3)


# -- crafted TIFFs named .png: Pillow's own exceptions become ImageError in words -----------------
def _tiff_with_entry(tag: int, typ: int | None = None, value: int | None = None,
                     count: int | None = None) -> bytes:
    """A 16x16 little-endian TIFF with one IFD entry rewritten (type, count or value)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, "TIFF")
    b = bytearray(buf.getvalue())
    off = struct.unpack("<I", b[4:8])[0]
    for i in range(struct.unpack("<H", b[off:off + 2])[0]):
        e = off + 2 + 12 * i
        t, ty, cnt, val = struct.unpack("<HHII", b[e:e + 12])
        if t == tag:
            b[e:e + 12] = struct.pack("<HHII", t, ty if typ is None else typ,
                                      cnt if count is None else count, val if value is None else value)
    return bytes(b)


@pytest.mark.parametrize("entry", [
    dict(tag=273, typ=2), dict(tag=273, typ=5), dict(tag=273, typ=12),     # offsets: text, fraction, float
    dict(tag=259, value=99), dict(tag=259, value=7), dict(tag=277, value=99),
    dict(tag=258, value=0xFFFF), dict(tag=262, value=0xFFFF), dict(tag=279, count=1000),
    dict(tag=256, value=0x7FFFFFFF)])
def test_crafted_tiff_named_png_is_refused_in_words(entry, tmp_path):
    data = _tiff_with_entry(**entry)
    (tmp_path / "photo.png").write_bytes(data)          # what the learner uploads, named .png
    for fn in (images.decode, images.probe, images.load_image):
        try:
            fn((tmp_path / "photo.png").read_bytes())
        except images.ImageError as e:
            assert "Traceback" not in str(e) and str(tmp_path) not in str(e) and str(e)[0].isupper()
