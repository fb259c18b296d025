"""User text is text (issue 10, item 7): a run name or a class name holding Markdown or HTML
(an image that every viewer's browser would fetch, a link) is shown as typed, never rendered."""
from __future__ import annotations

import json
import re
import time

import pytest
import torch

from playground.runs import store
from playground.training import RunConfig
from tests.app.helpers import assert_ok, by_key, page
from ui.common import plain

HOSTILE = "![x](http://host/pixel.png) [link](http://host) <img src=http://host/p.png> :red[red] $x$"

# Markdown an unescaped name would turn into an image, a link, HTML or a colour directive.
ACTIVE = [re.compile(p) for p in (r"(?<!\\)!(?<!\\)\[", r"(?<!\\)\]\(", r"(?<!\\)<img", r"(?<!\\)<a\b",
                                  r"(?<!\\):red(?<!\\)\[")]


def active(md: str) -> list[str]:
    return [p.pattern for p in ACTIVE if p.search(md)]


def test_plain_escapes_markdown_and_html():
    s = plain(HOSTILE + "\n# heading\n1. item")
    assert not active(s) and "\n" not in s
    assert re.sub(r"\\(.)", r"\1", s) == " ".join((HOSTILE + "\n# heading\n1. item").split())
    assert plain("cats vs dogs") == "cats vs dogs"


@pytest.fixture()
def hostile_run(tmp_path, monkeypatch):
    """A finished run folder, written the way the store writes it, with a hostile name and
    hostile class names in its analysis."""
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    d = tmp_path / "hostile"
    cfg = RunConfig().to_dict()
    cfg["name"] = HOSTILE
    store.write_config(d, "hostile", time.time(), cfg)
    store.write_status(d, {"status": "finished", "message": "done", "progress": {}, "info": {}})
    names = [HOSTILE, "<a href='http://host'>cat</a>"]
    report = {"class_names": names, "confusion": [[3, 1], [0, 4]], "per_class_acc": [0.75, 1.0],
              "wrong": [{"true": 0, "pred": 1, "confidence": 0.9}]}
    store.write_analysis(d, report, torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    records = [{"type": "step", "step": 1, "epoch": 0.5, "loss": 1.0, "lr": 0.01},
               {"type": "epoch", "epoch": 1, "step": 2, "val_acc": 0.8, "val_loss": 0.5, "train_loss": 0.6,
                "train_acc": 0.7}]
    (d / store.METRICS).write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


def test_a_hostile_run_name_and_class_names_render_as_text(hostile_run):
    at = page("train").run()
    assert_ok(at)
    by_key(at.segmented_control, "train_view").set_value("Watch").run()
    assert_ok(at)
    mds = [str(m.value) for m in at.markdown] + [str(c.value) for c in at.caption]
    captions = [img.caption for im in at.get("image") for img in im.proto.imgs]
    assert captions and r"pixel\.png" in captions[0]          # the worst mistake, by class names
    mds += captions
    heading = next(m for m in mds if m.startswith("### "))
    assert r"pixel\.png" in heading and not active(heading), heading
    for md in mds:
        assert not active(md), md
    charts = [json.dumps(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]
    assert any("&lt;img src=http://host/p.png&gt;" in c for c in charts)   # confusion, per class
    for text in charts:
        assert "<img" not in text and "<a href" not in text



    by_key(at.segmented_control, "train_view").set_value("Compare").run()
    assert_ok(at)
    legend = [json.loads(c.proto.spec)["data"][0].get("name", "") for c in at.get("plotly_chart")]
    assert legend and all("<img" not in n for n in legend) and "&lt;img" in legend[0]


def test_class_folder_names_in_an_uploaded_zip_render_as_text(tmp_path, monkeypatch):
    import io
    import zipfile

    from tests.own_data import encode, shape_image

    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    names = ["![x](http:host.png)", "<img src=x> :red[b]"]     # no "/": a folder's name
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, shape in zip(names, ("circle", "square")):
            for i in range(4):
                zf.writestr(f"{cls}/{i}.png", encode(shape_image(shape, i)))
    at = page("train").run()
    by_key(at.selectbox, "train_data").set_value("zip").run()
    by_key(at.file_uploader, "train_zip").set_value(("mine.zip", buf.getvalue(), "application/zip")).run()
    assert_ok(at)
    mds = [str(m.value) for m in at.markdown] + [str(c.value) for c in at.caption]
    assert any(r"host\.png" in m for m in mds), "the class names are shown"
    for md in mds:
        assert not active(md), md
    charts = [json.dumps(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]
    assert any("&lt;img src=x&gt;" in c for c in charts)                # images per class
    assert not any("<img" in c for c in charts)
