"""The "Draw" image source through AppTest on Classify and Look inside: the canvas is offered,
the digits model starts on it, and an empty drawing gets a clear message, never an exception.
(Strokes drawn with a mouse are tested in chromium: tests/e2e/test_draw.py.)"""
from __future__ import annotations

import pytest

from tests.app.helpers import assert_ok, by_key, page, texts


@pytest.mark.parametrize("name", ["classify", "inside"])
def test_draw_source_with_the_digits_model(name):
    at = page(name).run()
    assert_ok(at)
    by_key(at.selectbox, "model_select").set_value("digits").run()
    assert_ok(at)
    assert "Draw" in by_key(at.radio, "image_source").options
    by_key(at.radio, "image_source").set_value("Draw").run()
    assert_ok(at)
    assert "Draw a digit on the canvas" in texts(at)       # empty: what to do, no prediction
    assert not at.error
