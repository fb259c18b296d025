"""The compiled mode's decision (playground.training.speed.use_compile) and its setting."""
from __future__ import annotations

import pytest

from playground.training import RunConfig, TrainingError
from playground.training.speed import COMPILE_MIN_STEPS, Forward, use_compile


def test_auto_compiles_only_long_cuda_runs():
    assert use_compile("auto", "cuda", COMPILE_MIN_STEPS)
    assert not use_compile("auto", "cuda", COMPILE_MIN_STEPS - 1)
    assert not use_compile("auto", "cpu", 10 * COMPILE_MIN_STEPS)
    assert not use_compile("auto", "mps", 10 * COMPILE_MIN_STEPS)


def test_on_and_off_are_obeyed_where_torch_can_compile():
    assert use_compile("on", "cuda", 1) and use_compile("on", "cpu", 1)
    assert not use_compile("on", "mps", 10 ** 6)
    assert not use_compile("off", "cuda", 10 ** 6)
    with pytest.raises(ValueError, match="choose auto, on, off"):
        use_compile("always", "cuda", 1)


def test_the_setting_is_checked_and_off_by_default_on_the_cpu():
    assert RunConfig().compile == "auto"
    with pytest.raises(TrainingError, match="compiled mode"):
        RunConfig(compile="yes").validate()


def test_an_eager_forward_is_the_module_itself():
    import torch
    from torch import nn

    net = nn.Linear(3, 2)
    phases = []
    fwd = Forward(net, compiled=False, on_phase=phases.append)
    x = torch.randn(4, 3)
    assert torch.equal(fwd(x), net(x)) and phases == []
