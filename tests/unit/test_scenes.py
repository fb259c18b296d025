"""The scenes: 1 to 4 shapes per image, each object's visible mask, class and box agreeing with
each other, the overlap rule (no object hidden beyond MIN_VISIBLE), determinism by seed, and the
detection Dataset built from them."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import masks_to_boxes

from playground.data import DataError
from playground.data.scenes import MAX_SHAPES, MIN_VISIBLE, load_scene_boxes, make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(120, 64, seed=7)


def test_scene_counts_stay_within_one_to_four(scenes):
    assert scenes.images.shape == (120, 3, 64, 64) and scenes.images.dtype == torch.uint8
    counts = scenes.counts
    assert counts.min() >= 1 and counts.max() <= MAX_SHAPES
    assert len(set(counts.tolist())) >= 3                      # the counts vary
    # objects are 1..count, padding rows after them
    for i in range(len(scenes)):
        n = int(counts[i])
        assert (scenes.labels[i, :n] >= 0).all() and (scenes.labels[i, n:] == -1).all()
        assert set(scenes.instances[i].unique().tolist()) == set(range(n + 1))
    few = make_scenes(40, 64, seed=1, min_shapes=1, max_shapes=2)
    assert few.counts.max() <= 2
    with pytest.raises(DataError, match="1 to 4"):
        make_scenes(4, 64, min_shapes=2, max_shapes=5)


def test_masks_and_boxes_agree(scenes):
    for i in range(len(scenes)):
        for k in range(int(scenes.counts[i])):
            mask = scenes.instances[i] == k + 1
            box = masks_to_boxes(mask[None])[0] + torch.tensor([0, 0, 1, 1])   # pixel edges
            assert torch.equal(scenes.boxes[i, k], box)
    t = scenes.targets()
    assert t.shape == (120, MAX_SHAPES, 5) and torch.equal(t[..., 0], scenes.labels.float())
    cm = scenes.class_masks()
    assert torch.equal(cm == 0, scenes.instances == 0)


def test_no_object_is_hidden_beyond_the_overlap_rule():
    d = make_scenes(60, 64, seed=3, min_shapes=4, max_shapes=4, max_frac=0.5)
    visible = torch.stack([d.instances == k + 1 for k in range(MAX_SHAPES)], 1).flatten(2).sum(-1)
    present = d.labels >= 0
    assert (visible[present] > 0).all()
    # overlaps happen (some box pairs intersect), yet every object keeps enough of itself in view:
    # its visible pixels are at least MIN_VISIBLE of its box's area times a shape's least fill
    inter = 0
    for i in range(len(d)):
        b = d.boxes[i, present[i]]
        lt = torch.max(b[:, None, :2], b[None, :, :2])
        rb = torch.min(b[:, None, 2:], b[None, :, 2:])
        inter += int(((rb - lt).clamp_min(0).prod(-1) > 0).sum() - len(b))
    assert inter > 0
    area = (d.boxes[..., 2] - d.boxes[..., 0]) * (d.boxes[..., 3] - d.boxes[..., 1])
    assert (visible[present] >= MIN_VISIBLE * 0.3 * area[present]).all()


def test_scenes_are_deterministic_by_seed_and_make_a_detection_dataset():
    a, b, c = make_scenes(10, 64, seed=2), make_scenes(10, 64, seed=2), make_scenes(10, 64, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes)
    assert not torch.equal(a.images, c.images)
    cfg = {"n_train": 12, "n_val": 6, "size": 64, "seed": 0, "texture": 1.0, "min_shapes": 1,
           "max_shapes": 3, "classes": ["circle", "star"]}
    ds = load_scene_boxes(cfg)
    assert ds.train_y.shape == (12, MAX_SHAPES, 5) and ds.train_y.dtype == torch.float32
    assert ds.class_names == ["circle", "star"] and ds.val_x.shape == (6, 3, 64, 64)
    assert set(ds.train_y[..., 0].unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert not torch.equal(ds.train_x[:6], ds.val_x)              # another seed for validation
