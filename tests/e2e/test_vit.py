"""A tiny ViT's run, looked inside in chromium: a vit-tiny run trained in the test (one short
epoch through the CLI, into the server's runs folder) is picked on Look inside, and the Attention
tab shows its rollout, Grad-CAM and per-head maps over a generated shape. Screenshot:
/tmp/shots/vit_rollout.png."""
from __future__ import annotations

import re
from pathlib import Path

from playground import cli
from tests.e2e.helpers import wait_idle
from tests.e2e.test_inside_classify import pick, show

SHOTS = Path("/tmp/shots")


def test_look_inside_a_vit_tiny_run_shows_its_rollout(goto, page, app_server):
    assert cli.main(["train", "--model", "vit-tiny", "--epochs", "1", "--n-train", "160", "--n-val", "64",
                     "--threads", "1", "--name", "e2e-vit", "--quiet",
                     "--runs-dir", str(app_server.runs_dir)]) == 0
    goto("inside")
    pick(page, "Model", "Run e2e-vit: best checkpoint")
    page.get_by_role("radio", name="Generated shape").check(force=True)
    wait_idle(page)
    page.get_by_text("The model predicts").wait_for()
    page.get_by_role("tab", name="Attention").click()
    wait_idle(page)
    page.get_by_text("4 x 4 patches of 8 px").first.wait_for()    # VIT_DEFAULTS at 32 px
    page.get_by_text("Attention rollout").first.wait_for()
    assert page.get_by_text(re.compile(r"% of it on the shape")).count() == 2     # rollout, Grad-CAM
    assert page.get_by_text("head 3", exact=True).count() == 1                      # 4 heads
    imgs = page.locator("[data-testid='stImage'] img")
    assert imgs.count() >= 7                          # photo, rollout, Grad-CAM, 4 heads
    for i in range(imgs.count()):
        assert imgs.nth(i).evaluate("el => el.complete && el.naturalWidth > 0")
    show(page.get_by_text("Attention rollout"))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "vit_rollout.png"), full_page=True)
