"""Your own images on the Training page through AppTest: an uploaded zip is inspected before
launch (its train/ and val/ split kept, images per class and split, the proposed input and
network), bad zips are explained while the Start button stays, and a gray 28 x 28 run trained
from the page works on Classify and Look inside with the photo converted to what it trained on."""
from __future__ import annotations

import io
import zipfile

import pytest

from playground import data, runs
from tests.app.helpers import assert_ok, by_key, page, texts
from tests.app.test_train import follow
from tests.own_data import SHAPES, one_class_zip, split_zip


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    return tmp_path


def own_data_page(zip_bytes: bytes, name: str = "mine.zip"):
    at = page("train").run()
    assert_ok(at)
    by_key(at.selectbox, "train_data").set_value("zip").run()
    assert_ok(at)
    by_key(at.file_uploader, "train_zip").set_value((name, zip_bytes, "application/zip")).run()
    assert_ok(at)
    return at


def test_uploaded_zip_is_inspected_before_launch():
    raw = split_zip(n_train=6, n_val=2)
    at = own_data_page(raw)
    insp = data.inspect_source(raw)        # what the page must show: the library's own answer
    assert insp.layout == "split" and set(insp.counts) == {"train", "val"}
    text = texts(at)
    assert insp.description in text
    assert "Your data, as the app understood it" in text
    table = next(d.value for d in at.dataframe if "training" in d.value.columns)
    assert table.loc[sorted(SHAPES), "training"].tolist() == [6, 6, 6]
    assert table.loc[sorted(SHAPES), "validation"].tolist() == [2, 2, 2]
    assert any(m.label == "Classes" and m.value == "3" for m in at.metric)
    # the learner's validation split is kept: no validation share to choose
    with pytest.raises(KeyError):
        by_key(at.slider, "train_val_frac")
    # the proposed input size and network, shown and chosen first
    c, h, w = insp.input_shape
    assert by_key(at.select_slider, "train_own_size").value == h
    assert by_key(at.segmented_control, "train_own_channels").value == c
    model = by_key(at.selectbox, "train_model")
    assert model.value == "Proposed for your data"
    assert f"{insp.proposal['params']:,} parameters" in text
    assert by_key(at.button, "train_start").disabled is False


def text_only_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/readme.txt", "no images here")
    return buf.getvalue()


@pytest.mark.parametrize("raw, words", [(b"this is not a zip", "not a readable zip"),
                                        (one_class_zip(), "two classes"),
                                        (text_only_zip(), "no images")])
def test_bad_zip_is_explained_and_start_stays(raw, words):
    at = own_data_page(raw, "bad.zip")
    assert at.error and words in at.error[0].value.lower()
    start = by_key(at.button, "train_start")
    assert start.disabled
    # the page keeps working: another dataset brings the form back
    by_key(at.selectbox, "train_data").set_value("shapes").run()
    assert_ok(at)
    assert not at.error and by_key(at.button, "train_start").disabled is False


def test_gray_run_from_the_page_on_classify_and_inside():
    """28 x 28 gray images train at 1 x 28 x 28; the run's checkpoint then reads a colour photo
    converted to gray 28 x 28 with the run's mean and std, on both pages."""
    at = own_data_page(split_zip(n_train=8, n_val=2, gray=True, size=(28, 28)), "gray.zip")
    assert by_key(at.segmented_control, "train_own_channels").value == 1
    assert by_key(at.select_slider, "train_own_size").value == 28
    by_key(at.slider, "train_epochs").set_value(1).run()
    by_key(at.button, "train_start").click().run()
    assert_ok(at)
    assert follow(at) == "Finished"
    info = runs.find_run(at.session_state["train_run"])
    assert info.summary and info.config["data"]["name"] == "zip"
    for view in ("classify", "inside"):
        pg = page(view)
        pg.session_state["picked_model"] = f"run:{info.id}:best"
        pg.session_state["picked_source"] = "Sample photo"
        if view == "inside":      # only the open tab runs: the conversion is on the last one
            pg.session_state["inside_tab"] = "What the model receives"
        pg.run()
        assert_ok(pg)
        text = texts(pg)
        assert "trained on gray 28 x 28 px images" in text, view
        assert "turned gray" in text and "1 x 1 x 28 x 28" in text
        assert "predicts" in text or "Prediction:" in text


def test_folder_on_the_server(tmp_path, monkeypatch):
    """A folder of class folders is read in place; a page served to other computers (AppTest
    sets no loopback address) reads folders inside the data folder only."""
    data_root = tmp_path / "data"
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(data_root))
    inside, outside = data_root / "mine", tmp_path / "elsewhere"
    for folder in (inside, outside):
        with zipfile.ZipFile(io.BytesIO(split_zip(n_train=4, n_val=2))) as zf:
            zf.extractall(folder)
    at = page("train").run()
    by_key(at.selectbox, "train_data").set_value("zip").run()
    by_key(at.radio, "train_own_source").set_value("folder").run()
    by_key(at.text_input, "train_folder").input(str(outside)).run()
    assert_ok(at)
    assert at.error and "data folder only" in at.error[0].value
    assert by_key(at.button, "train_start").disabled
    by_key(at.text_input, "train_folder").input(str(inside)).run()
    assert_ok(at)
    assert not at.error
    assert "train/ and val/ kept as given" in texts(at)
    assert by_key(at.button, "train_start").disabled is False


def test_too_many_images_is_explained(monkeypatch):
    """The image limit (OWN_DATA["max_images"], 20,000) lowered to 10 for a 24-image zip."""
    monkeypatch.setitem(data.OWN_DATA, "max_images", 10)
    at = own_data_page(split_zip(n_train=7, n_val=2), "big.zip")   # not cached by another test
    assert at.error and "the limit is 10" in at.error[0].value
    assert by_key(at.button, "train_start").disabled
