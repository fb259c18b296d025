"""playground.models: the catalogue lists the default model, runs' checkpoints and torchvision's
ImageNet classifiers; uploads load only weights-only checkpoints, and a malicious pickle never
runs."""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from playground import checkpoints, models, networks

torch.set_num_threads(1)

SPEC = {"name": "tiny", "input_shape": [3, 16, 16],
        "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "maxpool2d", "kernel": 2}, {"type": "globalavgpool"},
                   {"type": "flatten"}, {"type": "linear", "out": 3}]}


def tiny_checkpoint(path: Path, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    net = networks.build(SPEC).eval()
    checkpoints.save_checkpoint(path, net, spec=SPEC, class_names=["a", "b", "c"],
                                input_shape=[3, 16, 16], mean=[0.5] * 3, std=[0.25] * 3, **kw)
    return net


class Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_catalogue_lists_imagenet_models():
    keys = [e.key for e in models.catalogue()]
    for name in ("resnet18", "mobilenet_v3_small", "efficientnet_b0"):
        assert f"torchvision:{name}" in keys
    if models.default_model_path().is_file():
        assert keys[0] == "default"


def test_imagenet_categories_come_from_torchvision_metadata():
    names = models.imagenet_categories("resnet18")
    assert len(names) == 1000 and names[281] == "tabby" and names[0] == "tench"


def test_torchvision_offline_says_what_to_do():
    if models.weights_cached("mobilenet_v3_small"):
        pytest.skip("weights are cached here, so this machine cannot show the offline message")
    e = models.entry("torchvision:mobilenet_v3_small")
    with pytest.raises(models.ModelUnavailable, match="offline|download") as err:
        models.load(e)
    assert ".pth" in str(err.value)
    # a second try within the retry window answers at once with the same message
    with pytest.raises(models.ModelUnavailable, match="offline|download"):
        models.load(e)


def test_upload_a_real_checkpoint(tmp_path):
    path = tmp_path / "tiny.pt"
    net = tiny_checkpoint(path)
    lm = models.load_upload(path.read_bytes(), "tiny.pt")
    assert lm.kind == "upload" and lm.class_names == ["a", "b", "c"]
    assert lm.input_shape == (3, 16, 16) and lm.preprocess.mean == (0.5, 0.5, 0.5)
    x = torch.randn(1, 3, 16, 16)
    assert torch.allclose(lm.model(x), net(x))
    assert lm.params == sum(p.numel() for p in net.parameters())


def test_upload_refuses_a_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"spec": SPEC, "state_dict": {}, "payload": Exploit(marker)}, buf)
    with pytest.raises(models.ModelUnavailable, match="run code|Refused"):
        models.load_upload(buf.getvalue(), "evil.pt")
    assert not marker.exists()
    # a bare pickle (not even torch's zip format) is refused too, without running
    raw = pickle.dumps(Exploit(marker))
    with pytest.raises(models.ModelUnavailable):
        models.load_upload(raw, "evil.pkl")
    assert not marker.exists()


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"this is not a checkpoint", "not a readable"),
])
def test_upload_refuses_garbage(data, match):
    with pytest.raises(models.ModelUnavailable, match=match):
        models.load_upload(data, "x.pt")


def test_upload_refuses_a_plain_state_dict():
    buf = io.BytesIO()
    torch.save(networks.build(SPEC).state_dict(), buf)
    with pytest.raises(models.ModelUnavailable, match="plain state_dict"):
        models.load_upload(buf.getvalue(), "weights.pt")


def test_runs_checkpoints_are_listed(tmp_path, monkeypatch):
    from playground import runs

    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    d = tmp_path / "20260101-shapes"
    d.mkdir()
    tiny_checkpoint(d / "best.pt")
    tiny_checkpoint(d / "last.pt")
    (d / "config.json").write_text('{"id": "20260101-shapes", "created": 1.0, '
                                   '"config": {"name": "my shapes run"}}')
    (d / "status.json").write_text('{"status": "done"}')
    assert [r.id for r in runs.list_runs()] == ["20260101-shapes"]
    entries = [e for e in models.catalogue(torchvision_models=[]) if e.kind == "run"]
    assert [e.key for e in entries] == ["run:20260101-shapes:best", "run:20260101-shapes:last"]
    assert "my shapes run" in entries[0].label
    lm = models.load(entries[0])
    assert lm.class_names == ["a", "b", "c"] and lm.input_shape == (3, 16, 16)


def test_default_model_loads():
    path = models.default_model_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make default-model`.")
    lm = models.load(models.entry("default"))
    assert lm.kind == "default" and len(lm.class_names) == 8
    assert lm.preprocess.crop == tuple(lm.input_shape[1:])
