"""The real app in headless chromium, driven by Playwright.

Fixtures every e2e test reuses:
- `app_server`: `streamlit run app.py` on a free port with a private runs folder, waited for on
  /_stcore/health (one per test session).
- `page`: a fresh browser tab (1400x1000); on failure a screenshot and the server log tail go to
  test-artifacts/.
- `goto(page, url_path)`: open a page and wait until the script has finished.
Helpers in tests/e2e/helpers.py: wait_idle, assert_no_exception, screenshot.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import ARTIFACTS, CHROMIUM, goto as _goto

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class AppServer:
    url: str
    port: int
    runs_dir: Path
    log: Path
    proc: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: Path) -> AppServer:
    """`streamlit run app.py` on a free port, returned once /_stcore/health answers."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log = ARTIFACTS / f"streamlit-{port}.log"
    env = {**os.environ, "PLAYGROUND_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not come up; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return AppServer(url, port, runs_dir, log, proc)


def stop_server(server: AppServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> AppServer:
    server = start_server(tmp_path_factory.mktemp("runs"))
    yield server
    stop_server(server)


@pytest.fixture
def fresh_server(tmp_path) -> AppServer:
    """A server of the test's own, never visited: for what happens on a first request."""
    server = start_server(tmp_path / "runs")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); "
                    ".ci/run does this.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def page(browser, request, app_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_")
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - best effort
            pass
        print(f"\n--- streamlit log tail ---\n{app_server.log.read_text()[-3000:]}")
    ctx.close()


@pytest.fixture
def goto(page, app_server):
    """`goto("conv_arithmetic")` opens that page and waits for the script to finish."""

    def _open(url_path: str = ""):
        _goto(page, f"{app_server.url}/{url_path}")
        return page

    return _open
