"""playground.training: a run learns, stops within a step, detects NaN, queues, resumes;
schedules come from torch's schedulers; the coach reads curves."""
from __future__ import annotations

import json
import math
import time

import pytest
import torch

from playground import checkpoints, data, runs, training
from playground.training import RunConfig

torch.set_num_threads(1)
R = {"type": "relu"}


def tiny_spec(classes: int = 2, bn: bool = True) -> dict:
    """A small CNN that learns the plain shapes in a couple of CPU seconds."""
    def conv(o):
        return [{"type": "conv2d", "out": o, "kernel": 3, "padding": 1}, *([{"type": "batchnorm2d"}] if bn else []), R]
    return {"name": "tiny", "input_shape": [3, 32, 32],
            "layers": [*conv(8), {"type": "maxpool2d", "kernel": 2}, *conv(16), {"type": "maxpool2d", "kernel": 2},
                       *conv(16), {"type": "maxpool2d", "kernel": 2},
                       {"type": "flatten"}, {"type": "linear", "out": classes}]}


def quick_config(**kw) -> RunConfig:
    base = dict(name="quick", model={"spec": tiny_spec()}, optimizer="adam", lr=3e-3, weight_decay=0.0,
                batch_size=16, epochs=3, schedule="none",
                data={"name": "shapes", "n_train": 1200, "n_val": 300, "seed": 0, "texture": 0.0,
                      "classes": ["circle", "cross"]})
    base.update(kw)
    return RunConfig(**base)


def wait_for(cond, timeout=60.0, every=0.02):
    t = time.time() + timeout
    while time.time() < t:
        if cond():
            return True
        time.sleep(every)
    return False


def test_config_roundtrips_json():
    c = quick_config(augment={"crop": 4, "hflip": True, "rotate": 0, "jitter": 0, "erase": 0})
    d = json.loads(json.dumps(c.to_dict()))
    assert RunConfig.from_dict(d) == c
    with pytest.raises(training.TrainingError):
        quick_config(lr=-1).validate()


def test_run_learns_the_plain_shapes_and_writes_its_folder(tmp_path):
    """Stated accuracy: >= 95% validation accuracy on circle vs cross (plain backgrounds) after
    3 epochs of 1,200 images (about 2-3 CPU seconds on one thread)."""
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config())
    assert reg.wait(rid, 120)
    run = reg.get(rid)
    assert run.status == "finished", run.error_detail
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3]
    assert run.epochs[-1]["val_acc"] >= 0.95
    assert run.epochs[-1]["train_loss"] < run.epochs[0]["train_loss"]
    first = sum(s["loss"] for s in run.steps[:10]) / 10
    last = sum(s["loss"] for s in run.steps[-10:]) / 10
    assert last < 0.5 * first
    # the folder: settings, metrics as lines, checkpoints that load and give the logged accuracy
    d = run.dir
    assert json.loads((d / "config.json").read_text())["config"]["lr"] == 3e-3
    steps, epochs, _ = runs.read_metrics(d)
    assert len(steps) == len(run.steps) and epochs == run.epochs
    ck = checkpoints.load_checkpoint(d / "best.pt")
    assert ck.class_names == ["circle", "cross"] and ck.input_shape == (3, 32, 32)
    ds = data.load_data(run.config.data)
    out = training.logits(ck.model, ds.val_x, ck.mean, ck.std)
    acc = float((out.argmax(1) == ds.val_y).float().mean())
    assert acc == pytest.approx(max(e["val_acc"] for e in run.epochs), abs=1e-6)
    assert ck.run["id"] == rid
    analysis = json.loads((d / "analysis.json").read_text())
    cm = torch.tensor(analysis["confusion"])
    assert cm.sum() == 300 and cm.diag().sum() / 300 == pytest.approx(run.epochs[-1]["val_acc"])
    info = runs.find_run(rid, tmp_path)
    assert info.status == "finished" and info.best_checkpoint and info.summary["epochs"] == 3


