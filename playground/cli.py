"""``cnn-playground`` (or ``python -m playground``): the app's training, headless (a GPU box, a
script, CI), the runs folder as JSON lines, and ``app`` to start the Streamlit app.

``train`` writes the same run folder as the app (so the run shows up there, live while it
trains), reports progress on stderr and ends with one JSON line on stdout::

    {"run_id": ..., "run_dir": ..., "status": "finished", "val_acc": 0.97, "val_loss": 0.1,
     "epochs": 5, "seconds": 42.0, "images_per_second": 1834.2, ...}

Every default is :class:`~playground.training.RunConfig`'s (the data's: the dataset catalogue's),
so ``cnn-playground train`` trains what the page's Start button trains. Exit status: 0 finished,
1 failed, 2 refused, 130 stopped (Ctrl-C stops at the next step and keeps the checkpoints;
``--resume RUN_ID`` continues it).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

# The cyclic garbage collector off while torch's many thousand objects are imported: each of
# its collections walks them all again. Measured on this 2-core CPU, a whole process (start,
# import, exit): `import torch, torch._dynamo` 2.75 s; with the collector off while importing
# and gc.freeze() after (cmd_train: the interpreter's final collections skip frozen objects)
# 1.97 s, of which the freeze alone is ~0.4 s.
_GC_ON = gc.isenabled()
gc.disable()
from . import paths, runs  # noqa: E402
from .data import DATASETS, DataError, load_data  # noqa: E402
from .tasks import results  # noqa: E402
from .training import Run, TrainingError, distributed  # noqa: E402
from .cli_args import (D, add_data_args, add_model_args, add_optim_args, data_cfg,  # noqa: E402
                       own_data, run_config)
if _GC_ON:
    gc.enable()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cnn-playground",
                                 description="CNN Playground, headless (the same as python -m playground).")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network; ends by printing one JSON line")
    add_data_args(t)
    add_model_args(t)
    add_optim_args(t)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument("--name", default=D.name, help="the run's name in the app")
    t.add_argument("--runs-dir", help="runs folder (default $PLAYGROUND_RUNS_DIR or ./runs)")
    t.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted or stopped run")
    t.add_argument("--config", help="a run's settings as JSON (a config.json or RunConfig's dict); "
                                    "the training options above are then ignored")
    t.add_argument("--run-id", help=argparse.SUPPRESS)      # the app's launcher names the run
    t.add_argument("--quiet", action="store_true", help="no progress on stderr")
    t.add_argument("--progress", choices=["auto", "inplace", "epochs"], default="auto",
                   help="inplace: one line updated in place (a terminal); epochs: a line per epoch "
                        "(a pipe or a log file); auto: inplace when stderr is a terminal")
    r = sub.add_parser("runs", help="list the runs in the runs folder as JSON lines")
    r.add_argument("--runs-dir")
    e = sub.add_parser("export", help="write a run as a standalone folder: train.py, model.py, the data")
    e.add_argument("run", help="a run id (see `runs`) or a run folder")
    e.add_argument("--out", required=True, help="the folder to write (new or empty)")
    e.add_argument("--runs-dir")
    pr = sub.add_parser("predict", help="apply a finished run to your own images (any size)")
    pr.add_argument("run", help="a run id (see `runs`) or a run folder; its best.pt, else last.pt")
    pr.add_argument("images", nargs="*", metavar="IMAGE", help="image files (PNG, JPEG, WebP ...)")
    pr.add_argument("--out", help="segment: the folder for each image's mask PNG (pixel = class "
                                  "index) and coloured overlay")
    pr.add_argument("--json", action="store_true", help="one JSON line per image")
    pr.add_argument("--runs-dir")
    from .race import RACE_BUDGET_S, RACE_PER_CLASS
    ra = sub.add_parser("race", help="a tiny CNN against a tiny ViT, the same time budget each, "
                                     "over a range of images per class (the shapes)")
    ra.add_argument("--budget", type=float, default=RACE_BUDGET_S,
                    help=f"seconds of training per model and size (default {RACE_BUDGET_S:g})")
    ra.add_argument("--per-class", default=",".join(map(str, RACE_PER_CLASS)),
                    help="images per class, comma-separated (default %(default)s)")
    ra.add_argument("--seed", type=int, default=D.seed)
    ra.add_argument("--json", action="store_true", help="one JSON line per row")
    sub.add_parser("app", help="start the Streamlit app (from a source checkout)",
                   description="Any further arguments go to streamlit run, e.g. --server.port 8502.")
    return ap


class Progress:
    """Training progress on a stream. In place: one status line rewritten with ``\\r`` twice a
    second, each finished epoch kept above it. Otherwise one line per epoch (a line per tick
    would fill a log file)."""

    def __init__(self, stream: TextIO, inplace: bool):
        self.stream, self.inplace = stream, inplace
        self.epochs_shown = 0
        self.width = 0        # of the line being rewritten, to blank what a shorter one leaves

    def update(self, run: Run) -> None:
        snap = run.snapshot(since_step=max(0, len(run.steps) - 1))
        for e in snap["epochs"][self.epochs_shown:]:
            self._write(self._epoch_line(e, snap["progress"].get("epochs")), keep=True)
        self.epochs_shown = len(snap["epochs"])
        if self.inplace:
            self._write(self._status_line(snap), keep=False)

    def close(self) -> None:
        if self.inplace and self.width:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, line: str, keep: bool) -> None:
        if self.inplace:
            pad = " " * max(0, self.width - len(line))
            self.stream.write(f"\r{line}{pad}" + ("\n" if keep else ""))
            self.width = 0 if keep else len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    @staticmethod
    def _epoch_line(e: dict, epochs: int | None) -> str:
        return (f"epoch {e['epoch']}/{epochs}: train loss {e['train_loss']:.4f}  val loss "
                f"{e['val_loss']:.4f}  val acc {e['val_acc']:.2%}" + (f"  val mIoU {e['val_miou']:.3f}" if
                "val_miou" in e else "") + (f"  val mAP@0.5 {e['val_map50']:.3f}  mAP {e['val_map']:.3f}"
                                            if "val_map50" in e else "") + f"  {e['images_per_second']:,.0f} img/s")

    @staticmethod
    def _status_line(s: dict) -> str:
        p = s["progress"]
        loss = f"  loss {s['steps'][-1]['loss']:.4f}" if s["steps"] else ""
        ips = f"  {p['images_per_second']:,.0f} img/s" if p.get("images_per_second") else ""
        eta = f"  ETA {p['eta']:,.0f} s" if p.get("eta") else ""
        busy = "" if s["message"] == "training" else f"  ({s['message']})"
        return (f"[{s['status']}] epoch {p.get('epoch', 0):.2f}/{p.get('epochs')}  step {p.get('step')}/"
                f"{p.get('total_steps')}{loss}{ips}{eta}{busy}")


def _follow(run: Run, reg: runs.Registry, progress: Progress | None) -> None:
    """Wait for the run to end, reporting progress; Ctrl-C stops it at the next step."""
    tick = 0.5 if progress is not None and progress.inplace else 1.0
    try:
        while not run.done.wait(tick):
            if progress:
                progress.update(run)
    except KeyboardInterrupt:
        print("\nstopping at the next step ...", file=sys.stderr)
        reg.stop(run.id)
        run.done.wait()
    if run.thread is not None:
        # let the worker free its tensors before the interpreter exits: a daemon thread still
        # inside torch at exit aborts the process ("terminate called without an active exception")
        run.thread.join(60)
    if progress:
        progress.update(run)
        progress.close()


def _result(run: Run, seconds: float) -> dict[str, Any]:
    snap = run.snapshot(since_step=len(run.steps))
    last = snap["epochs"][-1] if snap["epochs"] else {}
    ips = [e["images_per_second"] for e in snap["epochs"]]
    best = runs.checkpoint_path(run.dir, "best")
    test = runs.store.read_test(run.dir)      # data with a held-out test/ split
    return {"run_id": run.id, "run_dir": str(run.dir), "status": snap["status"],
            "task": run.config.task, "val_acc": last.get("val_acc"), "val_loss": last.get("val_loss"),
            **{k: v for k, v in last.items() if k.startswith("val_") and k not in ("val_acc", "val_loss")},
            "train_loss": last.get("train_loss"), "epochs": last.get("epoch", 0),
            "seconds": round(seconds, 2), "images_per_second": round(sum(ips) / len(ips), 1) if ips else None,
            "device": snap["info"].get("device"), "error": snap["error"] or None,
            **{k: test.get(k) for k in ("test_acc", "test_loss", "n_test") if test},
            "best_checkpoint": str(best) if best.exists() else None}


def _loading_line(msg: str, frac: float) -> None:
    """Reading a zip or folder, on a terminal: one line updated in place."""
    sys.stderr.write(f"\r{msg}" + ("\n" if frac >= 1 else ""))
    sys.stderr.flush()


def _in_a_thread_of_its_own(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a thread that has ended when this returns. Why: torch's OpenMP workers
    belong to the thread that ran the first parallel op; while a second thread's workers are
    alive too (they spin waiting for work), every step of the training thread slows down. Data
    loaded on the main thread made the training steps 1.8x slower on 2 cores (2.2 -> 4.0 ms a
    step); loaded here, the workers end with this thread."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = e

    t = threading.Thread(target=target, name="load-data", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _import_optimizer_machinery() -> None:
    """torch.optim imports torch._dynamo when the first optimizer is made (every torch process
    pays it, the course's loop too: ~0.9 s here). Imported now with the collector off it costs
    ~0.6 s; then everything imported is frozen (gc.freeze: the collections while training and
    the interpreter's at exit skip it: ~0.4 s less at exit). Importing it in a thread while the
    zip is read gained nothing (a run 9.46 s vs 9.41 s): both hold the GIL (see _read_ahead)."""
    on = gc.isenabled()
    gc.disable()
    import torch._dynamo  # noqa: F401
    gc.freeze()
    if on:
        gc.enable()


def _read_ahead(data: dict[str, Any] | None) -> int | None:
    """Decode a zip or folder into the decode cache in a child process while this one imports
    the optimizer machinery: two cores at work, each process with its own GIL (threads gained
    nothing: both jobs hold the GIL). Measured on the 10,000-digit zip: a first run 6.4-6.8 s
    -> 6.2 s. Returns the child's pid, or None: not own data, or no safe fork (Linux only, and
    only while this process has one thread: a lock another thread holds would stay locked in
    the child). The child runs torch with one thread (an OpenMP pool used before a fork hangs
    the child) and reports nothing: this process loads the data again from the cache, or
    decodes it itself when the child failed, and says what went wrong."""
    if data is None or DATASETS[data["name"]].kind not in ("zip", "folder") or \
            not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        import torch

        torch.set_num_threads(1)
        load_data(data)
        code = 0
    finally:
        os._exit(code)      # no atexit handlers, no buffers flushed twice


def _check_resumed_task(run_id: str, root: Path, asked: str | None) -> None:
    """A resumed run keeps its own task: ``--task`` naming another one is refused in words (a
    detect run asked of a classify run's checkpoint would load weights of another network)."""
    info = runs.find_run(run_id, root)
    had = str((info.config or {}).get("task") or D.task) if info is not None else None
    if asked and had and asked != had:
        raise TrainingError(f"Run {run_id} is a {had} run; it resumes as one, not as a {asked} run. "
                            f"Start a new run with --task {asked} instead.")


def cmd_train(a: argparse.Namespace) -> int:
    asked_task, a.task = a.task, a.task or D.task    # --task named, or classify
    data = None if a.resume else run_config(a).data if a.config else data_cfg(a)
    child = _read_ahead(data if a.task == D.task else None)   # class folders, not masks
    _import_optimizer_machinery()
    group = distributed.init(a.device)   # under torchrun: its process group; else one process
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    inplace = a.progress == "inplace" or (a.progress == "auto" and sys.stderr.isatty())
    root = Path(a.runs_dir) if a.runs_dir else runs.runs_dir()
    reg = runs.Registry(root, max_concurrent=1)
    t0, quiet = time.time(), a.quiet or not group.main    # torchrun: rank 0 reports
    try:
        if a.resume:
            _check_resumed_task(a.resume, root, asked_task)
            run = distributed.start_rank(group, lambda: reg.get(reg.resume(a.resume)), root, resume=True)
        else:
            if child:
                os.waitpid(child, 0)
            shown = _loading_line if inplace and not quiet else None
            ds = _in_a_thread_of_its_own(lambda: own_data(data, shown, a.task))
            for note in (ds.notes if ds is not None and not quiet else []):   # files skipped, and why
                print(note, file=sys.stderr)
            run = distributed.start_rank(group, lambda: reg.get(reg.start(
                run_config(a, ds), dataset=ds, run_id=a.run_id)), root, dataset=ds)
    except (TrainingError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        distributed.teardown()
        return 2
    except KeyboardInterrupt:
        print("\nstopped while reading the data; no run was started", file=sys.stderr)
        return 130
    if group.world > 1:     # every rank stops at the same step, however many signals come
        distributed.on_stop_signals(run.stop_event.set)
    progress = None if quiet else Progress(sys.stderr, inplace)
    if progress:
        print(f"run {run.id} in {run.dir}" + (f", {group.world} processes" if group.world > 1 else ""), file=sys.stderr)
    _follow(run, reg, progress)
    out = _result(run, time.time() - t0)
    distributed.teardown()
    if not quiet and out["error"]:
        print(f"error: {out['error']}", file=sys.stderr)
    if group.main:
        print(json.dumps(out), flush=True)
    return {"finished": 0, "stopped": 130}.get(out["status"], 1)


def cmd_runs(a: argparse.Namespace) -> int:
    for r in runs.list_runs(a.runs_dir):
        print(json.dumps({"id": r.id, "name": r.name, "status": r.status, "dir": str(r.dir), **(
                          {"problem": r.problem} if r.problem else {}),
                          **{k: v for k, v in r.summary.items() if k in (
                              "val_acc", "val_loss", *results.task_results(r.config.get("task")), "epochs")}}))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .export import ExportError, export_run

    try:
        out = export_run(a.run, a.out, runs_dir=a.runs_dir)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported to {out}: cd there and run `python train.py` or "
          "`torchrun --nproc_per_node=2 train.py`", file=sys.stderr)
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    """One line per image (``--json``: the task's JSON format); exit 2 when the run cannot
    predict or no image is given, 1 when an image could not be read (the others predicted)."""
    from . import predict

    if not a.images:
        print("error: no images: give one or more image files after the run", file=sys.stderr)
        return 2
    try:
        p = predict.load_predictor(a.run, a.runs_dir)
    except predict.PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = 0
    for rec in predict.predict_files(p, a.images, a.out):
        failed += "error" in rec
        print(json.dumps(rec) if a.json else predict.readable(rec), flush=True)
    return 1 if failed else 0


def cmd_race(a: argparse.Namespace) -> int:
    """A row per model and size as it finishes (``--json``: the row's JSON); 2 when refused."""
    from .race import run_race

    def show(row: dict) -> None:
        print(json.dumps(row) if a.json else f"{row['images_per_class']:>5} per class  {row['model']:<9} "
              f"val_acc {row['val_acc']:.3f}  {row['steps']:>5} steps in {row['seconds']:.1f} s", flush=True)
    try:
        sizes = [int(v) for v in a.per_class.split(",") if v.strip()]
        run_race(a.budget, sizes, on_row=show, seed=a.seed)
    except (ValueError, DataError) as e:
        print(f"error: {e if isinstance(e, DataError) else '--per-class: whole numbers, e.g. 10,30,100'}",
              file=sys.stderr)
        return 2
    return 0


def cmd_app(a: argparse.Namespace) -> int:
    """``streamlit run app.py`` in the source checkout beside the package (its folder holds the
    app's .streamlit/config.toml). The installed package carries the library, not the pages."""
    if not paths.IS_CHECKOUT:
        print("The app's pages (app.py, views/, ui/) come with the source checkout, not with the "
              "installed package: clone the repository and run `cnn-playground app` (or "
              "`streamlit run app.py`) there.", file=sys.stderr)
        return 2
    app = paths.workspace() / "app.py"
    return subprocess.call([sys.executable, "-m", "streamlit", "run", str(app), *a.streamlit_args],
                           cwd=app.parent)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a, extra = ap.parse_known_args(argv)
    if extra and a.command != "app":
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    a.streamlit_args = extra
    return {"train": cmd_train, "runs": cmd_runs, "export": cmd_export, "predict": cmd_predict,
            "race": cmd_race, "app": cmd_app}[a.command](a)
