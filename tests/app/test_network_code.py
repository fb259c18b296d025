"""The inspector's "Paste your code" source through AppTest: trace, the fix as a diff, one-click
apply, errors in words, the safety switch, and the hand-off to training."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground import code
from tests.app.helpers import ROOT, TIMEOUT, assert_ok, by_key, page, texts


def errors(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv(code.ENV, "1")


def paste(at, source: str):
    at.text_area(key="net_code").set_value(source).run()
    by_key(at.button, "net_trace").click().run()
    assert_ok(at)
    return at


def test_paste_the_course_code_fix_it_in_one_click(allowed):
    at = page("network").run()
    at.selectbox(key="net_source").set_value("code").run()
    assert_ok(at)
    assert at.text_area(key="net_code").value == code.EXAMPLE
    assert "fc" in errors(at) and "9,216" in errors(at)
    diff = next(c.value for c in at.code if c.language == "diff")
    assert "-        self.fc = nn.Linear(16*5*5, 10)" in diff and "+        self.fc = nn.Linear(9216, 10)" in diff
    fixed = code.EXAMPLE.replace("nn.Linear(16*5*5, 10)", "nn.Linear(9216, 10)", 1)
    assert any(c.value == fixed.rstrip() and c.language == "python" for c in at.code)   # to copy
    by_key(at.button, "net_apply_fix").click().run()
    assert_ok(at)
    assert not at.error
    assert at.session_state.net_spec["code"] == fixed == at.text_area(key="net_code").value
    assert "Applied: Set fc's in_features to 9,216" in texts(at)
    params = sum(p.numel() for p in code.load_module(fixed).parameters())
    assert any(m.label == "Parameters" and m.value == f"{params:,}" for m in at.metric)
    assert by_key(at.button, "net_train")


def test_bad_code_is_explained_in_words_and_the_page_keeps_running(allowed):
    at = page("network").run()
    at.selectbox(key="net_source").set_value("code").run()
    paste(at, "class Net(nn.Module)\n    pass\n")
    assert "Line 1: this is not valid Python" in errors(at)
    paste(at, "import torch\nprint('no network here')\n")
    assert "No nn.Module found" in errors(at)
    # a Sequential expression, several classes: the picker says which
    paste(at, "import torch.nn as nn\nnn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4*26*26, 10))\n")
    assert not at.error and any(m.label == "Parameters" for m in at.metric)
    two = code.EXAMPLE + "\n\nclass Tiny(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
        "        self.fc = nn.Linear(784, 10)\n\n    def forward(self, x):\n        return self.fc(x.flatten(1))\n"
    paste(at, two)
    assert at.selectbox(key="net_class").options == ["SimpleCNN", "Tiny"]
    assert at.selectbox(key="net_class").value == "Tiny" and not at.error
    at.selectbox(key="net_class").set_value("SimpleCNN").run()
    assert_ok(at)
    assert "9,216" in errors(at)


def test_the_safety_switch_keeps_pasted_code_off(monkeypatch):
    monkeypatch.delenv(code.ENV, raising=False)      # AppTest leaves server.address unset
    at = page("network").run()
    at.selectbox(key="net_source").set_value("code").run()
    assert_ok(at)
    warning = "\n".join(w.value for w in at.warning)
    assert "Running pasted code is off" in warning and "PLAYGROUND_ALLOW_CODE=1" in warning
    assert not at.text_area and not at.metric


def test_train_this_network_reaches_the_training_page(allowed):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/network.py").run()
    at.selectbox(key="net_source").set_value("code").run()
    by_key(at.button, "net_apply_fix").click().run()
    assert_ok(at)
    by_key(at.button, "net_train").click().run()
    assert_ok(at)
    sel = by_key(at.selectbox, "train_model")
    assert sel.value == "Your network (from the inspector)"
    assert "your pasted code, at its input 1x28x28" in texts(at)
    assert not at.error
