"""Uploaded zips are kept only for the runs that use them: written when a run on them starts,
shared by runs on the same zip, deleted with the last run that uses it, bounded in total (a run
that would pass the bound is refused in words), and found again by resume."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from playground import data, runs, training
from playground.runs import uploads
from tests.unit.test_training import wait_for

torch.set_num_threads(1)


def class_zip(seed: int, n: int = 60) -> bytes:
    """Two classes of 16x16 images (bright squares vs dark ones): learnable in a second."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            cls = i % 2
            px = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8) + (150 if cls else 0)
            png = io.BytesIO()
            Image.fromarray(px.astype(np.uint8)).save(png, "PNG")
            zf.writestr(f"{'bright' if cls else 'dark'}/{i}.png", png.getvalue())
    return buf.getvalue()


def zip_config(name: str, epochs: int = 1, **kw) -> training.RunConfig:
    return training.RunConfig(name=name, data=data.data_config("zip", path="given at start", size=16),
                              model={"preset": data.propose_model((3, 16, 16), 2)["preset"]},
                              epochs=epochs, batch_size=8, schedule="none", **kw)


def test_a_zip_is_kept_once_shared_and_deleted_with_its_last_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    reg = runs.Registry(root)
    raw, other = class_zip(0), class_zip(1)
    assert not uploads.folder(root).exists()            # nothing kept before a run starts
    a = reg.start(zip_config("a"), upload=raw)
    b = reg.start(zip_config("b"), upload=raw)
    c = reg.start(zip_config("c"), upload=other)
    for rid in (a, b, c):
        assert reg.wait(rid, 120) and reg.get(rid).status == "finished", reg.get(rid).error_detail
    kept = uploads.path_for(uploads.digest(raw), root)
    assert kept.read_bytes() == raw and sorted(p.name for p in uploads.folder(root).iterdir()) == \
        sorted([kept.name, uploads.path_for(uploads.digest(other), root).name])
    assert runs.find_run(a, root).config["data"]["path"] == str(kept)      # the run names its zip
    assert sorted(uploads.users(root)[kept.resolve()]) == ["a", "b"]
    reg.delete(a)
    assert kept.exists()                                 # b still uses it
    reg.delete(b)
    assert not kept.exists()                             # gone with its last run
    assert uploads.total_bytes(root) == len(other)
    reg.delete(c)
    assert uploads.total_bytes(root) == 0


def test_the_total_is_bounded_and_the_refusal_says_what_to_delete(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    raw, other = class_zip(0), class_zip(1)
    monkeypatch.setattr(uploads, "MAX_UPLOADS_BYTES", len(raw) + len(other) // 2)
    reg = runs.Registry(root)
    a = reg.start(zip_config("first zip's run"), upload=raw)
    assert reg.wait(a, 120)
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(training.TrainingError) as e:
        reg.start(zip_config("second"), upload=other)
    msg = str(e.value)
    assert "allowed" in msg and "Delete runs that use other zips" in msg and "first zip's run" in msg
    assert sorted(p.name for p in root.iterdir()) == before          # no run folder, no zip
    assert reg.start(zip_config("same zip again"), upload=raw)       # shared: needs no room


def test_resume_finds_the_kept_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    reg = runs.Registry(root)
    rid = reg.start(zip_config("long", epochs=200), upload=class_zip(2))
    run = reg.get(rid)
    assert wait_for(lambda: len(run.epochs) >= 1, 120), run.error_detail
    reg.stop(rid)
    assert run.done.wait(30) and run.status == "stopped"
    reg2 = runs.Registry(root)                           # another process, after a restart
    reg2.resume(rid)
    again = reg2.get(rid)
    assert wait_for(lambda: len(again.epochs) >= len(run.epochs) + 1, 120), again.error_detail
    assert again.status == "running"
    reg2.stop(rid)
    assert again.done.wait(30)


def test_prune_removes_zips_no_run_uses(tmp_path):
    root = tmp_path / "runs"
    stale = uploads.folder(root)
    stale.mkdir(parents=True)
    (stale / "0123456789abcdef.zip").write_bytes(b"PK old upload")   # kept by an older version
    (stale / ".half.zip.1.2.part").write_bytes(b"PK")
    assert len(uploads.prune(root)) == 2 and not any(stale.iterdir())
