"""playground.export: the exported PyTorch code builds the same network (same summary, same
state_dict, same outputs for the same weights)."""
from __future__ import annotations

import ast

import pytest
import torch
from torch import nn

from playground import export, networks
from playground.summary import summarize

torch.set_num_threads(1)


def run_code(code: str) -> dict:
    ast.parse(code)                                  # plain, valid Python
    ns: dict = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), ns)
    return ns


def row_facts(s):
    return [(r.name, r.type, r.output_shape, r.params, r.trainable, r.macs, r.rf, r.jump) for r in s.rows]


@pytest.mark.parametrize("name", list(networks.PRESETS))
def test_exported_code_builds_the_same_network(name):
    spec = networks.preset(name)
    code = export.to_code(spec)
    assert "class " in code and "def forward(self, x" in code and "def __init__" in code
    ns = run_code(code)
    model = ns[export.class_name(spec["name"])]()
    assert isinstance(model, nn.Module)
    ours, theirs = summarize(spec), summarize(model, spec["input_shape"])
    assert row_facts(theirs) == row_facts(ours)
    assert theirs.total_params == ours.total_params and theirs.total_macs == ours.total_macs
    assert (theirs.error is None) == (ours.error is None)
    # the same names and shapes: a checkpoint of the playground's network loads into it
    built = networks.build(spec).eval()
    model.load_state_dict(built.state_dict())
    if ours.error is None:
        x = torch.randn(2, *spec["input_shape"])
        with torch.no_grad():
            assert torch.allclose(model.eval()(x), built(x))


def test_residual_blocks_export_as_a_class():
    code = export.to_code(networks.preset("small_resnet"))
    assert "class ResidualBlock(nn.Module):" in code
    assert "self.body(x) + self.shortcut(x)" in code
    assert "nn.Conv2d(16, 32, kernel_size=1, stride=2, bias=False)" in code     # the projection


def test_inferred_sizes_are_written_out():
    spec = {"name": "inferred", "input_shape": [3, 32, 32], "layers": [
        {"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "batchnorm2d"},
        {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "out": 5}]}
    code = export.to_code(spec)
    assert "nn.Conv2d(3, 8, kernel_size=3, padding=1)" in code
    assert "nn.BatchNorm2d(8)" in code and "nn.Linear(2048, 5)" in code
    ns = run_code(code)
    assert ns["Inferred"]()(torch.zeros(1, 3, 32, 32)).shape == (1, 5)


def test_torchvision_export_replaces_the_head_and_freezes():
    spec = {"name": "cats vs dogs", "torchvision": "resnet18", "weights": None, "num_classes": 2,
            "freeze": True, "input_shape": [3, 224, 224]}
    ns = run_code(export.to_code(spec))
    model = ns["resnet18_model"]()
    ref = networks.build_torchvision("resnet18", num_classes=2, freeze=True)
    assert summarize(model, (3, 224, 224)).trainable_params == summarize(ref, (3, 224, 224)).trainable_params == 1026
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_class_names_are_valid_identifiers():
    assert export.class_name("MNIST SimpleCNN without pooling (broken)") == "MNISTSimpleCNNWithoutPoolingBroken"
    assert export.class_name("3 layers") == "Net3Layers"
    assert export.class_name("") == "Net"
    assert export.class_name("class").isidentifier()


HOSTILE_NAMES = [
    'x"""\nimport pathlib; pathlib.Path(MARKER).touch()\n"""',
    "x'''\nimport pathlib; pathlib.Path(MARKER).touch()\n'''",
    'ends in a backslash \\',
    "\\\"\"\"\nimport pathlib; pathlib.Path(MARKER).touch()  # \\N{BULLET} \u2028 \x00",
    "Ünïcödé 猫 ☃ \r\n\t",
    "ResidualBlock",
    "class",
]


def test_export_of_hostile_specs_is_data_never_code(tmp_path):
    """Names holding quotes, a line of Python, newlines, backslashes and unicode: every exported
    file parses, builds and runs (in a fresh interpreter), and the injected line never runs."""
    import subprocess
    import sys

    marker = tmp_path / "injected"
    files = []
    for i, name in enumerate(HOSTILE_NAMES):
        name = name.replace("MARKER", repr(str(marker)))
        spec = {"name": name, "input_shape": [3, 8, 8], "layers": [
            {"type": "residual", "name": "res", "layers": [{"type": "conv2d", "out": 3, "padding": 1}]},
            {"type": "sequential", "name": "head", "layers": [{"type": "flatten"}, {"type": "linear", "out": 2}]}]}
        tv = {"name": name, "torchvision": "resnet18", "weights": None, "num_classes": 2,
              "input_shape": [3, 32, 32]}
        for kind, code in (("net", export.to_code(spec)), ("tv", export.to_code(tv))):
            ast.parse(code)
            files.append(tmp_path / f"{kind}{i}.py")
            files[-1].write_text(code, encoding="utf-8")
    runner = ("import runpy, sys\n"
              "for f in sys.argv[1:]:\n"
              "    runpy.run_path(f, run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", runner, *map(str, files)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("torch.Size([1, 2])") == len(files)     # each one built and ran
    assert not marker.exists()                                       # the injected line never ran
