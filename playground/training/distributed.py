"""One run on many processes: ``torchrun --nproc_per_node=N -m playground train ...``.

Every rank loads the same data onto its own device (``cuda:LOCAL_RANK``, or the CPU) and trains
the same network wrapped in DistributedDataParallel (NCCL on CUDA, gloo on the CPU; env:// from
torchrun's variables). :class:`Group` is what the loop asks: which rank am I, my shard of an
epoch's order, sums over the ranks, whether any rank was asked to stop. With one process every
call is a no-op, so the loop is one code path whether or not torchrun started it.

The global batch is the config's ``batch_size``, split evenly over the ranks (each takes
``batch_size / world`` images a step and DDP averages their gradients): a run learns the same
with 1 or 8 processes (same steps per epoch, same schedule, same effective batch), and the
defaults' "these numbers learn" stays true. More GPUs go faster by raising the batch size.

Rank 0 alone writes the run folder; the others train with ``Run.writes`` off.
"""
from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .config import TrainingError
from .evaluate import logits, loss_and_accuracy, scores

# Under torchrun the ranks agree on a stop (any rank's Ctrl-C / SIGTERM / the app's Stop) every
# this many steps: one tiny all_reduce, so a host sync on CUDA, each STOP_EVERY steps, not each.
STOP_EVERY = 8
_GROUP: "Group | None" = None     # this process's, once :func:`init` joined torchrun's


@dataclass(frozen=True)
class Group:
    """This process's place in the run: rank, world size, local rank. ``Group()``: one process."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    ctrl: Any = None        # a gloo group for the launch's messages (the run id), apart from training's

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, dev: torch.device) -> torch.device:
        """``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun (one GPU per rank)."""
        if self.world > 1 and dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", self.local_rank)
        if dev.type == "cuda" and dev.index is not None:
            torch.cuda.set_device(dev)      # NCCL and the default stream follow this rank's GPU
        return dev

    def batch(self, batch_size: int) -> int:
        """This rank's share of the global batch."""
        if batch_size % self.world:
            raise TrainingError(f"The batch size ({batch_size}) must be a multiple of the number of "
                                f"processes ({self.world}): each takes an equal share of every batch.")
        return batch_size // self.world

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's part of an epoch's order (the same on every rank: the same seeded
        generator): every ``world``-th index from ``rank``, the tail that does not divide cut,
        so every rank takes the same number of steps (DistributedSampler with drop_last)."""
        if self.world == 1:
            return order
        n = order.shape[0] // self.world * self.world
        return order[self.rank:n:self.world]

    def sum(self, *values: torch.Tensor) -> list[torch.Tensor]:
        """Each tensor summed over the ranks (in place); as they are with one process."""
        if self.world > 1:
            for v in values:
                dist.all_reduce(v, op=dist.ReduceOp.SUM)
        return list(values)

    def stopping(self, asked: bool, step: int, device: torch.device) -> bool:
        """Whether the run stops now. One process: ``asked``. Under torchrun: every
        :data:`STOP_EVERY` steps (the same steps on every rank) the ranks agree, so all of them
        stop at the same step (a rank that stopped alone would leave the others waiting)."""
        if self.world == 1:
            return asked
        if step % STOP_EVERY:
            return False
        flag = torch.tensor([1 if asked else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training steps call: DistributedDataParallel under torchrun (only the
        parameters that train now take part: wrap again after unfreezing), else the model."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        # A frozen backbone (transfer learning) takes part too, so that it syncs once unfrozen:
        # DDP keeps only the parameters that train when it is made; the frozen ones, without
        # gradients until then, are "unused" (find_unused_parameters) and left alone.
        frozen = [p for p in model.parameters() if not p.requires_grad]
        for p in frozen:
            p.requires_grad_(True)
        try:
            return DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                       find_unused_parameters=bool(frozen))
        finally:
            for p in frozen:
                p.requires_grad_(False)

    def evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std,
                 **input_args: Any) -> tuple[float, float]:
        """(mean loss, accuracy) over the whole of ``x``, ``y``: one process evaluates it all;
        under torchrun each rank its slice, with rank 0's BatchNorm statistics (each rank's
        moved with its last batch), the sums gathered: the same figures as one process."""
        if self.world == 1:
            return loss_and_accuracy(logits(model, x, mean, std, **input_args), y)
        for b in model.buffers():
            dist.broadcast(b, src=0)
        part = torch.tensor_split(torch.arange(x.shape[0], device=x.device), self.world)[self.rank]
        out = logits(model, x[part], mean, std, **input_args)
        dev = next(model.parameters()).device
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        if part.numel():
            yp = y[part].to(out.device)
            sums += torch.stack([F.cross_entropy(out, yp, reduction="sum").double(),
                                 (out.argmax(1) == yp).sum().double(),
                                 torch.tensor(float(part.numel()), dtype=torch.float64, device=out.device)]).to(dev)
        self.sum(sums)
        loss, correct, n = sums.tolist()
        return loss / max(n, 1), correct / max(n, 1)

    def scores(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, loss_fn, metrics,
               **kw: Any) -> dict[str, Any]:
        """Any task's validation (:func:`.evaluate.scores`) over the whole of ``x``, ``y``: under
        torchrun each rank its slice with rank 0's BatchNorm statistics; the task's torchmetrics
        sum their states over the process group themselves in ``compute()``, the loss and the
        targets right are summed here: the same figures as one process evaluating rank 0's model."""
        if self.world == 1:
            return scores(model, x, y, mean, std, loss_fn, metrics, **kw)
        for b in model.buffers():
            dist.broadcast(b, src=0)
        part = torch.tensor_split(torch.arange(x.shape[0], device=x.device), self.world)[self.rank]
        s = scores(model, x[part], y[part], mean, std, loss_fn, metrics, **kw)
        sums = torch.tensor([s["loss"] * s["images"], s["acc"] * s["counted"], s["images"], s["counted"]],
                            dtype=torch.float64, device=next(model.parameters()).device)
        self.sum(sums)
        loss, right, images, counted = sums.tolist()
        return {**s, "loss": loss / max(images, 1), "acc": right / max(counted, 1), "images": int(images),
                "counted": int(counted)}

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (the run id; a refusal's message)."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.ctrl)
        return box[0]


def current() -> Group:
    """The group of this process: torchrun's when the process group is up, else one process."""
    if _GROUP is not None:
        return _GROUP
    if dist.is_available() and dist.is_initialized():   # a group made elsewhere (a notebook)
        return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Group()


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "auto") -> Group:
    """Join torchrun's process group (env://: RANK, WORLD_SIZE, MASTER_ADDR ...): NCCL when this
    rank trains on CUDA, gloo otherwise. One process (no torchrun): ``Group()``, nothing done."""
    global _GROUP
    if not under_torchrun():
        return Group()
    if dist.is_initialized():
        return current()
    cuda = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo", init_method="env://",
                            **({"device_id": torch.device("cuda", local)} if cuda else {}))
    ctrl = dist.new_group(backend="gloo")
    _GROUP = Group(dist.get_rank(), dist.get_world_size(), local, ctrl)
    return _GROUP


