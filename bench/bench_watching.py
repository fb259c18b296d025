"""Training speed while a browser watches the live Training runs page, against nobody watching.

Starts the real app (`streamlit run app.py`), opens the Training runs page in headless chromium
(Playwright + /usr/bin/chromium), starts a long run from the browser, then alternates phases:
the page open on the live view (its fragment re-runs twice a second, in the same process as the
training thread), and the tab parked on about:blank (nobody watching). Training speed in each
phase comes from the run's own step timestamps in metrics.jsonl. Prints images/s per phase and
the cost of watching; with --compare-gc the same again with Streamlit's post-script GC on
(`runner.postScriptGC = true`, Streamlit's default, which this project turns off).

    python bench/bench_watching.py [--phase 12] [--pairs 3] [--compare-gc]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from proc_cpu import tree_cpu_seconds  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: Path, gc_on: bool, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PLAYGROUND_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false", "--runner.postScriptGC", "true" if gc_on else "false"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not come up")


def wait_idle(page, timeout=90_000):
    page.wait_for_selector(IDLE, timeout=timeout)


def rate(steps: list[dict], t0: float, t1: float, batch: int) -> float:
    n = sum(1 for s in steps if t0 <= s["time"] < t1)
    return n * batch / (t1 - t0)


BROWSER_CPU: list[float] = []   # CPU cores chromium used while watching, per watched phase


def measure(browser, gc_on: bool, phase: float, pairs: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp)
        proc, url = start_server(runs_dir, gc_on)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(url)
            wait_idle(page)
            page.goto(f"{url}/train")
            wait_idle(page)
            # a long run: the most images and epochs the sliders offer
            for label in ("Training images", "Epochs"):
                thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
                thumb.focus()
                thumb.press("End")
                wait_idle(page)
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("Loss while training").first.wait_for(timeout=180_000)
            time.sleep(3)  # past the first steps
            windows = []
            me = os.getpid()
            for _ in range(pairs):
                page.goto("about:blank")             # nobody watching
                t0, c0 = time.time(), tree_cpu_seconds(me, "chrom")
                time.sleep(phase)
                windows.append(("alone", t0, time.time()))
                page.goto(f"{url}/train")            # the live view, fragment every 0.5 s
                page.get_by_text("Loss while training").first.wait_for(timeout=60_000)
                t0, c0 = time.time(), tree_cpu_seconds(me, "chrom")
                time.sleep(phase)
                windows.append(("watched", t0, time.time()))
                BROWSER_CPU.append((tree_cpu_seconds(me, "chrom") - c0) / (time.time() - t0))
            ctx.close()
            run_dir = next(d for d in runs_dir.iterdir() if (d / "metrics.jsonl").exists())
            steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                     if '"type": "step"' in line]
            batch = json.loads((run_dir / "config.json").read_text())["config"]["batch_size"]
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    alone = [rate(steps, a, b, batch) for k, a, b in windows if k == "alone"]
    watched = [rate(steps, a, b, batch) for k, a, b in windows if k == "watched"]
    return alone, watched


def measure_server_only(phase: float, pairs: int) -> tuple[list[float], list[float]]:
    """No browser: the Training runs page re-run in this process (Streamlit's AppTest, the whole
    page, heavier than the live fragment alone) twice a second next to a training thread, against
    the thread alone. This is the server's share of the cost of watching."""
    import torch

    sys.path.insert(0, str(ROOT))
    from streamlit.testing.v1 import AppTest

    from playground import runs, training

    alone, watched = [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLAYGROUND_RUNS_DIR"] = tmp
        reg = runs.registry()
        cfg = training.RunConfig(name="bench", data={"name": "shapes", "n_train": 32000, "n_val": 1000},
                                 epochs=50, model={"preset": "shapes_cnn"})
        rid = reg.start(cfg)
        run = reg.get(rid)
        while len(run.steps) < 5:
            time.sleep(0.2)
        at = AppTest.from_file(str(ROOT / "views" / "train.py"), default_timeout=120)
        at.session_state["train_view"] = "Watch"
        at.run()
        bs = cfg.batch_size
        for _ in range(pairs):
            t0 = time.time()
            time.sleep(phase)
            alone.append(rate(run.snapshot()["steps"], t0, time.time(), bs))
            t0 = time.time()
            while time.time() - t0 < phase:
                t1 = time.time()
                at.run()
                time.sleep(max(0.0, 0.5 - (time.time() - t1)))
            watched.append(rate(run.snapshot()["steps"], t0, time.time(), bs))
        reg.stop(rid)
        run.done.wait(30)
        del torch
    return alone, watched


def report(name: str, alone: list[float], watched: list[float]) -> None:
    a, w = sum(alone) / len(alone), sum(watched) / len(watched)
    print(f"{name}: nobody watching {a:,.0f} images/s ({', '.join(f'{x:,.0f}' for x in alone)}); "
          f"watched {w:,.0f} images/s ({', '.join(f'{x:,.0f}' for x in watched)})")
    print(f"{name}: watched/alone = {w / a:.3f}  (watching costs {max(0.0, 1 - w / a):.1%})")
    if BROWSER_CPU:
        print(f"{name}: chromium itself used {sum(BROWSER_CPU) / len(BROWSER_CPU):.2f} CPU cores while "
              f"watching, on this {os.cpu_count()}-core machine (in class the browser is on another computer)")
    BROWSER_CPU.clear()


# ------------------------------------------------------------------- --browser: this build vs before
class Ticks:
    """What the server sends a tab, decoded: messages, bytes, and per element path whether its
    delta differs from the previous one at that path."""

    def __init__(self) -> None:
        self.on, self.n, self.bytes, self.elements, self.changed, self.runs = False, 0, 0, 0, 0, 0
        self.last: dict[tuple, bytes] = {}

    def frame(self, payload) -> None:
        if not self.on or isinstance(payload, str):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.n, self.bytes = self.n + 1, self.bytes + len(payload)
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        self.runs += msg.WhichOneof("type") == "script_finished"    # a fragment's rerun is over
        if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
            path, body = tuple(msg.metadata.delta_path), msg.delta.SerializeToString()
            self.elements += 1
            self.changed += self.last.get(path, body) != body
            self.last[path] = body


def perf(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def open_build(browser, root: Path, runs_dir: Path) -> dict:
    """One build's server with a long run started from the browser, its tab left on about:blank."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_feel import new_page, start_long_run   # the same long run as bench_feel's watching

    proc, url = start_server(runs_dir, False, root)
    page = new_page(browser)
    ticks = Ticks()
    page.on("websocket", lambda ws: ws.on("framereceived", ticks.frame))
    start_long_run(page, url)
    page.goto("about:blank")
    return {"proc": proc, "url": url, "page": page, "ticks": ticks, "cdp": page.context.new_cdp_session(page),
            "windows": []}


def watch_window(b: dict, phase: float) -> None:
    page, ticks, cdp = b["page"], b["ticks"], b["cdp"]
    page.goto(f"{b['url']}/train")
    page.get_by_text("Loss while training").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2500)                       # the page's load is not a tick
    cdp.send("Performance.enable")
    m0, c0, t0 = perf(cdp), tree_cpu_seconds(os.getpid(), "chrom"), time.time()
    n0, b0, e0, ch0, r0 = ticks.n, ticks.bytes, ticks.elements, ticks.changed, ticks.runs
    ticks.on = True
    page.wait_for_timeout(phase * 1000)               # (Playwright delivers the frames meanwhile)
    ticks.on = False
    m1, dt = perf(cdp), time.time() - t0
    cores = (tree_cpu_seconds(os.getpid(), "chrom") - c0) / dt
    per_tick = 2 * dt
    b["windows"].append({
        "cores": cores, "messages": (ticks.n - n0) / per_tick, "bytes": (ticks.bytes - b0) / per_tick,
        "elements": (ticks.elements - e0) / per_tick, "changed": (ticks.changed - ch0) / per_tick,
        "runs_per_s": (ticks.runs - r0) / dt,
        "script_ms": 1000 * (m1["ScriptDuration"] - m0["ScriptDuration"]) / per_tick,
        "layout_ms": 1000 * (m1["LayoutDuration"] + m1["RecalcStyleDuration"]
                             - m0["LayoutDuration"] - m0["RecalcStyleDuration"]) / per_tick,
        "load": os.getloadavg()[0]})
    page.goto("about:blank")


def browser_report(name: str, windows: list[dict]) -> None:
    def span(key: str, fmt: str) -> str:
        vals = [w[key] for w in windows]
        return f"{min(vals):{fmt}}-{max(vals):{fmt}}"
    print(f"{name}: chromium {span('cores', '.3f')} of a core; {span('messages', '.1f')} websocket messages and "
          f"{span('bytes', ',.0f')} bytes a tick; {span('elements', '.1f')} elements a tick of which "
          f"{span('changed', '.1f')} changed; chromium script {span('script_ms', '.1f')} ms and style+layout "
          f"{span('layout_ms', '.1f')} ms a tick; {span('runs_per_s', '.1f')} fragment reruns a second (2 Hz live "
          f"+ the slow one at 4 s: 2.25 when the server keeps pace; 2.75 before the live SVG curve) "
          f"(load {span('load', '.1f')})")


def compare_builds(browser, before: str, phase: float, pairs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        old.mkdir()
        archive = subprocess.run(["git", "archive", before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        builds = {}
        try:
            builds[f"before ({before})"] = open_build(browser, old, Path(tmp) / "runs-before")
            builds["this build"] = open_build(browser, ROOT, Path(tmp) / "runs-now")
            for _ in range(pairs):                    # in turn: other load hits both alike
                for b in builds.values():
                    watch_window(b, phase)
        finally:
            for b in builds.values():
                b["proc"].terminate()
                b["proc"].wait(15)
        for name, b in builds.items():
            browser_report(name, b["windows"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="training speed: watched vs nobody watching")
    ap.add_argument("--phase", type=float, default=12.0, help="seconds per phase")
    ap.add_argument("--pairs", type=int, default=3, help="alone/watched phase pairs")
    ap.add_argument("--compare-gc", action="store_true", help="also measure with postScriptGC on")
    ap.add_argument("--server-only", action="store_true",
                    help="also measure the page re-run in-process (AppTest) with no browser")
    ap.add_argument("--browser", action="store_true",
                    help="chromium's CPU and the bytes per tick while watching: this build against --before")
    ap.add_argument("--before", default="HEAD", help="the commit to compare with (--browser)")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        if args.browser:
            compare_builds(browser, args.before, args.phase, args.pairs)
            browser.close()
            print(f"note: {os.cpu_count()} cores shared with whatever else runs (load above); both builds "
                  "train a run the whole time, watched in turn")
            return 0
        alone, watched = measure(browser, False, args.phase, args.pairs)
        report("postScriptGC off (the app's config)", alone, watched)
        if args.compare_gc:
            alone2, watched2 = measure(browser, True, args.phase, args.pairs)
            report("postScriptGC on (Streamlit's default)", alone2, watched2)
        browser.close()
    if args.server_only:
        alone3, watched3 = measure_server_only(args.phase, args.pairs)
        report("server only (page re-run twice a second in-process, no browser)", alone3, watched3)
    print("note: shared 2-core machine, chromium and the server compete with training for the same cores; "
          "phases alternate so that other load hits both alike")
    return 0


if __name__ == "__main__":
    sys.exit(main())
