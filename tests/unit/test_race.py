"""The data-efficiency race: a row per model and size on one validation set, nested training
sets, a background thread that streams rows and stops when asked, bad knobs refused in words."""
import threading

import pytest

from playground import race
from playground.data import DataError, load_data


@pytest.fixture(scope="module")
def small():
    """20 training images per class (8 classes), 48 validation images."""
    return load_data({"name": "shapes", "n_train": 160, "n_val": 48, "texture": 0.0})


def test_a_tiny_race_gives_a_row_for_both_models_and_every_size(small):
    seen = []
    rows = race.run_race(0.3, [5, 2], data=small, on_row=seen.append)
    assert rows == seen
    assert [(r["images_per_class"], r["model"]) for r in rows] == [
        (2, "Tiny CNN"), (2, "Tiny ViT"), (5, "Tiny CNN"), (5, "Tiny ViT")]
    for r in rows:
        assert set(r) == {"images_per_class", "model", "val_acc", "steps", "seconds"}
        assert 0 <= r["val_acc"] <= 1 and r["steps"] >= 1 and r["seconds"] >= 0.3


def test_smaller_training_sets_are_nested_and_balanced(small):
    a, b = race.subset(small, 2), race.subset(small, 5)
    assert set(a.tolist()) < set(b.tolist())
    assert small.train_y[b].bincount().tolist() == [5] * 8
    with pytest.raises(DataError, match="fewer than 30 images"):
        race.subset(small, 30)


def test_stop_ends_the_race_in_its_thread_with_the_rows_done(small):
    first = threading.Event()
    r = race.start_race(0.3, [2, 5, 10], data=small, on_row=lambda row: first.set())
    assert first.wait(120)
    r.stop()
    r.thread.join(120)
    snap = r.snapshot()
    assert snap["status"] == "stopped" and snap["total"] == 6
    assert 1 <= len(snap["rows"]) < 6


@pytest.mark.parametrize("budget,sizes,words", [(0, [10], "budget"), (5, [], "Images per class"),
                                                (5, [0, 10], "Images per class")])
def test_bad_knobs_are_refused_before_anything_trains(budget, sizes, words):
    with pytest.raises(DataError, match=words):
        race.start_race(budget, sizes)
