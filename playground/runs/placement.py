"""Where the app's runs train on a machine with several GPUs: a pure function of the GPU count,
the runs in flight (the GPUs each holds) and the request, so it is tested on every case without
a GPU. ``PLAYGROUND_MAX_RUNS`` is read per GPU here: each GPU takes that many runs at once (a
small network leaves most of an H100 idle: two or three runs share one well); a run that finds
too few free GPUs waits in the queue.
"""
from __future__ import annotations

from typing import Iterable, Sequence

Gpus = tuple[int, ...]      # the machine's GPU numbers a run trains on; () the CPU


class PlacementError(ValueError):
    """A request that can never be placed here (more GPUs than the machine has); said in words."""


def place(gpu_count: int, in_flight: Iterable[Sequence[int]], want: int, per_gpu: int) -> Gpus | None:
    """The GPUs for a run asking for ``want`` of them, or None: wait in the queue.

    ``in_flight``: the GPUs of each run training now. A GPU is free while it holds fewer than
    ``per_gpu`` runs; the least busy free GPUs are taken (ties: the lowest numbers), so runs
    spread over the machine before they share a GPU. Without GPUs (``gpu_count`` 0) a run
    trains on the CPU, ``per_gpu`` runs at once: ``()`` or None."""
    per_gpu = max(1, int(per_gpu))
    flights = [tuple(g) for g in in_flight]
    if gpu_count <= 0:
        return () if len(flights) < per_gpu else None
    if not 1 <= want <= gpu_count:
        raise PlacementError(f"A run can use 1 to {gpu_count} GPUs here; {want} were asked for.")
    load = [0] * gpu_count
    for gpus in flights:
        for g in gpus:
            if 0 <= g < gpu_count:
                load[g] += 1
    free = sorted((g for g in range(gpu_count) if load[g] < per_gpu), key=lambda g: (load[g], g))
    if len(free) < want:
        return None
    return tuple(sorted(free[:want]))


def label(gpus: Sequence[int] | None) -> str:
    """Where a run trains, for the page: "CPU", "GPU 0", "GPUs 2-3", "GPUs 0, 2"."""
    if not gpus:
        return "CPU"
    gs = sorted(gpus)
    if len(gs) == 1:
        return f"GPU {gs[0]}"
    if gs == list(range(gs[0], gs[-1] + 1)):
        return f"GPUs {gs[0]}-{gs[-1]}"
    return "GPUs " + ", ".join(str(g) for g in gs)
