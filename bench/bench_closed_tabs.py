"""Server memory while tabs upload a zip and close, one after another.

A class server must not keep a closed tab's upload. Streamlit keeps a closed tab's session
``server.disconnectedSessionTTL`` seconds and then drops it; the Training page releases the
uploaded files of sessions gone longer than that and collects the garbage once (a dropped session
is a web of reference cycles and this app turns Streamlit's collection after every rerun off).
This starts the real app (TTL shortened to ``--ttl`` s), and ``--tabs`` times opens a fresh
browser context on Training, uploads the same incompressible zip (``--mb``), waits for the
inspection, closes the tab and waits past the TTL. It prints the server's RSS after each upload
and after each close, and the growth from the first close to the last in zips: near 0 is the
goal (before the collection it grew by one zip per tab).

    python bench/bench_closed_tabs.py [--tabs 6] [--mb 50] [--ttl 3]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) >> 10 for line in f if line.startswith("VmRSS"))


def make_zip(path: Path, mb: int) -> None:
    rng = np.random.default_rng(0)
    n = max(2, mb * 1_000_000 // 270_000)            # ~270 KB per 300 x 300 RGB PNG, stored
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(
                png, "PNG", compress_level=0)
            zf.writestr(f"c{i % 2}/{i}.png", png.getvalue())
    path.write_bytes(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tabs", type=int, default=6)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--ttl", type=int, default=3)
    a = ap.parse_args()
    os.environ["STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL"] = str(a.ttl)
    from playwright.sync_api import sync_playwright

    from playground import data
    from tests.e2e.conftest import start_server, stop_server
    from tests.e2e.helpers import goto, wait_idle, widget
    from tests.e2e.test_inside_classify import pick
    from tests.e2e.test_train import view_button

    tmp = Path(tempfile.mkdtemp())
    z = tmp / "big.zip"
    make_zip(z, a.mb)
    zip_mb = z.stat().st_size / 2**20
    srv = start_server(tmp / "runs")
    rows: list[tuple[int, int, int]] = []
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                  headless=True, args=["--no-sandbox", "--disable-gpu"])
            for i in range(a.tabs):
                ctx = b.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                page.set_default_timeout(120_000)
                goto(page, f"{srv.url}/train")
                wait_idle(page)
                if page.locator("[data-testid='stButtonGroup'] button").filter(has_text="New run").count():
                    view_button(page, "New run").click()
                    wait_idle(page)
                pick(page, "Dataset", data.DATASETS["zip"].label)
                widget(page, "Zip of class folders").locator("input[type='file']").set_input_files(str(z))
                page.get_by_text("Your data, as the app understood it").wait_for()
                wait_idle(page)
                up = rss_mb(srv.proc.pid)
                ctx.close()
                time.sleep(a.ttl + 10)          # past the TTL; another tab's fragment sweeps
                rows.append((i, up, rss_mb(srv.proc.pid)))
                print(f"tab {i}: uploaded {up} MB, closed {rows[-1][2]} MB", flush=True)
            b.close()
    finally:
        stop_server(srv)
    growth = (rows[-1][2] - rows[0][2]) / zip_mb if len(rows) > 1 else 0.0
    print(f"zip {zip_mb:.0f} MB; growth from the first closed tab to the last: {growth:+.2f} zips "
          f"over {len(rows) - 1} tabs")
    print(json.dumps({"zip_mb": round(zip_mb, 1), "rss_mb": rows, "growth_zips": round(growth, 2)}))


if __name__ == "__main__":
    main()
