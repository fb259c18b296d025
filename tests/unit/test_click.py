"""Click to segment (playground/click.py): the shipped click U-Net outlines the clicked object on
scenes it never saw, refuses clicks off the image in words, and works on images of any size."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from playground import click
from playground.data import DataError
from playground.data.scenes import make_scenes

FRESH_SEED = 20_000        # not the training seeds (0..) nor the script's held-out 10,000
MEAN_IOU = 0.8             # the shipped model's mean IoU at a central click is above this


@pytest.fixture(scope="module")
def shipped():
    return click.load_model()[0]


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(40, click.TRAIN_SIZE, FRESH_SEED)


def _object_ious(model, scenes) -> torch.Tensor:
    """IoU of the mask from a click at each object's innermost pixel, for every object."""
    out = []
    for k in range(1, int(scenes.counts.max()) + 1):
        idx = (scenes.counts >= k).nonzero().flatten()
        truth = scenes.instances[idx] == k
        xs, ys = click.inner_points(truth)
        out.append(click.iou(click.predict_batch(model, scenes.images[idx], xs, ys), truth))
    return torch.cat(out)


def test_shipped_model_outlines_the_clicked_object(shipped, scenes):
    ious = _object_ious(shipped, scenes)
    assert ious.numel() >= 80
    assert ious.mean() >= MEAN_IOU, f"mean IoU {ious.mean():.3f}"
    assert (ious >= 0.8).float().mean() >= 0.75        # most objects, one by one


def test_an_untrained_model_fails_the_same_check(scenes):
    torch.manual_seed(0)
    ious = _object_ious(click.build_model().eval(), scenes)
    assert ious.mean() < 0.5


def test_a_background_click_gives_a_small_or_empty_mask(shipped, scenes):
    bg = scenes.instances == 0
    xs, ys = click.inner_points(bg)          # the point farthest from every object
    pred = click.predict_batch(shipped, scenes.images, xs, ys)
    share = pred.flatten(1).float().mean(1)
    assert share.mean() < 0.03 and (share < 0.1).float().mean() >= 0.9


@pytest.mark.parametrize("x, y", [(-1, 10), (64, 10), (10, 64), (10, -0.5), (math.nan, 3), (1e9, 1)])
def test_a_click_outside_the_image_is_refused_in_words(x, y):
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(DataError, match="outside the image, which is 64 x 64 pixels"):
        click.segment_at(image, x, y)


def test_segment_at_keeps_the_image_size_and_resizes_other_sizes(shipped):
    image, inst = click.scene(FRESH_SEED + 1)
    truth = inst == 1
    xs, ys = click.inner_points(torch.from_numpy(truth)[None])
    x, y = int(xs[0]), int(ys[0])
    own = click.segment_at(image, x, y)
    assert own.shape == (64, 64) and own.dtype == bool
    assert click.iou(torch.from_numpy(own)[None], torch.from_numpy(truth)[None]) >= 0.8
    for f in (3, 0.5):      # 192 px (resized to 96 and back) and 32 px (up to 64 and back)
        side = int(64 * f)
        big = _resized(image, side)
        want = torch.from_numpy(_resized(truth[..., None].astype(np.uint8), side)[..., 0] > 0)[None]
        got = click.segment_at(big, (x + 0.5) * f - 0.5, (y + 0.5) * f - 0.5)
        assert got.shape == (side, side)
        assert click.iou(torch.from_numpy(got)[None], want) >= 0.7, f


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    """(H, W, C) uint8 resized to side x side, nearest neighbour."""
    t = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    out = torch.nn.functional.interpolate(t, size=(side, side), mode="nearest")[0]
    return out.permute(1, 2, 0).to(torch.uint8).numpy()


def test_working_size():
    assert click.working_size(64, 64) == (64, 64)
    assert click.working_size(80, 96) == (80, 96)
    assert click.working_size(480, 640) == (72, 96)
    assert click.working_size(32, 16) == (64, 32)


def test_click_channel_peaks_at_the_click():
    m = click.click_maps(torch.tensor([5, 30]), torch.tensor([7, 2]), 16, 40)
    assert m.shape == (2, 1, 16, 40)
    assert m[0, 0].argmax() == 7 * 40 + 5 and m[1, 0].argmax() == 2 * 40 + 30
    assert m.max() == 1


def test_training_clicks_fall_on_their_target():
    s = make_scenes(300, 32, 1)
    xs, ys, target = click.sample_clicks(s, torch.Generator().manual_seed(0))
    hit = s.instances[torch.arange(300), ys, xs]
    empty = target.flatten(1).sum(1) == 0
    assert (hit[empty] == 0).all()                                   # background clicks
    assert target[torch.arange(300), ys, xs][~empty].all()           # object clicks on the object
    assert 0.03 < empty.float().mean() < 0.2


def test_inner_points_lie_inside():
    s = make_scenes(50, 64, 2)
    xs, ys = click.inner_points(s.instances == 1)
    assert (s.instances[torch.arange(50), ys, xs] == 1).all()


def test_load_model_refuses_other_files(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(DataError, match="not a click model"):
        click.load_model(str(other))
    with pytest.raises(DataError, match="missing"):
        click.load_model(str(tmp_path / "none.pt"))


def test_overlay_and_display_mapping():
    image = np.full((10, 20, 3), 100, np.uint8)
    mask = np.zeros((10, 20), bool)
    mask[2:6, 3:9] = True
    out = click.overlay(image, mask, 5, 4, scale=3)
    assert out.shape == (30, 60, 3) and out.dtype == np.uint8
    assert (out[:3, :3] == 40).all()                        # outside the mask: dimmed
    assert (out[8:10, 21:24] == 100).all()                  # inside, away from ring and outline
    assert (out[6, 9:27] == (255, 255, 0)).all()            # the outline's top edge
    assert click.display_to_pixel({"x": 59, "y": 29, "width": 60, "height": 30}, 10, 20) == (19, 9)
    assert click.display_to_pixel({"x": 60, "y": 0, "width": 60, "height": 30}, 10, 20) == (19, 0)
    assert click.display_to_pixel(None, 10, 20) is None
