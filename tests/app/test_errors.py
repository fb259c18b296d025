"""ui.common.show_error: the message and its detail never show where things are on the server."""
from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.helpers import ROOT, assert_ok
from ui.common import scrub_paths


def _error_page():
    import pickle
    import sys as _sys
    from pathlib import Path as _P

    from playground import paths as _paths
    from ui.common import show_error
    site = next(p for p in _sys.path if p.endswith("-packages"))
    try:   # an error whose text holds the repo, site-packages, the home folder and the runs folder
        raise OSError(f"[Errno 13] Permission denied: '{_paths.runs_dir() / 'x' / 'status.json'}' "
                      f"in {_P(site) / 'torch' / 'serialization.py'} from {_P.home() / '.cache' / 'a.pt'} "
                      f"and /home/someone/notes.txt, {_paths.PACKAGE / 'checkpoints.py'}")
    except OSError as e:
        show_error(f"Could not read {_paths.workspace() / 'model.pt'}", e,
                   detail=f"pickle at {pickle.__file__}")


def test_show_error_hides_server_paths():
    at = AppTest.from_function(_error_page, default_timeout=60).run()
    assert_ok(at)
    shown = " ".join([e.value for e in at.error] + [c.value for c in at.code])
    assert "Permission denied" in shown and "status.json" in shown and "<runs>" in shown
    for secret in (str(ROOT), str(Path.home()), "/home/someone", "site-packages", sys.prefix,
                   sys.base_prefix):
        assert secret not in shown, (secret, shown)


def test_scrub_paths_whole_names_only():
    home = str(Path.home())
    assert scrub_paths(f"{home}/x") == "~/x"
    assert "~less" not in scrub_paths(f"{home}less/x")          # a longer name is another folder
    assert scrub_paths("/srv/venv/lib/python3.12/site-packages/PIL/Image.py") == "<python>/PIL/Image.py"
    assert scrub_paths(r"C:\Users\ann\model.pt") == r"~\model.pt"
    assert scrub_paths("no paths here: 3/4 of 12") == "no paths here: 3/4 of 12"
