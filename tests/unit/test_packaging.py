"""The package installs as a library: a wheel builds and carries what the code loads (the shipped
model, the sample photos), the console script is declared, and the lock pins what CI tests."""
from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[2]


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if line and not line.startswith(("#", " ")) and "==" in line:
            pkg, version = line.split("==")
            pins[pkg.strip().lower()] = version.strip()
    return pins


def test_wheel_holds_the_package_and_its_assets(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("cnn_playground-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    from playground import paths
    shipped = [p.relative_to(ROOT).as_posix() for p in [paths.DEFAULT_MODEL, *paths.sample_photos()]]
    assert shipped and set(shipped) <= names
    assert {"playground/__init__.py", "playground/networks/schema.py", "playground/training/loop.py"} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cnn-playground = playground.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "views/", "bench/")) for n in names)


def test_the_lock_pins_every_dependency_and_the_running_torch():
    runtime, test = _lock("lock.txt"), _lock("lock-test.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [d.split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for d in project["dependencies"] + project["optional-dependencies"]["test"]]
    assert set(declared) <= set(test)
    assert all(test[k] == v for k, v in runtime.items())      # the test lock extends the runtime one
    assert torch.__version__.split("+")[0] == runtime["torch"]
    assert torchvision.__version__.split("+")[0] == runtime["torchvision"]


def test_python_m_playground_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "playground", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "train" in out.stdout
