"""Step lines without a host sync each step (playground.training.metrics.StepRecords): the deferred
mode CUDA uses, forced on this CPU, writes exactly the lines the eager mode writes, and still
stops a run whose loss blows up; the precision a run trains in (speed.pick_precision)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from playground.data import load_data
from playground.runs import store
from playground.training import Run, RunConfig, train
from playground.training import metrics
from playground.training.metrics import MAX_PENDING, StepRecords
from playground.training.speed import pick_precision

torch.set_num_threads(1)
DATA = {"name": "shapes", "n_train": 600, "n_val": 200, "seed": 0, "texture": 0.0, "classes": ["circle", "cross"]}
SPEC = {"name": "tiny", "input_shape": [3, 32, 32],
        "layers": [{"type": "conv2d", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                   {"type": "maxpool2d", "kernel": 4}, {"type": "flatten"}, {"type": "linear", "out": 2}]}
CPU = torch.device("cpu")


def _train(tmp_path, name: str, deferred: bool, monkeypatch, **kw) -> tuple[Run, list[dict]]:
    """A short real run on this CPU, its step lines read eagerly or deferred; (run, metrics.jsonl's step lines)."""
    monkeypatch.setattr(StepRecords, "DEFERRED_ON", ("cpu",) if deferred else ("cuda",))
    cfg = RunConfig(**{"name": name, "data": DATA, "model": {"spec": SPEC}, "optimizer": "adam", "lr": 3e-3,
                       "batch_size": 16, "epochs": 2, "schedule": "none", **kw})
    run = Run(name, tmp_path / name, cfg, dataset=load_data(DATA))
    run.dir.mkdir()
    run.start_files()
    train(run)
    lines = [json.loads(x) for x in (run.dir / store.METRICS).read_text().splitlines()]
    return run, [r for r in lines if r["type"] == "step"]


def _without_time(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in lines]


@pytest.mark.parametrize("every", [0.0, metrics.READ_EVERY_S])   # a read each step; the run's interval
def test_deferred_lines_are_the_eager_lines(tmp_path, monkeypatch, every):
    eager_run, eager = _train(tmp_path, "eager", False, monkeypatch)
    monkeypatch.setattr(metrics, "READ_EVERY_S", every)
    deferred_run, deferred = _train(tmp_path, "deferred", True, monkeypatch)
    assert eager_run.status == deferred_run.status == "finished", deferred_run.error_detail
    assert [r["step"] for r in deferred] == list(range(1, 2 * 37 + 1))      # every step, once, in order
    assert _without_time(deferred) == _without_time(eager)                  # same steps, losses, lr, keys
    assert list(deferred[0]) == list(eager[0]) == ["type", "step", "epoch", "loss", "lr", "time"]
    assert deferred_run.steps == deferred                                   # the live view: the same lines
    # every step's line is written before its epoch's line
    records = [json.loads(x) for x in (deferred_run.dir / store.METRICS).read_text().splitlines()]
    first_epoch = next(k for k, r in enumerate(records) if r["type"] == "epoch")
    assert records[first_epoch - 1] == {**deferred[36], "type": "step"} and records[first_epoch]["step"] == 37


def test_deferred_mode_still_stops_a_loss_that_blows_up(tmp_path, monkeypatch):
    run, steps = _train(tmp_path, "nan", True, monkeypatch, optimizer="sgd", lr=1e4, momentum=0.9)
    assert run.status == "failed"
    assert "NaN" in run.error or "infinite" in run.error
    assert "learning rate" in run.error and f"at step {steps[-1]['step']} " in run.error
    assert not math.isfinite(steps[-1]["loss"]) and all(math.isfinite(s["loss"]) for s in steps[:-1])
    assert len(steps) < 37                             # caught in epoch 1, nothing after the NaN line
    assert [s["step"] for s in run.steps] == [s["step"] for s in steps]


def test_lines_wait_for_the_read_then_come_in_order():
    rec = StepRecords(CPU, deferred=True, every=math.inf)
    for k in range(5):
        assert rec.add({"step": k + 1, "loss": None}, torch.tensor(float(k))) == []   # nothing read yet
    assert [(r["step"], r["loss"]) for r in rec.drain()] == [(k + 1, float(k)) for k in range(5)]
    assert rec.drain() == [] and rec.blown is None
    eager = StepRecords(CPU)
    assert not eager.deferred and eager.add({"step": 1, "loss": None}, 0.25) == [{"step": 1, "loss": 0.25}]


def test_a_full_ring_is_read_without_waiting_for_the_interval():
    rec = StepRecords(CPU, deferred=True, every=math.inf)
    got = [line for k in range(MAX_PENDING + 1) for line in rec.add({"step": k + 1, "loss": None}, torch.tensor(1.0))]
    assert [r["step"] for r in got] == list(range(1, MAX_PENDING + 1))
    assert [r["step"] for r in rec.drain()] == [MAX_PENDING + 1]


def test_nothing_after_the_first_non_finite_loss():
    rec = StepRecords(CPU, deferred=True, every=math.inf)
    for k, v in enumerate([1.0, float("inf"), float("nan"), 2.0]):
        rec.add({"step": k + 1, "loss": None}, torch.tensor(v))
    lines = rec.drain()
    assert [r["step"] for r in lines] == [1, 2] and rec.blown is lines[-1] and rec.blown["loss"] == math.inf
    assert rec.drain() == []


def test_precision_bf16_where_the_gpu_has_it_else_fp16_with_a_scaler():
    assert pick_precision("cuda", True, bf16_supported=True) == "bf16"
    assert pick_precision("cuda", True, bf16_supported=False) == "fp16"
    assert pick_precision("cuda", False, bf16_supported=True) == "fp32"
    assert pick_precision("cpu", True, bf16_supported=True) == "fp32"
    assert pick_precision("mps", True, bf16_supported=False) == "fp32"


def test_a_cpu_run_records_its_precision(tmp_path, monkeypatch):
    run, _ = _train(tmp_path, "info", False, monkeypatch, epochs=1)
    assert run.info["precision"] == "fp32" and run.info["amp"] is False


def test_the_compiled_mode_is_a_cli_option():
    from playground import cli

    assert cli.run_config(cli.parser().parse_args(["train", "--compile", "on"])).compile == "on"
    assert cli.run_config(cli.parser().parse_args(["train"])).compile == RunConfig().compile
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["train", "--compile", "always"])
