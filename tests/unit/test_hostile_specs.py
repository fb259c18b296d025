"""Hostile spec text and hostile checkpoints: every one is refused with the library's error, in
words, quickly, and before anything big is built (issue 10, items 1, 3 and 5)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
import torch

from playground import checkpoints, networks
from playground.checkpoints import CheckpointError
from playground.networks import SpecError

torch.set_num_threads(1)


def spec_text(layers, shape=(3, 8, 8), **more) -> str:
    return json.dumps({"name": "x", "input_shape": list(shape), "layers": layers, **more})


def refused(text, words):
    start = time.monotonic()
    with pytest.raises(SpecError, match=words) as err:
        networks.from_json(text)
    assert time.monotonic() - start < 10          # loosely: no build of anything big
    assert "/" not in err.value.message.replace("1/", "")   # no server paths in the words
    return err.value


def nested_residuals(depth: int) -> str:
    return ('{"input_shape": [3, 8, 8], "layers": ' + '[{"type": "residual", "layers": ' * depth
            + "[]" + "}]" * depth + "}")


def test_structure_attacks_are_spec_errors_not_crashes():
    refused("[" * 100_000 + "]" * 100_000, "nested")
    refused('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested")
    refused(nested_residuals(300), "nested")
    refused(nested_residuals(networks.MAX_NESTING + 2), "nested")
    refused(spec_text([{"type": "conv2d", "out": 1}]).replace('"out": 1', '"out": ' + "9" * 5000), "digits")
    refused(spec_text([{"type": "dropout", "p": 0.5}]).replace("0.5", "NaN"), "NaN")
    refused(spec_text([{"type": "relu"}] * (networks.MAX_LAYERS + 1)), "More than")
    # the same attacks as Python objects (a checkpoint's spec) never reach a RecursionError
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(SpecError, match="nested"):
        networks.validate({"input_shape": [3, 8, 8], "layers": deep})
    networks.from_json(nested_residuals(3))      # real nesting is fine


@pytest.mark.parametrize("name", ["forward", "training", "state_dict", "to", "add_module",
                                  "spec", "paths", "_modules", "class", "None"])
def test_layer_names_that_collide_with_the_module_are_refused(name):
    refused(spec_text([{"type": "relu", "name": name}]), "name")


def test_budgets_refuse_parameters_activations_and_input_shapes():
    two_gb = [{"type": "flatten"}, {"type": "linear", "in": 25_000, "out": 20_000},
              {"type": "linear", "in": 20_000, "out": 25_000}]
    refused(spec_text(two_gb, shape=(1, 125, 200)), "parameters")
    conv = [{"type": "conv2d", "out": 64, "padding": 1}]
    refused(spec_text(conv, shape=(3, 4096, 4096)), "GB for a single image")
    refused(spec_text(conv, shape=(3, 8000, 8000)), "out of range")
    refused(spec_text(conv, shape=(3, 0, 8)), "out of range")
    refused('{"torchvision": "resnet18", "input_shape": [3, 4096, 4096]}', "GB")
    # a spec that fails to build is sized on what a real build would make before failing
    huge_then_broken = [{"type": "flatten"}, {"type": "linear", "out": 10**9},
                        {"type": "residual", "layers": [{"type": "linear", "out": 10**9},
                                                        {"type": "conv2d", "out": 3}]}]
    refused(spec_text(huge_then_broken), "parameters")
    refused('{"torchvision": "resnet18", "weights": "DEFAULT\\")\\nimport os"}', "weights")
    refused(spec_text([], name=["not", "text"]), "name")


def test_budgets_are_generous_for_course_work():
    for name in networks.PRESETS:                  # the broken MNIST preset included
        networks.from_json(networks.to_json(networks.preset(name)))
    for tv in ("vgg16", "resnet50", "efficientnet_b0"):
        networks.from_json(json.dumps({"torchvision": tv, "input_shape": [3, 224, 224]}))
    params, act, out = networks.cost(networks.preset("mnist_simple_cnn"))
    assert params == sum(p.numel() for p in networks.build(networks.preset("mnist_simple_cnn")).parameters())
    assert out == (10,) and 0 < act < 2**20


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
TINY = {"name": "tiny", "input_shape": [3, 8, 8], "layers": [
    {"type": "conv2d", "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "flatten"}, {"type": "linear", "out": 2}]}


def checkpoint_bytes(spec=TINY, state_dict=None, **more) -> bytes:
    obj = {"format": checkpoints.FORMAT, "spec": spec, "class_names": ["a", "b"],
           "input_shape": spec.get("input_shape") if isinstance(spec, dict) else [3, 8, 8], "mean": [0.5] * 3, "std": [0.25] * 3,
           "state_dict": networks.build(TINY).state_dict() if state_dict is None else state_dict,
           **more}
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_a_good_checkpoint_still_loads():
    ck = checkpoints.load_checkpoint(checkpoint_bytes())
    assert ck.input_shape == (3, 8, 8) and ck.std == (0.25,) * 3 and ck.class_names == ["a", "b"]


@pytest.mark.parametrize("more,words", [
    ({"std": [0.0, 1.0, 1.0]}, "std .* above 0"),
    ({"std": [float("nan")] * 3}, "finite"),
    ({"mean": [float("inf")] * 3}, "finite"),
    ({"std": [1.0]}, "one per input channel"),
    ({"input_shape": [5, 8, 8], "spec": {**TINY, "layers": [{**TINY["layers"][0], "in": 3}, *TINY["layers"][1:]]}},
     "5 channel.*takes 3"),
    ({"spec": {**TINY, "layers": TINY["layers"][:2]}}, "no classifier head"),
    ({"input_shape": [3, 8000, 8000]}, "out of range"),
    ({"input_shape": [3, 4096, 4096], "spec": {**TINY, "layers": [{"type": "conv2d", "out": 64}] + TINY["layers"]}},
     "GB"),
    ({"input_shape": [3, 4096, 4096]}, "fc1.weight is 2x256 in the file but 2x67108864"),
    ({"class_names": ["a", "b", "c"]}, "3 classes.*2 scores"),
    ({"class_names": "ab"}, "class names"),
    ({"spec": [1, 2]}, "not a network description"),
    ({"spec": {**TINY, "layers": [{"type": "relu", "name": "forward"}] + TINY["layers"]}}, "taken"),
    ({"spec": {**TINY, "layers": [{"type": "relu"}] * 100_000}}, "More than"),
])
def test_unusable_checkpoints_are_refused_in_words(more, words):
    data = checkpoint_bytes(**{"spec": TINY, **more})
    with pytest.raises(CheckpointError, match=words):
        checkpoints.load_checkpoint(data)


def test_a_missing_checkpoint_names_no_server_path(tmp_path):
    with pytest.raises(CheckpointError) as err:
        checkpoints.load_checkpoint(tmp_path / "gone.pt")
    assert str(tmp_path) not in str(err.value) and "gone.pt" in str(err.value)


def test_a_tiny_checkpoint_declaring_huge_layers_allocates_nothing(tmp_path):
    spec = {"name": "huge", "input_shape": [1, 125, 200], "layers": [
        {"type": "flatten"}, {"type": "linear", "in": 25_000, "out": 20_000},   # 2 GB of weights
        {"type": "linear", "in": 20_000, "out": 25_000}]}                      # and 2 GB more
    path = tmp_path / "huge.pt"
    path.write_bytes(checkpoint_bytes(spec, state_dict={}, mean=[0.0], std=[1.0], class_names=[]))
    assert path.stat().st_size < 4096
    script = (
        "import resource, sys\n"
        "from playground import checkpoints\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    checkpoints.load_checkpoint({str(path)!r})\n"
        "except checkpoints.CheckpointError as e:\n"
        "    print('refused:', e)\n"
        "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "parameters" in out.stdout
    peak_mb = int(out.stdout.split("peak_kb")[1]) / 1024
    print(f"peak RSS growth refusing a 4 GB-declaring checkpoint: {peak_mb:.0f} MB")
    assert peak_mb < 500          # measured ~120 MB (meta-device sizing); the layers are 4,000 MB
