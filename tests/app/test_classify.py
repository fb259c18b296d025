"""Classify a photo through AppTest: an uploaded checkpoint and photo give predictions and a
Grad-CAM overlay; bad images and a malicious checkpoint are explained, never crash the page."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from playground import checkpoints, models, networks
from playground.data import DEFAULT_SHAPES
from tests.app.helpers import assert_ok, by_key, page, texts

ROOT = Path(__file__).resolve().parents[2]
CAT = (ROOT / "playground" / "assets" / "samples" / "cat.jpg").read_bytes()
SPEC = {"name": "tiny shapes net", "input_shape": [3, 32, 32],
        "layers": [{"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "maxpool2d", "kernel": 2},
                   {"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": 8}]}
CLASSES = list(DEFAULT_SHAPES)


def checkpoint_bytes() -> bytes:
    torch.manual_seed(0)
    net = networks.build(SPEC).eval()
    buf = io.BytesIO()
    path = Path(os.environ["PLAYGROUND_RUNS_DIR"]).parent / "app-test-tiny.pt"
    checkpoints.save_checkpoint(path, net, spec=SPEC, class_names=CLASSES, input_shape=[3, 32, 32],
                                mean=[0.5] * 3, std=[0.25] * 3)
    buf.write(path.read_bytes())
    return buf.getvalue()


class Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def with_uploaded_model(name: str = "classify"):
    at = page(name).run()
    assert_ok(at)
    by_key(at.selectbox, "model_select").set_value("__upload__").run()
    by_key(at.get("file_uploader"), "model_upload").set_value(
        ("tiny.pt", checkpoint_bytes(), "application/octet-stream"))
    at.run()
    assert_ok(at)
    return at


def upload_photo(at, data: bytes, name: str = "photo.jpg"):
    by_key(at.radio, "image_source").set_value("Upload").run()
    by_key(at.get("file_uploader"), "image_upload").set_value((name, data, "image/jpeg"))
    at.run()
    assert_ok(at)
    return at


def test_upload_photo_gets_predictions_and_grad_cam():
    at = upload_photo(with_uploaded_model(), CAT, "cat.jpg")
    assert not at.error, [e.value for e in at.error]
    heads = [h.value for h in at.subheader]
    assert any(h.startswith("Prediction: ") and any(c in h for c in CLASSES) for h in heads), heads
    assert "Grad-CAM" in texts(at)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("probability (%)" in c for c in charts)    # the top-k bar chart
    imgs = at.get("image")
    assert len(imgs) >= 2                              # the photo and the Grad-CAM overlay
    by_key(at.slider, "topk").set_value(3).run()
    assert_ok(at)
    by_key(at.slider, "cam_alpha").set_value(0.9).run()
    assert_ok(at)
    assert "preprocessing" in texts(at)                # what the model receives


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "bomb", "empty", "not_an_image", "huge_header"])
def test_bad_images_are_explained(kind):
    import struct
    import zlib

    def header_only(w: int, h: int) -> bytes:
        def chunk(k: bytes, d: bytes) -> bytes:
            return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 99)) + chunk(b"IEND", b""))

    data = {"corrupt": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
            "truncated": CAT[: len(CAT) // 3],
            "bomb": png(Image.new("1", (12000, 12000))),
            "empty": b"",
            "not_an_image": b"%PDF-1.4 not an image",
            "huge_header": header_only(8000, 8000)}[kind]
    at = upload_photo(with_uploaded_model(), data, f"{kind}.png")
    errors = " ".join(e.value for e in at.error)
    if kind == "empty":  # Streamlit hands over no file for zero bytes, or we say it is empty
        assert "Prediction" not in " ".join(h.value for h in at.subheader)
    else:
        assert "cannot be used" in errors, errors
    # the page still works afterwards
    upload_photo(at, CAT, "cat.jpg")
    assert any(h.value.startswith("Prediction") for h in at.subheader)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_every_image_mode_is_classified(mode):
    img = Image.open(io.BytesIO(CAT))
    img = img.convert("L").convert("I;16") if mode == "I;16" else img.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    at = upload_photo(with_uploaded_model(), png(img, fmt), f"cat.{fmt.lower()}")
    assert not at.error, [e.value for e in at.error]
    assert any(h.value.startswith("Prediction") for h in at.subheader)


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"spec": SPEC, "state_dict": {}, "x": Exploit(str(marker))}, buf)
    at = page("classify").run()
    by_key(at.selectbox, "model_select").set_value("__upload__").run()
    by_key(at.get("file_uploader"), "model_upload").set_value(("evil.pt", buf.getvalue(),
                                                                "application/octet-stream"))
    at.run()
    assert_ok(at)
    assert any("run code" in e.value or "Refused" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not marker.exists()


def test_offline_imagenet_model_is_explained():
    if models.weights_cached("resnet18"):
        pytest.skip("resnet18's weights are cached here")
    at = page("classify").run()
    by_key(at.selectbox, "model_select").set_value("torchvision:resnet18").run()
    assert_ok(at)
    assert any("ImageNet weights" in e.value for e in at.error)


def test_default_model_with_a_generated_shape():
    if not models.default_model_path().is_file():
        pytest.fail("playground/assets/default_model.pt is missing: run `make default-model`.")
    at = page("classify").run()
    assert_ok(at)
    by_key(at.selectbox, "model_select").set_value("default").run()
    by_key(at.radio, "image_source").set_value("Generated shape").run()
    assert_ok(at)
    assert "True class of this generated shape" in texts(at)
    assert "Grad-CAM's peak" in texts(at)


def test_camera_is_asked_for_only_when_chosen():
    at = with_uploaded_model()
    assert len(at.get("camera_input")) == 0            # no camera prompt on page load
    by_key(at.radio, "image_source").set_value("Camera").run()
    cams = at.get("camera_input")
    assert len(cams) == 1
    cams[0].set_value(("shot.jpg", CAT, "image/jpeg"))
    at.run()
    assert_ok(at)
    assert any(h.value.startswith("Prediction") for h in at.subheader)