def teardown() -> None:
    """Leave the process group (never raises: it runs while a failed run is being ended)."""
    global _GROUP
    _GROUP = None
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - a peer that died leaves nothing to tear down cleanly
            pass


def on_stop_signals(stop: Callable[[], None]) -> None:
    """SIGINT and SIGTERM call ``stop`` (every time: torchrun forwards the terminal's Ctrl-C, so
    a rank can get it twice) instead of raising KeyboardInterrupt or ending the process: every
    rank then stops at the same step and rank 0 writes "stopped"."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop())


def start_rank(group: Group, begin: Callable[[], Any], root: Path, *, dataset: Any = None,
               resume: bool = False) -> Any:
    """The run this process trains, a :class:`~.run.Run`. Rank 0 (or the one process):
    ``begin()`` (the registry's start or resume: the folder, the lock, the training thread)
    returns it, its id shared with the other ranks; they train the same run, read from its
    config.json, writing nothing. A refusal on rank 0 (TrainingError, DataError) is raised on
    every rank, in the same words."""
    from ..runs import store
    from .config import RunConfig
    from .loop import train
    from .run import Run

    if group.main:
        try:
            run = begin()
        except Exception as e:
            group.share({"error": str(e)})
            raise
        group.share({"id": run.id})
        return run
    got = group.share(None)
    if "error" in got:
        raise TrainingError(got["error"])
    saved = store.read_config(root / got["id"])
    run = Run(got["id"], root / got["id"], RunConfig.from_dict(saved.get("config", {})),
              created=saved.get("created"), dataset=dataset, resume=resume)
    run.thread = threading.Thread(target=train, args=(run,), daemon=True, name=f"train-{run.id}-rank{group.rank}")
    run.thread.start()
    return run


class NullLog:
    """The metrics log of a rank that writes nothing (ranks > 0)."""

    def write(self, obj: dict, flush: bool = False) -> None:
        pass

    def close(self) -> None:
        pass
