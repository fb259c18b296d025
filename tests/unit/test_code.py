"""Pasted PyTorch code (playground.code): loading, the time limit, fixes written into the source,
the safety switch, training a pasted network and reloading its checkpoint."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from playground import checkpoints, code
from playground.summary import summarize

# The course's MNIST exercise with the pooling removed from forward: fc still expects 16*5*5.
COURSE = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)   # 28 -> 26
        self.conv2 = nn.Conv2d(8, 16, 3)  # 26 -> 24
        self.fc = nn.Linear(16*5*5, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = torch.flatten(x, 1)
        return self.fc(x)


model = SimpleCNN()
print(model)
'''

CHANNELS = '''from torch import nn


class Block(nn.Module):
    def __init__(self, c_in=3, c_out=16):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(in_channels=32, out_channels=32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
'''


def expected_output(source: str, class_name: str | None, shape) -> torch.Size:
    """What PyTorch itself computes on a real CPU tensor."""
    m = code.load_module(source, class_name)
    with torch.no_grad():
        return m(torch.zeros((2, *shape))).shape


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def test_a_notebook_cell_loads_its_class_and_skips_the_rest():
    info = code.load(COURSE)
    assert info.name == "SimpleCNN" and info.choices == ["SimpleCNN"]
    assert isinstance(info.module, nn.Module) and isinstance(info.module.fc, nn.Linear)
    assert info.notes == ["Not run (only imports, classes, functions and constants are): "
                          "line 20 `model = SimpleCNN()`, line 21 `print(model)`."]


def test_a_sequential_expression_bare_or_assigned():
    bare = "import torch.nn as nn\nnn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4*26*26, 10))"
    m = code.load_module(bare)
    assert isinstance(m, nn.Sequential) and m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assigned = "from torch import nn\nN = 8\nmodel = nn.Sequential(nn.Linear(N, N * 2), nn.ReLU())\n"
    info = code.load(assigned)
    assert info.name == "model" and info.module[0].out_features == 16


def test_several_classes_pick_the_unused_one_and_say_so():
    info = code.load(CHANNELS)
    assert info.name == "Net" and info.choices == ["Block", "Net"]
    assert "showing Net" in info.notes[0]
    assert code.load(CHANNELS, "Block").name == "Block"
    with pytest.raises(code.CodeError, match="no network called 'Nope'"):
        code.load(CHANNELS, "Nope")
    # a block used by the network is not the network, even when it comes last
    used_last = CHANNELS.replace("self.head = nn.Linear(32, 10)",
                                 "self.head = nn.Linear(32, 10)\n        self.extra = Extra()") + \
        "\n\nclass Extra(nn.Module):\n    def forward(self, x):\n        return x\n"
    assert code.load(used_last).name == "Net"


@pytest.mark.parametrize("source,line,words", [
    ("class Net(nn.Module)\n    pass\n", 1, "not valid Python"),
    ("import torch\nx = [1, 2\n", 2, "not valid Python"),
    ("", None, "There is no code"),
    ("import torch\nprint('hello')\n", None, "No nn.Module found"),
    ("class Config:\n    lr = 0.1\n", 1, "No nn.Module found"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, num_classes):\n"
     "        super().__init__()\n    def forward(self, x):\n        return x\n", 4, "needs the argument num_classes"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self.fc = nn.Linear(10, 10, bogus=1)\n    def forward(self, x):\n        return x\n", 6,
     r"Building Net\(\) failed: TypeError"),
    ("import matplotlib_not_installed_here\n", 1, "No module named"),
])
def test_bad_code_gets_a_message_with_its_line(source, line, words):
    with pytest.raises(code.CodeError, match=words) as e:
        code.load(source)
    assert e.value.line == line
    if line:
        assert str(e.value).startswith(f"Line {line}:")


LOOPS = '''import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        n = 0
        while True:
            try:
                n += 1
            except Exception:
                pass

    def forward(self, x):
        return x
'''


def test_building_that_loops_forever_stops_at_the_time_limit():
    t0 = time.perf_counter()
    with pytest.raises(code.CodeError, match=r"did not finish within 0.5 s \(it was at line (7|8|9)\)"):
        code.load(LOOPS, seconds=0.5)
    assert time.perf_counter() - t0 < 5          # the limit, not the loop, ends it


def test_a_forward_that_loops_forever_stops_at_the_time_limit():
    src = LOOPS.replace("        n = 0\n        while True:\n            try:\n                n += 1\n"
                        "            except Exception:\n                pass\n", "").replace(
        "        return x", "        while True:\n            x = x + 0\n        return x")
    with pytest.raises(code.CodeError, match="forward did not finish"):
        code.trace_source(src, (1, 8, 8), seconds=0.5)


# ---------------------------------------------------------------------------------------------
# Shape errors of any nn.Module get a fix, written into the source
# ---------------------------------------------------------------------------------------------
def test_the_course_example_fix_and_apply_fix():
    s = code.trace_source(COURSE, (1, 28, 28)).summary
    err = s.error
    assert err.layer == "fc" and "9,216" in err.message
    assert err.fix.attr == "fc" and err.fix.field == "in_features" and err.fix.value == 9216
    assert err.fix.code == "nn.Linear(9216, 10)"
    # summarize() of the plain module gives the same fix
    assert summarize(code.load_module(COURSE), (1, 28, 28)).error.fix.code == "nn.Linear(9216, 10)"
    fixed = code.apply_fix(COURSE, err.fix)
    assert fixed == COURSE.replace("nn.Linear(16*5*5, 10)", "nn.Linear(9216, 10)")   # byte for byte
    after = code.trace_source(fixed, (1, 28, 28)).summary
    assert after.error is None
    assert after.output_shape == tuple(expected_output(fixed, None, (1, 28, 28))[1:]) == (10,)
    d = code.diff(COURSE, fixed)
    assert "-        self.fc = nn.Linear(16*5*5, 10)" in d and "+        self.fc = nn.Linear(9216, 10)" in d


def test_a_conv_channel_mismatch_in_a_sequential_keyword_argument():
    s = code.trace_source(CHANNELS, (3, 32, 32)).summary
    err = s.error
    assert err.layer == "features.2" and "expects 32 input channels" in err.message
    assert err.fix.attr == "features.2" and err.fix.code == "nn.Conv2d(16, 32, 3, padding=1)"
    fixed = code.apply_fix(CHANNELS, err.fix.to_dict())          # a dict (the page's form) works too
    assert fixed == CHANNELS.replace("in_channels=32", "in_channels=16")
    after = code.trace_source(fixed, (3, 32, 32)).summary
    assert after.error is None
    assert after.output_shape == tuple(expected_output(fixed, None, (3, 32, 32))[1:]) == (10,)
    m = code.load_module(fixed)
    assert after.total_params == sum(p.numel() for p in m.parameters())


def test_a_positional_channel_mismatch_and_a_kernel_that_does_not_fit():
    src = ("import torch.nn as nn\nfrom collections import OrderedDict\n"
           "net = nn.Sequential(OrderedDict([\n    ('conv1', nn.Conv2d(1, 8, 3)),\n"
           "    ('conv2', nn.Conv2d(4, 8, 3)),\n]))\n")
    err = code.trace_source(src, (1, 12, 12)).summary.error
    assert err.fix.attr == "conv2" and err.fix.field == "in_channels"
    fixed = code.apply_fix(src, err.fix)
    assert "('conv2', nn.Conv2d(8, 8, 3))" in fixed
    assert code.trace_source(fixed, (1, 12, 12)).summary.error is None
    small = "import torch.nn as nn\nnn.Sequential(nn.Conv2d(1, 4, 5))\n"
    err = code.trace_source(small, (1, 3, 3)).summary.error
    assert err.fix.field == "padding" and err.fix.value == 2
    fixed = code.apply_fix(small, err.fix)
    assert fixed == "import torch.nn as nn\nnn.Sequential(nn.Conv2d(1, 4, 5, padding=2))\n"
    assert code.trace_source(fixed, (1, 3, 3)).summary.output_shape == \
        tuple(expected_output(fixed, None, (1, 3, 3))[1:])


def test_a_layer_made_from_a_parameter_is_not_rewritten_behind_the_learners_back():
    src = CHANNELS.replace("self.features = nn.Sequential(", "self.block = Block(4, 3)\n        "
                           "self.features = nn.Sequential(").replace(
        "return self.head(self.features(x).flatten(1))", "return self.head(self.features(self.block(x)).flatten(1))")
    err = code.trace_source(src, (3, 16, 16)).summary.error
    assert err.layer == "block.conv" and err.fix.attr == "block.conv" and err.fix.value == 3
    with pytest.raises(code.CodeError, match=r"from a parameter of Block: change the Block\(...\) call"):
        code.apply_fix(src, err.fix)               # c_in is Block's parameter: shared by every Block
    with pytest.raises(code.CodeError, match="Could not find where 'layers.3'"):
        code.apply_fix(src, {**err.fix.to_dict(), "attr": "layers.3"})


def test_a_forward_that_raises_is_reported_where_it_stops():
    src = ("import torch.nn as nn\n\nclass N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        y = self.fc(x.flatten(1))\n"
           "        raise ValueError('my own check failed')\n")
    s = code.trace_source(src, (1, 2, 2)).summary
    assert s.error.message == "The network stops in forward: ValueError: my own check failed"
    assert [r.name for r in s.rows][:2] == ["flatten", "fc"] and s.rows[1].output_shape == (2,)


def test_a_hardcoded_view_is_explained():
    src = COURSE.replace("torch.flatten(x, 1)", "x.view(-1, 16*5*5)")
    err = code.trace_source(src, (1, 28, 28)).summary.error
    assert "torch.flatten(x, 1)" in err.message and "view" in err.layer


# ---------------------------------------------------------------------------------------------
# The safety switch
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address,env,allowed", [
    ("127.0.0.1", {}, True), ("localhost", {}, True), ("::1", {}, True), ("127.0.1.1", {}, True),
    (None, {}, False), ("", {}, False), ("0.0.0.0", {}, False), ("192.168.1.20", {}, False),
    ("myhost.example", {}, False),
    ("0.0.0.0", {"PLAYGROUND_ALLOW_CODE": "1"}, True), (None, {"PLAYGROUND_ALLOW_CODE": "true"}, True),
    ("127.0.0.1", {"PLAYGROUND_ALLOW_CODE": "0"}, False),
])
def test_the_safety_switch(address, env, allowed):
    ok, reason = code.code_allowed(address, env)
    assert ok is allowed and reason
    if not ok and not env:
        assert "PLAYGROUND_ALLOW_CODE=1" in reason and "127.0.0.1" in reason


# ---------------------------------------------------------------------------------------------
# A pasted network trains like a preset; its checkpoint keeps the source
# ---------------------------------------------------------------------------------------------
def test_a_pasted_network_trains_and_its_checkpoint_reloads(tmp_path):
    from playground import runs, training
    fixed = COURSE.replace("nn.Linear(16*5*5, 10)", "nn.Linear(9216, 10)")
    cfg = training.RunConfig(
        name="pasted", data={"name": "shapes", "n_train": 256, "n_val": 64, "seed": 0},
        model={"code": fixed, "class_name": "SimpleCNN", "input_shape": [1, 28, 28]},
        epochs=1, batch_size=32, device="cpu", seed=0, schedule="none")
    reg = runs.Registry(tmp_path)
    rid = reg.start(cfg)
    assert reg.wait(rid, 120)
    run = reg.get(rid)
    assert run.status == "finished", run.error_detail
    ck_path = run.dir / "last.pt"
    with pytest.raises(checkpoints.CheckpointError, match="Python code"):
        checkpoints.load_checkpoint(ck_path)                 # off unless code is allowed
    ck = checkpoints.load_checkpoint(ck_path, allow_code=True)
    assert ck.spec["code"] == fixed and ck.spec["head"] == "fc" and ck.spec["num_classes"] == 8
    assert type(ck.model).__name__ == "SimpleCNN" and ck.model.fc.out_features == 8
    assert ck.input_shape == (1, 28, 28)
    x = torch.rand(3, 1, 28, 28)
    saved = torch.load(ck_path, weights_only=True)["state_dict"]
    ref = code.rebuild(ck.spec)
    ref.load_state_dict(saved)
    assert torch.equal(ck.model.eval()(x), ref.eval()(x))
