"""Upload memory budgets: a zip of tiny images asked for at a large input size is sized from its
headers before decoding, refused over ``decoding.MAX_DECODED_BYTES`` in words, and otherwise
decoded into one tensor of about the decoded size (peak RSS of a fresh process, asserted loosely)."""
from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground.data import DataError, decoding, inspect_source, mean_std
from playground.data.inspection import permute_rows_

torch.set_num_threads(1)
BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_upload_memory.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_upload_memory", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_zip(n: int, side: int = 8) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(png, "PNG")
            zf.writestr(f"c{i % 2}/{i}.png", png.getvalue())
    return buf.getvalue()


def test_loading_tiny_images_at_224_px_stays_within_a_few_decoded_sizes():
    out = _bench().measure("load", 2000, 224)
    ratio = out["growth"] / out["decoded"]
    print(f"decoded {out['decoded'] / 2**20:.0f} MB, peak growth {out['growth'] / 2**20:.0f} MB, "
          f"ratio {ratio:.2f}x")
    assert out["shape"] == [3, 224, 224]
    # Loose on purpose: ru_maxrss has measured 2.0x here and 4.8x in a fresh clone's CI run (the
    # bench prints the figure). The bug it guards against, float64 copies of whole chunks, is 8x+.
    assert out["growth"] < 6 * out["decoded"] + (300 << 20)


def test_over_the_budget_is_refused_before_decoding_fast_and_small():
    out = _bench().measure("load", 3000, 1024)       # 3,000 x 1024 x 1024 >= 2.9 GB
    assert "decode to 2.93 GB" in out.get("refused", ""), out
    assert "smaller input size" in out["refused"]
    # refused from the headers: in a fraction of the decode time and far below the decoded size
    # (the peak is read from ru_maxrss, which once measured 1.2 GB in a suite run, 4 MB alone)
    assert out["seconds"] < 10 and out["growth"] < out["decoded"] / 4, out


def test_budget_checked_on_the_headers_says_size_and_what_fits(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    data = tiny_zip(40)
    insp = inspect_source(data, size=32)
    assert insp.decoded_bytes == insp.total * 3 * 32 * 32 == 40 * 3 * 32 * 32
    # colour known only from the headers: the gray lower bound passes, the exact size does not
    monkeypatch.setattr(decoding, "MAX_DECODED_BYTES", 40 * 3 * 32 * 32 - 1)
    with pytest.raises(DataError) as e:
        inspect_source(tiny_zip(40, side=9), size=32)
    msg = str(e.value)
    assert "40 images at 3 x 32 x 32 pixels decode to 0.1 MB" in msg and "at most 31 px fits" in msg
    with pytest.raises(DataError, match="use fewer images"):
        decoding.check_budget(10**6, (3, 64, 64))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 50])
def test_permute_rows_in_place_equals_indexing(n):
    g = torch.Generator().manual_seed(n)
    x = torch.randint(0, 255, (n, 2, 3, 3), dtype=torch.uint8, generator=g)
    perm = torch.randperm(n, generator=g)
    want = x[perm].clone()
    ptr = x.data_ptr()
    assert torch.equal(permute_rows_(x, perm), want) and x.data_ptr() == ptr


def test_mean_std_in_bounded_chunks_matches_float64():
    x = torch.randint(0, 256, (37, 3, 50, 50), dtype=torch.uint8)
    ref = x.double().div(255)
    m, s = mean_std(x, chunk=None)
    assert m == pytest.approx(tuple(ref.mean(dim=(0, 2, 3)).tolist()), abs=1e-4)
    assert s == pytest.approx(tuple(ref.std(dim=(0, 2, 3), unbiased=False).tolist()), abs=1e-4)
    assert mean_std(x, chunk=1) == (m, s)
