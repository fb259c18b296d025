"""How the app feels in a real browser: launch, first visits, knobs, and watching a run.

Starts `streamlit run app.py` headless on a free port and, in the same run, the scratch apps of
bench/feel_apps.py (same `.streamlit/config.toml`), and drives /usr/bin/chromium with Playwright.
Prints:

- launch to first render (server start to the home page drawn), and when the server went quiet
  (its warm-up over: under 0.1 of a core for 0.5 s);
- each page's first visit (ui/pages.py) and its next visit: the sidebar click to the page drawn;
- each knob's round trip (the median of N; the input event, pointerdown/keydown taken in the
  page, to the page having stopped changing after the rerun) and the websocket messages one
  change makes the server send, as ratios to: the bare app's number input; the same kind of
  widget bare (a select box's own round trip is ~2x a number input's: its list closes); and the
  floor, the bare knob inside the app's frame (navigation, title, intro, link button, tabs).
  Streamlit's frontend re-renders a page's whole element tree on every rerun, whatever the rerun
  sent: measured (chromium's script time per change, same run), a one-knob fragment under 40
  static lines costs 1.4x the bare app, the frame alone 1.4-1.6x;
- while a run is watched (Training runs, the live fragment at 2 Hz): chromium's CPU (all its
  processes, /proc) and the server's, the bytes the server sends per tick over the websocket, and
  the steps the loss curve showed at the window's start and end (it must move).

"Drawn" = Streamlit's script state is back to notRunning and nothing in the page (elements,
text, charts) has changed for SETTLE_MS; the time taken is that of the last change.

    python bench/bench_feel.py [--quick] [--reps N] [--watch 10] [--knobs conv]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from feel_apps import ARM, BARE_APP, BARE_WIDGETS, PROBE, STATE, chrome_app  # noqa: E402  (bench/)
from proc_cpu import tree_cpu_seconds  # noqa: E402
from ui.pages import PAGES  # noqa: E402  (plain data: no streamlit import)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SETTLE_MS = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(script: str, runs_dir: Path) -> tuple[subprocess.Popen, str, float]:
    """(process, url, time.time() at launch) once /_stcore/health answers."""
    port = free_port()
    env = {**os.environ, "PLAYGROUND_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    launched = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url, launched
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"streamlit did not come up for {script}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


# ------------------------------------------------------------------------------------- timing
def new_page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(f"({PROBE})()")
    return ctx.new_page()


def settled(page, timeout: float = 120.0) -> dict:
    """Wait until the rerun is over and nothing changed for SETTLE_MS; the probe's state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = page.evaluate(STATE)
        done = s["state"] == "notRunning" and not s["skel"]
        if done and s["now"] - max(s["last"], s["idle"], s["t0"]) > SETTLE_MS:
            return s
        time.sleep(0.05)
    raise TimeoutError("the page did not settle")


def timed(page, action) -> float:
    """Seconds from the input event `action` makes to the page drawn after its rerun."""
    page.evaluate(ARM)
    action()
    s = settled(page)
    page.evaluate("() => { window.__feel.armed = false; }")
    if not s["t0"]:
        raise RuntimeError("the action made no pointer or key event")
    return (max(s["last"], s["idle"]) - s["t0"]) / 1000


def open_page(page, url: str, ready: str = "h1") -> float:
    """Open `url`; time.time() when the page was drawn (its last change). `ready`: a selector
    that the drawn page has (every page of the app has its title)."""
    page.goto(url)
    page.wait_for_selector(f"[data-testid='stMain'] {ready}", timeout=120_000)
    s = settled(page)
    return time.time() - (s["now"] - max(s["last"], s["idle"])) / 1000


def widget(page, label: str):
    """The widget whose visible label is exactly `label`."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return page.locator("[data-testid^='st']").filter(
        has=page.locator("[data-testid='stWidgetLabel']", has_text=exact)).last


# --------------------------------------------------------------------------------- the knobs
def type_number(container, i: int):
    """Type the number input's value +1 (even i) or -1 (odd i); returns the Enter that commits
    it (the step buttons are hidden on narrow inputs, so the keyboard it is, for every knob)."""
    box = container.locator("input[type='number']").first
    v = float(box.input_value() or 0)
    box.fill(f"{v + 1 if i % 2 == 0 else v - 1:g}")
    return lambda: box.press("Enter")


def number_knob(label: str):
    return lambda page, i: timed(page, type_number(widget(page, label), i))


def layer_field_knob(page, i: int) -> float:
    """A layer edit in the inspector: the selected layer's kernel size, +1 / -1."""
    box = page.locator("[class*='st-key-net_f_'][class*='_kernel']").first
    return timed(page, type_number(box, i))


