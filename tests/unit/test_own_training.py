"""Training sees what Classify sees (one decoder, one resize), and a held-out test/ split is
evaluated once at the end of a run and recorded: in the run folder and in the CLI's JSON line."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from playground import cli, data, images
from playground.runs import store
from tests.unit.test_layouts import classes_zip, glyph, make_zip

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data-cache"))


def _picture(seed: int, size=(40, 30)) -> np.ndarray:
    """An RGB picture with a direction (a gradient) and its own noise: a rotation or a flip of
    it, or another seed, gives different pixels."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], -1)
    return (base + rng.integers(0, 60, (h, w, 3))).clip(0, 255).astype(np.uint8)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def awkward_files() -> dict[str, bytes]:
    """The files issue 15 names: an EXIF orientation 6 JPEG, an RGBA PNG, a P-mode PNG with
    transparency, a 16-bit PNG, a CMYK JPEG, and a plain gray PNG."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = Image.fromarray(_picture(1)).transpose(Image.Transpose.ROTATE_90)
    rgba = np.dstack([_picture(2), np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (30, 1))])
    pal = Image.fromarray(_picture(3)).quantize(16)
    g16 = (_picture(4)[..., 0].astype(np.uint16) * 257 + np.arange(40, dtype=np.uint16)).astype(np.uint16)
    return {
        "a/exif6.jpg": _save(sideways, "JPEG", quality=95, exif=exif.tobytes()),
        "a/rgba.png": _save(Image.fromarray(rgba, "RGBA"), "PNG"),
        "a/palette.png": _save(pal, "PNG", transparency=0),
        "b/sixteen.png": _save(Image.fromarray(g16), "PNG"),
        "b/cmyk.jpg": _save(Image.fromarray(_picture(5)).convert("CMYK"), "JPEG", quality=95),
        "b/gray.png": _save(Image.fromarray(_picture(6)[..., 1], "L"), "PNG"),
    }


@pytest.mark.parametrize("channels", [3, 1])
def test_training_and_classify_see_the_same_tensor(channels):
    files = awkward_files()
    assert Image.open(io.BytesIO(files["b/sixteen.png"])).mode.startswith("I;16")
    assert Image.open(io.BytesIO(files["b/cmyk.jpg"])).mode == "CMYK"
    assert Image.open(io.BytesIO(files["a/palette.png"])).mode == "P"
    ds = data.load_data({"name": "zip", "path": make_zip(list(files.items())), "size": 24,
                         "channels": channels, "val_fraction": 0.34})
    assert ds.input_shape == (channels, 24, 24)
    x = torch.cat([ds.train_x, ds.val_x])
    trained = data.to_model_input(x, ds.mean, ds.std)                          # (6, C, 24, 24)
    pre = images.Preprocess.for_input(ds.input_shape, ds.mean, ds.std)
    matched = set()
    for name, raw in files.items():
        seen = images.prepare(images.load_image(raw), pre).tensor                # (1, C, 24, 24)
        assert seen.shape[1:] == trained.shape[1:]
        hits = [i for i in range(len(x)) if torch.allclose(trained[i], seen[0], atol=1e-6)]
        assert len(hits) == 1, f"{name}: the training tensor differs from what Classify sees"
        matched.add(hits[0])
    assert matched == set(range(6))
    # and the EXIF rotation is really applied on both paths: the stored (sideways) pixels differ
    raw = Image.open(io.BytesIO(files["a/exif6.jpg"]))
    assert raw.size == (30, 40) and images.decode(files["a/exif6.jpg"]).size == (40, 30)


def test_decode_modes_are_gray_or_rgb():
    files = awkward_files()
    modes = {name: images.decode(raw).mode for name, raw in files.items()}
    assert modes == {"a/exif6.jpg": "RGB", "a/rgba.png": "RGB", "a/palette.png": "RGB",
                     "b/sixteen.png": "L", "b/cmyk.jpg": "RGB", "b/gray.png": "L"}
    # transparency on white, the same for RGBA and palette images
    rgba = np.asarray(images.decode(files["a/rgba.png"]))
    assert (rgba[:, 0] == 255).all()                                  # alpha 0 column -> white


def _split_zip(tmp_path) -> str:
    entries = (classes_zip(12, "train/", size=(16, 16)) + classes_zip(4, "val/", start=100, size=(16, 16))
               + classes_zip(5, "test/", start=200, size=(16, 16)))
    path = tmp_path / "split.zip"
    path.write_bytes(make_zip(entries))
    return str(path)


def test_test_split_is_evaluated_once_and_recorded(tmp_path, capsys):
    z = _split_zip(tmp_path)
    code = cli.main(["train", "--data", z, "--epochs", "2", "--runs-dir", str(tmp_path / "runs"),
                     "--quiet", "--threads", "1"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["status"] == "finished"
    assert out["n_test"] == 15 and 0 <= out["test_acc"] <= 1 and out["test_loss"] > 0
    run_dir = out["run_dir"]
    rec = store.read_test(run_dir)
    assert rec == {"test_loss": out["test_loss"], "test_acc": out["test_acc"], "n_test": 15,
                   "epoch": 2, "model": "last"}
    # the CLI's default network for this data is the proposal (small gray images)
    cfg = store.read_config(run_dir)["config"]
    assert cfg["model"] == {"preset": "mnist_simple_cnn"} and cfg["data"]["name"] == "zip"
    assert store.read_status(run_dir)["info"]["n_test"] == 15
    # a run without a test/ split has no test.json and no test figures
    plain = tmp_path / "plain.zip"
    plain.write_bytes(make_zip(classes_zip(6, size=(16, 16))))
    cli.main(["train", "--data", str(plain), "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
              "--quiet", "--threads", "1"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "test_acc" not in out and store.read_test(out["run_dir"]) is None


def test_cli_refuses_bad_data_in_words(tmp_path, capsys):
    one = tmp_path / "one.zip"
    one.write_bytes(make_zip([(f"cats/{i}.png", glyph(0, i)) for i in range(4)]))
    code = cli.main(["train", "--data", str(one), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "fewer than two classes" in err and "Traceback" not in err


def test_zipfile_is_closed_after_reading(tmp_path):
    path = tmp_path / "d.zip"
    path.write_bytes(make_zip(classes_zip(4)))
    with data.open_source(str(path)) as src:
        assert len(src.members) == 12
    with zipfile.ZipFile(path) as zf:                     # still a good zip, nothing held open
        assert len(zf.namelist()) == 12


def test_cli_reads_the_zip_once_and_the_run_trains_on_that(tmp_path, capsys, monkeypatch):
    """The CLI loads a zip once (its shape picks the proposed network) and hands the data to
    the run, which does not load it again; the garbage collector is on again afterwards."""
    import gc

    import dataclasses

    from playground import tasks

    z = tmp_path / "d.zip"
    z.write_bytes(make_zip(classes_zip(6, size=(16, 16))))
    loads = []                       # the CLI and the run both read data through the task entry
    real = tasks.TASKS["classify"].load_data
    counted = dataclasses.replace(tasks.TASKS["classify"],
                                  load_data=lambda cfg, progress=None: loads.append(cfg) or real(cfg, progress))
    monkeypatch.setitem(tasks.TASKS, "classify", counted)
    code = cli.main(["train", "--data", str(z), "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
                     "--quiet", "--threads", "1"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["status"] == "finished", out["error"]
    assert len(loads) == 1 and loads[0]["path"] == str(z.resolve())
    assert store.read_config(out["run_dir"])["config"]["model"] == {"preset": "mnist_simple_cnn"}
    assert gc.isenabled()

