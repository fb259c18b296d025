"""First-use work done once per process in a background thread, so that no visitor waits for it.

Measured on a 2-core machine, fresh interpreter (``python -X importtime``, then first calls):
importing torch takes 1.3-1.4 s; torchvision another 1.3 s (``torchvision.ops`` pulls in
``torch._dynamo``); captum 0.5 s; the first ``arithmetic.analyze`` 1.2 s (the FLOP counter's
and the meta kernels' first use), the second 1 ms. Before this module a visitor paid all of it
(bench/bench_feel.py: 3.2-4.0 s from launch to the first render, app.py importing torch first;
3.9-6.9 s for the first visit of Conv arithmetic). What is left of a first visit is mostly the
browser's: the first page with a chart loads and runs 6.7 MB of Streamlit's lazily loaded
JavaScript (plotly 4.7 MB, the code highlighter 1.5 MB); a next visit takes 0.4-0.5 s.

    from playground import warmup
    warmup.start()                 # STEPS, once per process, in a daemon thread; returns at once
    warmup.start([*warmup.steps_for("inside"), ("mine", fn)])      # or the caller's own list
    warmup.status()                # what is done, in how long, any error

The steps only call the library's public functions on small inputs; a step that fails is
recorded and skipped (the page then does the work itself and shows any error in words). The
thread holds no lock a visitor's rerun needs: at worst a page importing a module the thread is
importing waits for that import to finish, which it would otherwise have done itself.
"""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Sequence

# Per page (by its key in ui/pages.py, whose order app.py follows: the first pages a visitor
# opens warm first): the modules it imports, then its first calls. torchvision (1.3 s:
# torchvision.ops pulls in torch._dynamo) comes with the inspector's zoo, captum (0.5 s) with
# Look inside.
IMPORTS_BY_PAGE = {
    "conv_arithmetic": ("torch", "plotly.graph_objects", "pandas", "playground.arithmetic",
                        "playground.figures.conv"),
    "network": ("playground.networks", "playground.summary", "playground.export",
                          "playground.figures.network"),
    "train": ("playground.training", "playground.runs", "playground.figures.training"),
    "inside": ("playground.images", "playground.data", "playground.models", "playground.explain",
                    "playground.figures.explain"),
    "click": ("playground.click",),
}

Step = tuple[str, Callable[[], object]]


def _importer(names: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for name in names:
            importlib.import_module(name)
    return run


def _flop_counter() -> None:
    """The FLOP counter and the meta kernels of each layer kind Conv arithmetic offers."""
    from playground import arithmetic as ar

    for kind in ar.LAYER_KINDS:
        ar.analyze(ar.Layer(kind=kind))
    ar.Layer().torch_error()                     # the CPU's verdict: a real conv on tiny tensors


def _meta_trace() -> None:
    """The inspector's tracer on a course preset (the meta device, receptive fields, figures)."""
    from playground import networks
    from playground.figures import network as fig_net
    from playground.summary import summarize

    spec = networks.preset(next(iter(networks.PRESETS)))
    fig_net.diagram_svg(summarize(spec, tuple(spec["input_shape"])))


def _attribution() -> None:
    """captum and autograd's first use, on a throwaway tiny network (never a shared model:
    attribution methods hook modules)."""
    import torch
    from torch import nn

    from playground import explain

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.rand(1, 3, 16, 16)
    explain.probabilities(model, x)
    explain.feature_maps(model, x)
    explain.attribute("Grad-CAM", model, x, 0, None)


def _click() -> None:
    """Click to segment's shipped model loaded (its page cache) and its first forward: 0.3-1.5 s
    on a fresh server, paid here and not by the first click."""
    from playground import click

    img, _ = click.scene(0)
    click.segment_at(img, img.shape[1] // 2, img.shape[0] // 2)


FIRST_USE = {"conv_arithmetic": ("flop counter and meta kernels", _flop_counter),
             "network": ("meta-device trace", _meta_trace),
             "inside": ("captum and autograd", _attribution),
             "click": ("the click model's first forward", _click)}


def steps_for(page: str) -> list[Step]:
    """The steps of the page whose key (ui/pages.py) is ``page``: its imports, then its first
    calls; none for a page not listed here."""
    out: list[Step] = []
    if page in IMPORTS_BY_PAGE:
        out.append((f"{page}: imports", _importer(IMPORTS_BY_PAGE[page])))
    if page in FIRST_USE:
        name, fn = FIRST_USE[page]
        out.append((f"{page}: {name}", fn))
    return out


STEPS: tuple[Step, ...] = tuple(s for page in IMPORTS_BY_PAGE for s in steps_for(page))

_lock = threading.Lock()
_thread: threading.Thread | None = None
_done: dict[str, float] = {}       # step -> seconds it took
_failed: dict[str, str] = {}       # step -> what went wrong
_finished = threading.Event()


def warm_up(steps: Sequence[Step] = STEPS) -> dict[str, float]:
    """Run the steps in this thread; {step: seconds}. A failing step is recorded in status()."""
    for name, fn in steps:
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - warming is best effort; the page reports errors
            _failed[name] = f"{type(e).__name__}: {e}"
        else:
            _done[name] = time.perf_counter() - t0
    return dict(_done)


def _run(steps: Sequence[Step]) -> None:
    try:
        warm_up(steps)
    finally:
        _finished.set()


def start(steps: Sequence[Step] = STEPS) -> threading.Thread:
    """Start the warm-up (``steps``: STEPS, or the caller's own list built with steps_for) in a
    daemon thread, once per process; later calls return the same thread.
    Returns at once."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, args=(tuple(steps),), name="playground-warmup",
                                       daemon=True)
            _thread.start()
        return _thread


def status() -> dict:
    """{"started", "finished", "seconds": {step: s}, "failed": {step: reason}}."""
    return {"started": _thread is not None, "finished": _finished.is_set(),
            "seconds": dict(_done), "failed": dict(_failed)}


def wait(timeout: float | None = None) -> bool:
    """Block until the warm-up has finished (for tests and benchmarks); True if it has."""
    return _finished.wait(timeout)
