"""The compiled mode: the training step's forward captured in CUDA graphs by
``torch.compile(mode="reduce-overhead")``. Measured on an H100 (issue 12): the shapes network at
32 px, batch 512, gave 309k images/s compiled against 142k for a tuned eager loop, for about 10 s
of compile; each eager step costs ~3.6 ms of host work whatever its size, which is what the
graphs remove. So: on for CUDA runs long enough that the compile is a small part of them,
off on the CPU (no CUDA graphs there; a compile is minutes of a short run).

:func:`use_compile` is the decision (a pure function); :class:`Forward` calls the compiled
network and falls back to the eager one, with a message, when the compile fails."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# The compiled mode's settings and their labels (the CLI's --compile, the new-run form), once.
COMPILE_MODES = {"auto": "Auto: on for CUDA runs long enough to pay for the compile",
                 "on": "On: compile the training step (CUDA graphs on a GPU)",
                 "off": "Off: eager PyTorch"}
COMPILE_CHOICES = tuple(COMPILE_MODES)
COMPILE_HELP = ("torch.compile captures the training step in CUDA graphs: about 2x the images/s of "
                "a small network on a GPU, after ~10 s of compiling (shown as the run's phase).")
# "auto" compiles a CUDA run of at least this many steps: ~10 s of compile against a run of
# ~3.6 ms x 3,000 = 11 s of eager host work at least, so the compile pays for itself in one run.
COMPILE_MIN_STEPS = 3000


def use_compile(choice: str, device_type: str, total_steps: int) -> bool:
    """Whether a run compiles its training step: ``choice`` "on" / "off" as asked (on only
    where torch can compile for the device: CUDA or the CPU), "auto" on CUDA for runs of at
    least :data:`COMPILE_MIN_STEPS` steps."""
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"Unknown compile choice {choice!r}; choose {', '.join(COMPILE_CHOICES)}.")
    if choice == "off" or device_type not in ("cuda", "cpu"):
        return False
    if choice == "on":
        return True
    return device_type == "cuda" and total_steps >= COMPILE_MIN_STEPS


def pick_precision(device_type: str, amp: bool, bf16_supported: bool) -> str:
    """The training step's number format: "bf16" autocast where the GPU has bfloat16 (no grad
    scaler: bf16 has float32's range, so gradients do not underflow), "fp16" autocast with a
    grad scaler on older CUDA GPUs, "fp32" on the CPU, MPS, or with ``amp`` off."""
    if device_type != "cuda" or not amp:
        return "fp32"
    return "bf16" if bf16_supported else "fp16"


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}   # "fp32": autocast off


class Forward:
    """The network's forward for training steps: compiled (CUDA graphs on CUDA) when asked, the
    eager module otherwise or once the compile has failed. ``on_phase(message)`` is told when
    the compile starts ("compiling"), ends ("training") or fails (the reason)."""

    def __init__(self, model: nn.Module, compiled: bool, on_phase: Callable[[str], None] | None = None):
        self.model = model
        self.on_phase = on_phase or (lambda msg: None)
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.warm = False
        if compiled:
            mode = "reduce-overhead" if next(model.parameters()).device.type == "cuda" else None
            self.compiled = torch.compile(model, mode=mode)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is None:
            return self.model(x)
        if self.warm:
            return self.compiled(x)
        self.on_phase("compiling")          # the first calls trace and compile: seconds
        try:
            out = self.compiled(x)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train on, eagerly
            self.compiled = None
            self.on_phase(f"the compiled mode failed ({type(e).__name__}: {str(e)[:200]}); "
                          "training without it")
            return self.model(x)
        self.warm = True
        self.on_phase("training")
        return out