def test_nan_stops_the_run_and_the_coach_says_why(tmp_path):
    reg = runs.Registry(tmp_path)
    cfg = quick_config(model={"spec": tiny_spec(bn=False)}, optimizer="sgd", lr=1e4, momentum=0.9, epochs=2)
    rid = reg.start(cfg)
    assert reg.wait(rid, 120)
    run = reg.get(rid)
    assert run.status == "failed"
    assert "NaN" in run.error or "infinite" in run.error
    assert "learning rate" in run.error
    assert not math.isfinite(run.steps[-1]["loss"]) and len(run.steps) < 75  # stopped in epoch 1
    advice = training.diagnose(run.steps, run.epochs, 2, status=run.status, error=run.error)
    assert advice[0].kind == "nan" and advice[0].level == "error"
    assert runs.find_run(rid, tmp_path).status == "failed"


def test_stop_takes_effect_within_one_step(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=50, batch_size=8))
    run = reg.get(rid)
    assert wait_for(lambda: len(run.steps) >= 3)
    reg.stop(rid)
    at_stop = len(run.steps)
    assert run.done.wait(30)
    assert run.status == "stopped"
    assert len(run.steps) <= at_stop + 1
    assert runs.find_run(rid, tmp_path).status == "stopped"


def test_extra_runs_wait_in_the_queue(tmp_path):
    reg = runs.Registry(tmp_path, max_concurrent=1)
    a = reg.start(quick_config(epochs=50, batch_size=8, name="a"))
    b = reg.start(quick_config(epochs=50, batch_size=8, name="b"))
    ra, rb = reg.get(a), reg.get(b)
    assert wait_for(lambda: len(ra.steps) >= 2)
    assert rb.status == "queued" and rb.thread is None and not rb.steps
    assert runs.find_run(b, tmp_path).status == "queued"
    reg.stop(a)
    assert wait_for(lambda: len(rb.steps) >= 2)  # b got the slot
    assert ra.status == "stopped"
    reg.stop(b)
    assert rb.done.wait(30) and rb.status == "stopped"


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=3, batch_size=16))
    run = reg.get(rid)
    assert wait_for(lambda: len(run.epochs) >= 1 and len(run.steps) > run.epochs[0]["step"] + 2, 120)
    reg.stop(rid)
    assert run.done.wait(30) and run.status == "stopped"
    assert (run.dir / "resume.pt").exists()
    reg.resume(rid)
    run2 = reg.get(rid)
    assert run2 is not run and run2.done.wait(120)
    assert run2.status == "finished", run2.error_detail
    steps, epochs, events = runs.read_metrics(run2.dir)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    numbers = [s["step"] for s in steps]
    assert numbers == list(range(1, len(numbers) + 1))  # nothing lost, nothing counted twice
    assert numbers[-1] == epochs[-1]["step"] == 3 * (1200 // 16)
    assert any(e.get("event") == "resumed" and e["epoch"] == 1 for e in events)
    assert epochs[-1]["val_acc"] >= 0.9


@pytest.mark.parametrize("schedule", list(training.SCHEDULES))
def test_schedules_from_torch(schedule):
    cfg = RunConfig(lr=0.1, epochs=4, schedule=schedule, step_size=1, gamma=0.5, warmup_epochs=1)
    lrs = training.lr_schedule(cfg, steps_per_epoch=10)
    assert len(lrs) == 40 and all(v >= 0 for v in lrs)
    if schedule in ("none", "plateau"):
        assert lrs == [0.1] * 40
    elif schedule == "step":
        assert lrs[0] == lrs[9] == 0.1 and lrs[10] == pytest.approx(0.05) and lrs[39] == pytest.approx(0.0125)
    elif schedule == "cosine":
        assert lrs[0] == 0.1 and lrs[20] == pytest.approx(0.05, rel=1e-6) and lrs[-1] < 0.001
    elif schedule == "onecycle":
        peak = max(range(40), key=lrs.__getitem__)
        assert lrs[0] < 0.01 and lrs[peak] == pytest.approx(0.1, rel=0.02) and 5 <= peak <= 20 and lrs[-1] < 1e-3
    elif schedule == "warmup_cosine":
        assert lrs[0] == pytest.approx(0.001) and lrs[0] < lrs[5] < lrs[9] and max(lrs) == pytest.approx(0.1, rel=1e-3)
        assert lrs[-1] < 0.01


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_runs_its_fused_kernel_on_the_cpu_with_the_same_steps(name):
    """One kernel call a step for all parameters, the same updates as torch's per-tensor Adam."""
    torch.manual_seed(0)
    model, twin = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    twin.load_state_dict(model.state_dict())
    cfg = RunConfig(optimizer=name, lr=1e-2)
    opt = training.make_optimizer(cfg, model)
    plain = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name](
        twin.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    assert opt.defaults["fused"] is True and not plain.defaults["fused"]
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(5):
        for m, o in ((model, opt), (twin, plain)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            o.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b)
    assert not training.make_optimizer(RunConfig(optimizer="sgd"), model).defaults.get("fused")


# -- the coach on made-up curves -----------------------------------------------------------------
def _steps(values):
    return [{"step": i + 1, "loss": v, "lr": 0.1} for i, v in enumerate(values)]


def test_coach_not_learning():
    flat = [math.log(10) + 0.01 * ((i * 7919) % 5 - 2) for i in range(200)]
    kinds = [a.kind for a in training.diagnose(_steps(flat), [], 10, status="running")]
    assert kinds == ["not_learning"]


def test_coach_wild_swings():
    swing = [0.4 + (1.6 if i % 2 else 0.0) for i in range(200)]
    assert [a.kind for a in training.diagnose(_steps(swing), [], 10)] == ["unstable"]


def test_coach_overfitting_and_healthy():
    falling = [2.3 * math.exp(-i / 50) + 0.05 for i in range(200)]
    ep = lambda e, tr, va, acc: {"epoch": e, "step": 40 * e, "train_loss": tr, "val_loss": va, "val_acc": acc}  # noqa: E731
    over = [ep(1, 1.0, 0.9, 0.7), ep(2, 0.6, 0.7, 0.8), ep(3, 0.3, 0.8, 0.8), ep(4, 0.1, 1.0, 0.79)]
    adv = training.diagnose(_steps(falling), over, 10, status="finished")
    assert [a.kind for a in adv] == ["overfitting"] and adv[0].epoch == 2
    good = [ep(1, 1.0, 0.9, 0.7), ep(2, 0.6, 0.6, 0.8), ep(3, 0.3, 0.4, 0.9)]
    assert [a.kind for a in training.diagnose(_steps(falling), good, 10, status="finished")] == ["good"]


def test_torchvision_model_frozen_then_unfrozen(tmp_path):
    """Transfer learning's path (without the ImageNet download, which needs internet): a
    torchvision ResNet-18 with a new head for 2 classes, backbone frozen, unfrozen at epoch 1."""
    cfg = quick_config(model={"torchvision": "resnet18", "pretrained": False, "freeze": True,
                              "unfreeze_epoch": 1, "image_size": 32},
                       data={"name": "shapes", "n_train": 48, "n_val": 16, "seed": 0, "texture": 0.0,
                             "classes": ["circle", "cross"]}, epochs=2, batch_size=16)
    run = training.Run("tv", tmp_path / "tv", cfg)
    run.start_files()
    seen = []
    training.train(run, on_progress=lambda r: seen.append(dict(r.info)) if len(seen) < 1 else None)
    assert run.status == "finished", run.error_detail
    head = 2 * 512 + 2
    assert seen[0]["trainable"] == head and seen[0]["frozen"] == seen[0]["params"] - head
    assert run.info["trainable"] == run.info["params"] and run.info["frozen"] == 0
    assert [e["epoch"] for e in run.events if e.get("event") == "unfreeze"] == [1]
    ck = checkpoints.load_checkpoint(run.dir / "last.pt")
    assert ck.input_shape == (3, 32, 32) and ck.spec["torchvision"] == "resnet18"
    x = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    assert training.logits(ck.model, x, ck.mean, ck.std).shape == (3, 2)
