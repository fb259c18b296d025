"""Guards against Streamlit's post-script GC coming back (it slows background training ~10x)."""
import gc
import tomllib
from pathlib import Path

from streamlit import config as st_config

ROOT = Path(__file__).resolve().parents[2]


def test_post_script_gc_is_off_in_config():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False
    # and the option still exists under that name in the installed Streamlit
    assert st_config.get_option("runner.postScriptGC") in (True, False)


def test_app_freezes_gc_after_imports():
    src = (ROOT / "app.py").read_text()
    assert "gc.freeze()" in src


def test_playground_never_imports_streamlit():
    offenders = [p.name for p in (ROOT / "playground").rglob("*.py")
                 if "import streamlit" in p.read_text() or "from streamlit" in p.read_text()]
    assert offenders == []
    assert gc.isenabled()
