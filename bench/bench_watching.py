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


def start_server(runs_dir: Path, gc_on: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PLAYGROUND_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false", "--runner.postScriptGC", "true" if gc_on else "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="training speed: watched vs nobody watching")
    ap.add_argument("--phase", type=float, default=12.0, help="seconds per phase")
    ap.add_argument("--pairs", type=int, default=3, help="alone/watched phase pairs")
    ap.add_argument("--compare-gc", action="store_true", help="also measure with postScriptGC on")
    ap.add_argument("--server-only", action="store_true",
                    help="also measure the page re-run in-process (AppTest) with no browser")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
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
