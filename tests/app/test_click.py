"""Click to segment through AppTest. AppTest cannot click the image component, so the click comes
from the link (the page keeps the scene and the click in its URL): the page segments the clicked
shape, refuses a click outside the picture in words, and "New scene" draws another scene."""
from __future__ import annotations

import re

import torch

from playground import click
from tests.app.helpers import assert_ok, page, texts

SEED = 7


def _open(**query) -> object:
    at = page("segment_click")
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.run()
    assert_ok(at)
    return at


def test_page_renders_a_scene_waiting_for_a_click():
    at = _open()
    assert "Click a shape in the picture" in texts(at)
    assert "point prompt" in texts(at)
    assert not at.error


def test_a_click_from_the_link_segments_that_shape():
    _, inst = click.scene(SEED)
    truth = torch.from_numpy(inst == 1)
    xs, ys = click.inner_points(truth[None])
    at = _open(seed=SEED, x=int(xs[0]), y=int(ys[0]))
    text = texts(at)
    assert "Time for this click" in text and not at.error
    pixels = int(re.search(r"Mask: \*\*([\d,]+) pixels", text).group(1).replace(",", ""))
    assert abs(pixels - int(truth.sum())) <= 0.25 * int(truth.sum())


def test_a_click_outside_the_picture_is_explained():
    at = _open(seed=SEED, x=200, y=10)
    assert any("outside the image" in str(e.value) for e in at.error)
    assert "Time for this click" not in texts(at)


def test_new_scene_changes_the_seed_and_forgets_the_click():
    at = _open(seed=SEED, x=30, y=30)
    next(b for b in at.button if b.label == "New scene").click().run()
    assert_ok(at)
    assert at.session_state["click_seed"] != SEED or at.session_state["click_x"] == -1
    assert at.session_state["click_x"] == -1