def select_knob(label: str):
    def run(page, i: int) -> float:
        box = page.get_by_role("combobox", name=label, exact=True)
        box.click()
        options = page.get_by_role("option")
        try:
            options.first.wait_for(timeout=2000)
        except Exception:  # noqa: BLE001 - a focused box opens with the keyboard
            box.press("ArrowDown")
            options.first.wait_for()
        target = options.nth(1 if i % 2 == 0 else 0)
        return timed(page, lambda: target.click())
    return run


def slider_knob(label: str):
    def run(page, i: int) -> float:
        thumb = widget(page, label).get_by_role("slider")
        thumb.focus()
        return timed(page, lambda: thumb.press("ArrowRight" if i % 2 == 0 else "ArrowLeft"))
    return run


KNOBS = (  # (name, url path, the knob, the kind of widget: the bare app's knob of that kind)
    ("Conv arithmetic: input height", "conv_arithmetic", number_knob("Input height"), "number"),
    ("Conv arithmetic: kernel", "conv_arithmetic", number_knob("Kernel height"), "number"),
    ("Inspector: input size", "network", number_knob("Input height (px)"), "number"),
    ("Inspector: a layer edit", "network", layer_field_knob, "number"),
    ("Look inside: layer", "inside", select_knob("Layer"), "select"),
    ("Look inside: channel", "inside", select_knob("Enlarge channel"), "select"),
    ("Classify: opacity", "classify", slider_knob("Heat-map opacity"), "slider"),
)
BARE_KNOBS = {"select": select_knob("Choice"), "slider": slider_knob("Level")}   # in BARE_WIDGETS


def frame_counter(page) -> dict:     # the websocket messages the server sends (every socket)
    count = {"n": 0}
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: count.update(n=count["n"] + 1)))
    return count


def knob_times(page, url: str, knob, reps: int, ready: str = "h1", count: dict | None = None) -> list[float]:
    """The knob's round trips; with ``count`` (a frame_counter), count["per_change"]: the messages
    one change makes the server send (chromium handles each; a count does not move with load)."""
    open_page(page, url, ready)
    knob(page, 0)                   # the first change pays for first use: not counted
    n0 = count["n"] if count else 0
    times = [knob(page, i + 1) for i in range(reps)]
    if count is not None:
        count["per_change"] = (count["n"] - n0) / reps
    return times


