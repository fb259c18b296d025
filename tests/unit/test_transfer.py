"""Transfer learning, the course's capstone, end to end and offline: ImageNet weights placed in
torch's hub cache under torchvision's own file name (so the real loading code runs: torchvision's
``get_state_dict`` finds the file and does not download), a cats-vs-dogs style folder, ResNet-18
with a frozen backbone and a new head, unfrozen with a lower learning rate for the backbone
(parameter groups), five augmentations and a schedule. A frozen backbone stays frozen: its
BatchNorm statistics do not move until it is unfrozen. Offline without the file, the message says
where to put it."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from playground import checkpoints, images, models, networks, paths, training
from playground.data import make_shapes
from playground.networks import zoo
from playground.training import RunConfig, lr_schedule, make_optimizer, make_scheduler

torch.set_num_threads(1)
FIVE_AUGMENTATIONS = {"crop": 4, "hflip": True, "rotate": 10.0, "jitter": 0.2, "erase": 0.25}


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """$TORCH_HOME in a temporary folder; no network (a proxy that refuses every connection)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    return tmp_path / "torch"


def place_resnet18_weights() -> tuple[str, dict[str, torch.Tensor]]:
    """A randomly initialised resnet18's state_dict saved where torchvision looks for its
    ImageNet weights (the hash is checked only on download)."""
    w = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    for k, v in state.items():           # statistics that are not BatchNorm's defaults (0 and 1)
        if k.endswith("running_mean"):
            v.normal_(0, 0.1)
        elif k.endswith("running_var"):
            v.uniform_(0.5, 2.0)
    path = zoo.weights_file(w)
    assert path.name == w.url.rsplit("/", 1)[-1] == "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return str(path), state


def test_pretrained_weights_load_from_the_hub_cache(hub):
    _, state = place_resnet18_weights()
    model = networks.build_torchvision("resnet18", weights="DEFAULT", num_classes=2, freeze=True)
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert got["fc.weight"].shape == (2, 512)


def test_offline_without_the_file_says_where_to_put_it(hub):
    want = zoo.weights_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    assert not want.exists()
    with pytest.raises(networks.WeightsUnavailable) as err:
        networks.build_torchvision("resnet18", weights="DEFAULT")
    assert f"copy resnet18-f37072fd.pth into {want.parent}" in str(err.value)
    with pytest.raises(models.ModelUnavailable, match="resnet18-f37072fd.pth into"):
        models.load(models.entry("torchvision:resnet18", models.catalogue(torchvision_models=["resnet18"])))


def test_imagenet_classification_from_the_hub_cache(hub):
    """The picker's torchvision entry loads the placed file: 1000 classes named by torchvision's
    metadata, torchvision's own preprocessing, probabilities for a photo."""
    path, _ = place_resnet18_weights()
    e = models.entry("torchvision:resnet18", models.catalogue(torchvision_models=["resnet18"]))
    assert models.weights_cached("resnet18") and "downloads" not in e.label
    lm = models.load(e)
    assert len(lm.class_names) == 1000 and lm.class_names[281] == "tabby"
    assert lm.info["weights_file"] == path and lm.input_shape == (3, 224, 224)
    photo = images.load_image((paths.SAMPLES / "cat.jpg").read_bytes())
    with torch.no_grad():
        p = torch.softmax(lm.model(images.prepare(photo, lm.preprocess).tensor), 1)[0]
    assert p.shape == (1000,) and float(p.sum()) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------ frozen is frozen
def bn_stats(state) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in state.items() if k.endswith(("running_mean", "running_var"))
            and not k.startswith("fc.")}


def test_train_mode_keeps_frozen_batchnorm_frozen():
    torch.manual_seed(0)
    model = networks.build_torchvision("resnet18", num_classes=2, freeze=True)
    before = bn_stats(model.state_dict())
    x = torch.randn(4, 3, 32, 32)
    zoo.train_mode(model)
    assert not model.bn1.training and model.fc.training
    model(x)
    assert all(torch.equal(before[k], v) for k, v in bn_stats(model.state_dict()).items())
    networks.freeze_backbone(model, frozen=False)
    zoo.train_mode(model)
    assert model.bn1.training
    model(x)
    after = bn_stats(model.state_dict())
    assert not torch.equal(before["bn1.running_mean"], after["bn1.running_mean"])


