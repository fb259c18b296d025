"""Where the app's runs train on a machine with several GPUs (playground/runs/placement.py, a
pure function) and the torchrun command line the app starts them with (runs/launch.py)."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from playground.runs import launch, placement
from playground.runs.placement import PlacementError, label, place


@pytest.mark.parametrize("gpus, flights, want, per_gpu, expected", [
    (4, [], 1, 1, (0,)),                      # an idle machine: the first GPU
    (4, [], 2, 1, (0, 1)),
    (4, [], 4, 1, (0, 1, 2, 3)),
    (4, [(0,)], 1, 1, (1,)),                  # GPU 0 busy: the next one
    (4, [(0, 1)], 2, 1, (2, 3)),              # a 2-GPU run beside a 2-GPU run
    (4, [(0, 1)], 3, 1, None),                # 3 wanted, 2 free: queue
    (4, [(0, 1), (2, 3)], 1, 1, None),        # every GPU full
    (4, [(0, 1), (2, 3)], 1, 2, (0,)),        # two runs per GPU: room again
    (4, [(0,), (0,), (1,)], 1, 2, (2,)),      # the least busy GPU first
    (4, [(0,), (1,), (2,)], 2, 2, (0, 3)),    # an idle GPU before a shared one
    (2, [(0,), (0,)], 1, 2, (1,)),
    (2, [(0,), (0,), (1,), (1,)], 1, 2, None),
    (8, [(1,), (3,)], 3, 1, (0, 2, 4)),       # free GPUs need not be neighbours
    (3, [(0, 1, 2)], 3, 2, (0, 1, 2)),
    (3, [(0, 1, 2), (0, 1, 2)], 1, 2, None),
    (2, [(5,), (-1,)], 2, 1, (0, 1)),         # GPUs the machine doesn't have are ignored
])
def test_place(gpus, flights, want, per_gpu, expected):
    assert place(gpus, flights, want, per_gpu) == expected


def test_place_on_the_cpu_counts_runs():
    """No GPU: the CPU, ``per_gpu`` runs at once (() means the CPU, None the queue)."""
    assert place(0, [], 1, 1) == ()
    assert place(0, [()], 1, 1) is None
    assert place(0, [(), ()], 1, 3) == ()


@pytest.mark.parametrize("gpus, want", [(2, 3), (4, 0), (1, -1), (8, 9)])
def test_a_request_that_can_never_fit_is_said_in_words(gpus, want):
    with pytest.raises(PlacementError, match=f"1 to {gpus} GPUs"):
        place(gpus, [], want, 1)


def test_place_never_overfills_a_gpu_and_fills_them_all():
    """Every sequence of requests on 4 GPUs, 1-2 runs per GPU: a placement never puts more
    than ``per_gpu`` runs on a GPU, gives exactly what was asked, and queues only when too
    few GPUs have room."""
    for per_gpu, wants in itertools.product((1, 2), itertools.product((1, 2, 3), repeat=4)):
        flights: list[tuple[int, ...]] = []
        for want in wants:
            got = place(4, flights, want, per_gpu)
            load = [sum(g in f for f in flights) for g in range(4)]
            room = sum(1 for n in load if n < per_gpu)
            if got is None:
                assert room < want
                continue
            assert len(got) == want == len(set(got)) and all(load[g] < per_gpu for g in got)
            flights.append(got)


def test_labels():
    assert label(()) == "CPU" and label(None) == "CPU"
    assert label((0,)) == "GPU 0"
    assert label((3, 2)) == "GPUs 2-3"
    assert label((0, 1, 2, 3)) == "GPUs 0-3"
    assert label((0, 2)) == "GPUs 0, 2"


def test_torchrun_command_line(tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    cmd = launch.torchrun_command(run_dir, 4)
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert cmd[5:8] == ["-m", "playground", "train"]
    assert cmd[cmd.index("--config") + 1] == str(run_dir / launch.SETTINGS)
    assert cmd[cmd.index("--run-id") + 1] == "r1"
    assert cmd[cmd.index("--runs-dir") + 1] == str(tmp_path / "runs")
    again = launch.torchrun_command(run_dir, 2, resume=True)
    assert again[again.index("--resume") + 1] == "r1" and "--config" not in again


def test_launcher_queues_what_does_not_fit(tmp_path):
    """A launcher on a (pretend) 2-GPU machine, one run per GPU: the placement of what it has
    in flight decides; a run that asks for more GPUs than there are is refused in words.
    (Nothing is started: the pending runs are taken out of the queue again.)"""
    from playground.training import RunConfig, TrainingError

    ln = launch.Launcher(tmp_path, gpu_count=2, per_gpu=1)
    with pytest.raises(TrainingError, match="1 to 2 GPUs"):
        ln.submit(RunConfig(), 3)
    assert list(Path(tmp_path).iterdir()) == []
    ln.pump = lambda: None          # queue only: this test starts no process
    rid = ln.submit(RunConfig(name="waits"), 2, owner="abc")
    job = ln.get(rid)
    assert job.gpus is None and job.where == "waiting for a free GPU" and ln.waiting() == [job]
    assert (job.dir / launch.SETTINGS).is_file()
    assert ln.cancel(rid) and not job.dir.exists() and ln.waiting() == []
