"""Shared test setup: the repo root on sys.path, a private runs folder per test session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never write into the user's runs folder or torch's hub cache.
os.environ.setdefault("PLAYGROUND_RUNS_DIR", str(ROOT / "test-artifacts" / "runs"))