# ------------------------------------------------------------------------------ parameter groups
@pytest.mark.parametrize("schedule", list(training.SCHEDULES))
def test_backbone_learns_at_a_fixed_fraction_of_the_head_rate(schedule):
    cfg = RunConfig(model={"torchvision": "resnet18", "pretrained": True, "freeze": True},
                    schedule=schedule, epochs=2, backbone_lr_scale=0.1)
    with torch.device("meta"):
        model = networks.build_torchvision("resnet18", num_classes=2, freeze=True)
    opt = make_optimizer(cfg, model)
    head, backbone = opt.param_groups
    assert (head["name"], backbone["name"]) == ("head", "backbone")
    assert {id(p) for p in head["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    assert len(head["params"]) + len(backbone["params"]) == len(list(model.parameters()))
    sched, when = make_scheduler(cfg, opt, 5)
    shown = lr_schedule(cfg, 5)
    for step in range(10):                           # stepped as the loop steps it
        assert backbone["lr"] == pytest.approx(0.1 * head["lr"], rel=1e-6)
        assert head["lr"] == pytest.approx(shown[step], rel=1e-6)    # the curve shows the head's
        opt.step()
        if sched is not None and (when == "step" or (when == "epoch" and (step + 1) % 5 == 0)):
            sched.step()
        elif sched is not None and when == "plateau" and (step + 1) % 5 == 0:
            sched.step(1.0)                          # a validation loss that does not improve
            shown = shown[:step + 1] + [head["lr"]] * 10   # lr_schedule draws plateau flat


def test_one_group_without_pretrained_weights():
    model = networks.build_torchvision("resnet18", num_classes=2)
    opt = make_optimizer(RunConfig(model={"torchvision": "resnet18", "pretrained": False}), model)
    assert [g["name"] for g in opt.param_groups] == ["all"]
    with pytest.raises(training.TrainingError, match="scale"):
        RunConfig(backbone_lr_scale=0).validate()


# ------------------------------------------------------------------------------ the capstone
def cats_vs_dogs(root, n: int = 24):
    """A folder laid out like the course's cats-vs-dogs data: one folder per class."""
    d = make_shapes(2 * n, size=48, seed=3, classes=["circle", "square"])
    for i, (x, y) in enumerate(zip(d.images, d.labels)):
        folder = root / ("cats" if int(y) == 0 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return root


def test_capstone_end_to_end(hub, tmp_path):
    _, pretrained = place_resnet18_weights()
    cfg = RunConfig(name="capstone", data={"name": "folder", "path": str(cats_vs_dogs(tmp_path / "pets")),
                                           "size": 32},
                    model={"torchvision": "resnet18", "pretrained": True, "freeze": True,
                           "unfreeze_epoch": 1, "image_size": 32},
                    epochs=2, batch_size=16, schedule="cosine", augment=dict(FIVE_AUGMENTATIONS),
                    backbone_lr_scale=0.1)
    run = training.Run("capstone", tmp_path / "runs" / "capstone", cfg)
    run.start_files()
    frozen_epoch = tmp_path / "after-frozen-epoch.pt"

    def keep_first_epoch(r):   # the first step of epoch 2: last.pt is still epoch 1's
        if len(r.epochs) == 1 and not frozen_epoch.exists():
            shutil.copy(r.dir / "last.pt", frozen_epoch)

    training.train(run, on_progress=keep_first_epoch)
    assert run.status == "finished", run.error_detail
    assert [e["epoch"] for e in run.events if e.get("event") == "unfreeze"] == [1]
    start = bn_stats(pretrained)
    e1 = checkpoints.load_checkpoint(frozen_epoch).model.state_dict()
    e2 = checkpoints.load_checkpoint(run.dir / "last.pt").model.state_dict()
    # frozen epoch: backbone weights and BatchNorm statistics exactly the pretrained ones
    assert all(torch.equal(e1[k], v) for k, v in start.items())
    assert torch.equal(e1["conv1.weight"], pretrained["conv1.weight"])
    assert not torch.equal(e1["fc.weight"], e2["fc.weight"])
    # after unfreezing: both move
    assert not torch.equal(e2["bn1.running_mean"], start["bn1.running_mean"])
    assert not torch.equal(e2["conv1.weight"], pretrained["conv1.weight"])
    ck = checkpoints.load_checkpoint(run.dir / "last.pt")
    assert ck.class_names == ["cats", "dogs"] and ck.input_shape == (3, 32, 32)
    assert ck.run["config"]["augment"] == FIVE_AUGMENTATIONS
    assert np.isfinite([e["train_loss"] for e in run.epochs]).all()
