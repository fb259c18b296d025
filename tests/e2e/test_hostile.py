"""Hostile input in chromium: a corrupt run folder, hostile checkpoint uploads on Classify and
hostile spec uploads on the Network inspector each give a message in words, never an exception
element or a server path, and the page keeps working afterwards."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from playground import checkpoints, networks
from playground.data import DEFAULT_SHAPES
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.helpers import ROOT, assert_no_exception, goto, screenshot, wait_idle, widget
from tests.e2e.test_inside_classify import SPEC, pick, upload_photo

ERROR = "[data-testid='stAlertContentError']"


def assert_clean(page) -> None:
    """No exception element, no traceback, no path of this server in the page's text."""
    assert_no_exception(page)
    text = page.locator("body").inner_text()
    assert str(ROOT) not in text and "Traceback" not in text and "site-packages" not in text, text[:3000]


def view(page, name: str) -> None:
    """Pick a view of the Training page (a segmented control)."""
    page.locator("[data-testid='stButtonGroup']").get_by_text(name, exact=True).first.click()
    wait_idle(page)


def wait_error(page, pattern: str) -> None:
    page.locator(ERROR).filter(has_text=re.compile(pattern)).first.wait_for(timeout=60_000)
    assert_clean(page)


# --------------------------------------------------------------------------------------------
# (a) a corrupt run folder
# --------------------------------------------------------------------------------------------
def _run_folder(root: Path, name: str, created: float, **files: bytes) -> None:
    d = root / name
    d.mkdir(parents=True)
    epoch = {"type": "epoch", "epoch": 1, "step": 5, "val_acc": 0.5, "val_loss": 0.7,
             "train_loss": 0.8, "train_acc": 0.5}
    good = {"config.json": json.dumps({"id": name, "created": created, "config": {"name": name}}).encode(),
            "status.json": json.dumps({"status": "finished", "pid": 1, "heartbeat": 0.0}).encode(),
            "metrics.jsonl": (json.dumps({"type": "step", "step": 1, "loss": 0.9}) + "\n"
                              + json.dumps(epoch) + "\n").encode()}
    for fname, content in {**good, **files}.items():
        (d / fname).write_bytes(content)


def test_corrupt_run_folder_is_listed_as_damaged(page, tmp_path):
    root = tmp_path / "runs"
    _run_folder(root, "20260101-000000-good-aaaa", 1.0)
    _run_folder(root, "20260101-000001-broken-bbbb", 2.0,
                **{"status.json": b"[1,2,3]", "metrics.jsonl": b"\xff\xfe\x00garbage\n{\"type\": 5}\n"})
    server = start_server(root)
    try:
        goto(page, f"{server.url}/train")
        assert_clean(page)
        page.get_by_role("button", name="Start training").wait_for()     # New run still works
        view(page, "Watch")
        wait_error(page, "damaged")                  # the newest run is the broken one
        screenshot(page, "hostile-damaged-run")
        pick(page, "Run", "20260101-000000-good-aaaa")
        page.locator("h3").filter(has_text="Finished").first.wait_for()
        assert_clean(page)
        view(page, "Compare")
        page.get_by_role("combobox").first.wait_for()
        assert_clean(page)
        view(page, "New run")
        page.get_by_role("button", name="Start training").wait_for()
        assert_clean(page)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------------------------
# (b) hostile checkpoints on Classify
# --------------------------------------------------------------------------------------------
class _Evil:
    marker = ""

    def __reduce__(self):          # unpickling would create the marker file
        return (open, (self.marker, "w"))


def _hostile_checkpoints(tmp: Path, marker: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a pattern the message must match)."""
    torch.manual_seed(0)
    out = {}
    evil = _Evil()
    evil.marker = str(marker)
    torch.save({"spec": SPEC, "state_dict": evil}, tmp / "evil.pt")
    out["evil"] = (tmp / "evil.pt", r"could not be loaded")
    model = networks.build(SPEC).eval()
    kw = dict(spec=SPEC, class_names=list(DEFAULT_SHAPES))
    checkpoints.save_checkpoint(tmp / "std0.pt", model, input_shape=[3, 32, 32], mean=[0.5] * 3,
                                std=[0.0] * 3, **kw)
    out["std0"] = (tmp / "std0.pt", r"std")
    checkpoints.save_checkpoint(tmp / "five.pt", model, input_shape=[5, 32, 32], mean=[0.5] * 5,
                                std=[0.25] * 5, **kw)
    out["five"] = (tmp / "five.pt", r"channel|do not fit")
    return out


def test_hostile_checkpoint_uploads_on_classify(goto, page, tmp_path):
    marker = tmp_path / "PWNED"
    files = _hostile_checkpoints(tmp_path, marker)
    goto("classify")
    pick(page, "Model", "Upload a checkpoint")
    for name, (path, pattern) in files.items():
        widget(page, "Checkpoint file").locator("input[type='file']").set_input_files(str(path))
        wait_idle(page)
        wait_error(page, pattern)
        screenshot(page, f"hostile-checkpoint-{name}")
    assert not marker.exists()
    pick(page, "Model", "Default")                   # back to a usable model: the page still works
    upload_photo(page)
    page.locator("h3").filter(has_text=re.compile(r"^Prediction: .+ \(\d+\.\d %\)")).wait_for()
    assert_clean(page)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# (c) hostile specs on the Network inspector
# --------------------------------------------------------------------------------------------
def _hostile_specs(tmp: Path) -> dict[str, Path]:
    layers = [{"type": "conv2d", "out": 8, "kernel": 3}, {"type": "relu"}]
    texts = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "forward": json.dumps({"name": "x", "input_shape": [3, 32, 32],
                               "layers": [{**layers[0], "name": "forward"}, layers[1]]}),
        "digits": '{"name": "x", "input_shape": [3, 32, 32], "layers": [{"type": "conv2d", "out": '
                  + "9" * 5000 + ', "kernel": 3}]}',
    }
    out = {}
    for name, text in texts.items():
        (tmp / f"{name}.json").write_text(text)
        out[name] = tmp / f"{name}.json"
    return out


def test_hostile_spec_uploads_on_the_network_inspector(goto, page, tmp_path):
    goto("network")
    page.get_by_text("Save, load, edit as JSON").click()
    for name, path in _hostile_specs(tmp_path).items():
        widget(page, "Load a spec (JSON)").locator("input[type='file']").set_input_files(str(path))
        wait_idle(page)
        wait_error(page, "not a usable network spec")
        screenshot(page, f"hostile-spec-{name}")
    pick(page, "Network", "TinyVGG")                 # the page keeps working
    assert page.locator("[data-testid='stDataFrame']").count() == 1
    assert_clean(page)
