"""Click to segment in chromium: open a scene by its link, click inside one shape (its pixel found
with the same scene generator the page uses), and the shape's mask appears, with the time it took;
the click lands in the link. Screenshot: /tmp/shots/click.png."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from playground import click
from tests.e2e.helpers import wait_idle

SEED = 11
SHOTS = Path("/tmp/shots")


def test_click_a_shape_and_its_mask_appears(goto, page):
    _, inst = click.scene(SEED)
    truth = torch.from_numpy(inst == 1)
    xs, ys = click.inner_points(truth[None])
    x, y = int(xs[0]), int(ys[0])
    goto(f"click?seed={SEED}")
    assert page.get_by_text("Click a shape in the picture").count() >= 1
    img = page.frame_locator("iframe[title*='streamlit_image_coordinates']").locator("#image")
    img.wait_for(state="visible")
    box = img.bounding_box()
    scale = box["width"] / inst.shape[1]
    assert scale >= 4                                         # shown large enough to aim at
    img.click(position={"x": (x + 0.5) * scale, "y": (y + 0.5) * scale})
    page.get_by_text("Time for this click").wait_for(timeout=30_000)
    wait_idle(page)
    text = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Mask:").first.inner_text()
    pixels = int(re.search(r"Mask: ([\d,]+) pixels", text).group(1).replace(",", ""))
    area = int(truth.sum())
    assert abs(pixels - area) <= 0.25 * area, (pixels, area)
    assert f"x={x}" in page.url and f"y={y}" in page.url
    ms = page.locator("[data-testid='stMetricValue']").first.inner_text()
    assert re.fullmatch(r"[\d,]+ ms", ms), ms     # the time is shown (its size: README, not a test)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "click.png"), full_page=True)