# ------------------------------------------------------------------------------ watching a run
def start_long_run(page, url: str) -> None:
    open_page(page, f"{url}/train")
    for label in ("Training images", "Epochs"):     # the most the sliders offer: it outlasts us
        thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
        thumb.focus()
        thumb.press("End")
        settled(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Loss while training").first.wait_for(timeout=180_000)
    page.wait_for_timeout(5000)                     # past the first steps and the slow panel


POINTS = """() => {   // the last training step on the loss curve (its x axis: steps): live SVG, or plotly
  const line = document.querySelector("[data-testid='pgLiveLoss'] polyline[data-series='raw']");
  if (line) return Number(line.getAttribute('points').trim().split(' ').pop().split(',')[0]);
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const t = (el._fullLayout || {}).title;
    if (String(t && (t.text || t)).includes('Loss while training') && el.data && el.data[0])
      return el.data[0].x[el.data[0].x.length - 1];
  }
  return -1;
}"""


def watch(page, url: str, server: subprocess.Popen, seconds: float) -> dict:
    """Chromium's and the server's CPU (cores) and the bytes sent per 0.5 s tick while the live
    view of a running run is on screen."""
    frames = {"bytes": 0, "n": 0, "on": False}

    def on_frame(payload) -> None:
        if frames["on"]:
            frames["bytes"] += len(payload)
            frames["n"] += 1

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    start_long_run(page, url)
    me = os.getpid()
    c0, s0, t0 = tree_cpu_seconds(me, "chrom"), tree_cpu_seconds(server.pid), time.time()
    frames["on"] = True
    points = [page.evaluate(POINTS)]
    page.wait_for_timeout(seconds * 1000)   # (not time.sleep: Playwright delivers events meanwhile)
    frames["on"] = False
    points.append(page.evaluate(POINTS))
    dt = time.time() - t0
    out = {"chromium_cores": (tree_cpu_seconds(me, "chrom") - c0) / dt,
           "server_cores": (tree_cpu_seconds(server.pid) - s0) / dt,
           "bytes_per_tick": frames["bytes"] / (dt * 2), "frames_per_tick": frames["n"] / (dt * 2),
           "seconds": dt, "steps_before": points[0], "steps_after": points[1]}
    stop = page.get_by_role("button", name="Stop")
    if stop.count():
        stop.first.click()
    return out


def quiet(server: subprocess.Popen, below: float = 0.1, window: float = 0.5, timeout: float = 60) -> float:
    """time.time() when the server has gone quiet (under `below` of a core over `window` s):
    the launch warm-up is over. The first visits are measured from then on."""
    deadline = time.time() + timeout
    c0, t0 = tree_cpu_seconds(server.pid), time.time()
    while time.time() < deadline:
        time.sleep(window)
        c1, t1 = tree_cpu_seconds(server.pid), time.time()
        if (c1 - c0) / (t1 - t0) < below:
            return t0
        c0, t0 = c1, t1
    return time.time()


# ------------------------------------------------------------------------------------ the runs
def bare_app(browser, tmp: Path, reps: int) -> dict:
    script = tmp / "bare_app.py"
    script.write_text(BARE_APP)
    proc, url, launched = start_server(str(script), tmp / "runs-bare")
    try:
        page = new_page(browser)
        first = open_page(page, url, ready="[data-testid='stNumberInput']") - launched
        times = knob_times(page, url, number_knob("Number"), reps, ready="[data-testid='stNumberInput']")
        page.context.close()
    finally:
        stop_server(proc)
    out = {"launch_s": first, "knob_ms": statistics.median(times) * 1000, "kind_ms": {"number": statistics.median(times) * 1000}}
    script = tmp / "chrome_app.py"
    script.write_text(chrome_app(len(PAGES)))
    proc, url, _ = start_server(str(script), tmp / "runs-bare")
    try:
        page = new_page(browser)
        out["chrome_ms"] = statistics.median(knob_times(page, url, number_knob("Number"), reps,
                                                        ready="[data-testid='stNumberInput']")) * 1000
        page.context.close()
    finally:
        stop_server(proc)
    script = tmp / "bare_widgets.py"
    script.write_text(BARE_WIDGETS)
    proc, url, _ = start_server(str(script), tmp / "runs-bare")
    try:
        page = new_page(browser)
        for kind, knob in BARE_KNOBS.items():
            out["kind_ms"][kind] = statistics.median(knob_times(page, url, knob, reps)) * 1000
        page.context.close()
    finally:
        stop_server(proc)
    return out


def the_app(browser, tmp: Path, reps: int, watch_s: float, knobs: str | None = "") -> dict:
    """``knobs``: measure the knobs whose name contains it ("" all, None none)."""
    proc, url, launched = start_server("app.py", tmp / "runs")
    try:
        page = new_page(browser)
        count = frame_counter(page)
        drawn = open_page(page, url)
        out = {"launch_s": drawn - launched, "warm_s": quiet(proc) - launched, "first_visit_s": {},
               "knobs": {}, "messages": {}}
        for visits in (out["first_visit_s"], out.setdefault("again_s", {})):
            for p in PAGES:
                link = page.locator("[data-testid='stSidebarNav'] a", has_text=p.title).first
                visits[p.title] = timed(page, link.click)
        for name, path, knob, _ in [k for k in KNOBS if knobs is not None and knobs.lower() in k[0].lower()]:
            try:
                out["knobs"][name] = knob_times(page, f"{url}/{path}", knob, reps, count=count)
                out["messages"][name] = count["per_change"]
            except Exception as e:  # noqa: BLE001 - a knob a page no longer has: say so, go on
                out["knobs"][name] = f"not measured: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        page.context.close()
        if watch_s > 0:
            page = new_page(browser)
            try:
                out["watch"] = watch(page, url, proc, watch_s)
            except Exception as e:  # noqa: BLE001 - keep the figures measured so far
                print(f"watching not measured: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            page.context.close()
    finally:
        stop_server(proc)
    return out


KIND = {k[0]: k[3] for k in KNOBS}


def report(bare: dict, app: dict) -> dict:
    rows = [("launch to first render (s)", f"{app['launch_s']:.2f}", f"bare app {bare['launch_s']:.2f}")]
    rows.append(("server quiet after launch (s)", f"{app['warm_s']:.2f}",
                 "the warm-up's end; first visits are measured after it"))
    rows += [(f"first visit: {k} (s)", f"{v:.2f}", f"next visit {app['again_s'][k]:.2f}")
             for k, v in app["first_visit_s"].items()]
    chrome = bare["chrome_ms"]
    rows.append(("floor: one knob in the app's frame (x bare)", f"{chrome / bare['knob_ms']:.2f}",
                 f"{chrome:.0f} ms: the bare knob on a page with the app's navigation, title, intro, "
                 "link button and tabs, nothing else (bench/feel_apps.py)"))
    knobs = {}
    for name, times in app["knobs"].items():
        if isinstance(times, str):
            rows.append((f"knob: {name}", "–", times))
            continue
        ms, kind = statistics.median(times) * 1000, KIND[name]
        same = bare["kind_ms"][kind]
        msgs = app["messages"][name]
        knobs[name] = {"ms": round(ms), "ratio": round(ms / bare["knob_ms"], 2), "kind": kind,
                       "ratio_same_kind": round(ms / same, 2), "ratio_floor": round(ms / chrome, 2),
                       "messages": round(msgs, 1)}
        rows.append((f"knob: {name} (x bare)", f"{ms / bare['knob_ms']:.2f}",
                     f"{ms:.0f} ms vs bare {bare['knob_ms']:.0f} ms (median of {len(times)}); "
                     f"{ms / same:.2f}x a bare {kind} ({same:.0f} ms); {ms / chrome:.2f}x the floor; "
                     f"{msgs:.0f} messages a change"))
    w = app.get("watch")
    if w:
        rows += [("watching: chromium (cores)", f"{w['chromium_cores']:.2f}", f"over {w['seconds']:.0f} s"),
                 ("watching: server (cores)", f"{w['server_cores']:.2f}", "the training thread included"),
                 ("watching: bytes per tick", f"{w['bytes_per_tick']:,.0f}",
                  f"{w['frames_per_tick']:.1f} websocket frames per 0.5 s tick; the curve went from "
                  f"step {w['steps_before']:,} to {w['steps_after']:,}")]
    width = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>8}  {note}")
    result = {"launch_s": round(app["launch_s"], 2), "warm_s": round(app["warm_s"], 2), "bare_launch_s": round(bare["launch_s"], 2),
              "first_visit_s": {k: round(v, 2) for k, v in app["first_visit_s"].items()},
              "next_visit_s": {k: round(v, 2) for k, v in app["again_s"].items()},
              "bare_knob_ms": round(bare["knob_ms"]), "floor_knob_ms": round(chrome), "bare_kind_ms": {k: round(v) for k, v in bare["kind_ms"].items()},
              "knobs": knobs,
              "watch": {k: round(v, 3) for k, v in w.items()} if w else None, "cpus": os.cpu_count()}
    print(json.dumps(result))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="launch, first visits, knob round trips, watching")
    ap.add_argument("--quick", action="store_true", help="3 repetitions per knob, 6 s of watching")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per knob (default 9)")
    ap.add_argument("--watch-only", action="store_true", help="launch, first visits and watching")
    ap.add_argument("--knobs", default="", metavar="TEXT",
                    help="only the knobs whose name contains TEXT (e.g. 'conv'; the bare app is always measured)")
    ap.add_argument("--watch", type=float, default=None, help="seconds of watching (default 12; 0: skip)")
    args = ap.parse_args(argv)
    reps = args.reps or (3 if args.quick else 9)
    watch_s = args.watch if args.watch is not None else (6.0 if args.quick else 12.0)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        bare = bare_app(browser, Path(tmp), reps)
        app = the_app(browser, Path(tmp), reps, watch_s, knobs=None if args.watch_only else args.knobs)
        browser.close()
    report(bare, app)
    print(f"note: {os.cpu_count()} cores shared with whatever else runs; the bare app is measured in "
          "the same run, the browser and the server share this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
