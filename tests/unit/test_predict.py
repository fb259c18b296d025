"""``predict``: a finished run applied to a learner's own images of any size, from the library
(:func:`playground.predict.load_predictor`) and from the CLI (``python -m playground predict``),
on a classify run and a segment run trained here in seconds; a corrupt or huge image is a
message for that image only; a run still training, failed, unknown, or no images: refused."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from playground import checkpoints, cli, predict, runs
from playground.data import data_config
from playground.runs import store
from playground.training import RunConfig

SHAPES = ["circle", "square"]
DATA = data_config("shapes", n_train=256, n_val=64, texture=0.0, classes=SHAPES, size=32)


def _train(root, **kw) -> str:
    reg = runs.Registry(root)
    rid = reg.start(RunConfig(data=DATA, epochs=1, batch_size=32, **kw))
    assert reg.wait(rid, 120)
    assert runs.find_run(rid, root).status == "finished", runs.find_run(rid, root).error
    return rid


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks on one thread: on this shared 2-core box, two threads' OpenMP workers
    waiting for each other made the two runs 40 s instead of 3.5 s."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    seg = _train(root, task="segment", model={"unet": {"width": 4, "depth": 2, "context": True}})
    return root, _train(root), seg


def _photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A red disc on a light noisy background, ``w`` x ``h`` pixels."""
    rng = np.random.default_rng(seed)
    arr = (220 + rng.integers(-20, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    arr[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(w, h) / 3) ** 2] = (200, 30, 30)
    return Image.fromarray(arr)


def _file(path, img: Image.Image, fmt: str = "PNG"):
    img.save(path, fmt)
    return str(path)


def test_classify_run_predicts_the_top_classes_of_any_image(trained):
    root, clf, _ = trained
    p = predict.load_predictor(clf, root)
    for img in (_photo(32, 32), _photo(200, 90), np.asarray(_photo(17, 45).convert("L"))):
        top = p.predict(img)["top"]
        assert [t["label"] for t in top] and {t["label"] for t in top} <= set(SHAPES)
        assert len(top) == 2 and top[0]["p"] >= top[1]["p"] and sum(t["p"] for t in top) == pytest.approx(1)
    same = predict.load_predictor(runs.find_run(clf, root).dir)    # a run folder works too
    assert same.predict(_photo(64, 48)) == p.predict(_photo(64, 48))


def test_segment_run_writes_masks_at_each_images_own_size(trained, tmp_path, capsys):
    root, _, seg = trained
    paths = [_file(tmp_path / "wide.png", _photo(75, 50)), _file(tmp_path / "tiny.jpg", _photo(20, 20), "JPEG")]
    out = tmp_path / "out"
    code = cli.main(["predict", seg, *paths, "--out", str(out), "--json", "--runs-dir", str(root)])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and [r["image"] for r in lines] == paths
    names = ["background", *SHAPES]
    for rec, size in zip(lines, [(75, 50), (20, 20)]):
        assert set(rec) == {"image", "mask", "pixels"} and set(rec["pixels"]) <= set(names)
        assert sum(rec["pixels"].values()) == size[0] * size[1]
        mask = Image.open(rec["mask"])
        assert mask.mode == "L" and mask.size == size                    # the image's own size
        values = np.asarray(mask)
        assert values.max() < len(names)                                 # pixel value = class index
        counts = np.bincount(values.ravel(), minlength=len(names))
        assert {c: int(n) for c, n in zip(names, counts) if n} == rec["pixels"]
        overlay = Image.open(rec["mask"].replace(".mask.png", ".overlay.png"))
        assert overlay.mode == "RGB" and overlay.size == size
    assert sorted(f.name for f in out.iterdir()) == ["tiny.mask.png", "tiny.overlay.png",
                                                     "wide.mask.png", "wide.overlay.png"]
    best = runs.find_run(seg, root).best_checkpoint           # a page that classifies never gets it
    with pytest.raises(checkpoints.CheckpointError, match="segment network, not a classifier"):
        checkpoints.load_checkpoint(best)
    assert checkpoints.load_checkpoint(best, any_task=True).task == "segment"


def test_the_mask_is_the_argmax_of_bilinearly_upsampled_scores_in_bands(monkeypatch):
    scores = torch.randn(4, 8, 6, generator=torch.Generator().manual_seed(0))
    whole = F.interpolate(scores[None], size=(53, 37), mode="bilinear", align_corners=False)[0].argmax(0)
    monkeypatch.setattr(predict, "BAND_BYTES", 4 * 4 * 37 * 5)       # bands of 5 rows
    assert torch.equal(predict.upsampled_argmax(scores, (53, 37)), whole)


def test_boxes_are_scaled_from_the_networks_input_to_the_images_pixels():
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [16.0, 8.0, 32.0, 40.0], [-3.0, 60.0, 70.0, 66.0]])
    out = predict.scale_boxes(boxes, (64, 64), (128, 320))               # H 64 -> 128, W 64 -> 320
    assert out.tolist() == [[0, 0, 320, 128], [80, 16, 160, 80], [0, 120, 320, 128]]
    assert predict.scale_boxes(torch.zeros(0, 4), (64, 64), (10, 10)).shape == (0, 4)


def test_a_corrupt_or_huge_image_is_a_message_and_the_others_are_predicted(trained, tmp_path, capsys):
    root, clf, _ = trained
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    buf = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buf, "PNG")                        # 48 megapixels, a small file
    (tmp_path / "huge.png").write_bytes(buf.getvalue())
    good = _file(tmp_path / "ok.png", _photo(40, 30))
    args = [str(bad), str(tmp_path / "huge.png"), good, str(tmp_path / "missing.png")]
    code = cli.main(["predict", clf, *args, "--runs-dir", str(root)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1 and len(lines) == 4
    assert all("cannot be read" in line for line in lines[:2]) and "pixels" in lines[1], lines
    assert lines[2].startswith(good) and "%" in lines[2] and "no such file" in lines[3]


def test_runs_that_cannot_predict_are_refused_in_words(trained, tmp_path, capsys):
    root, clf, _ = trained
    assert cli.main(["predict", "no-such-run", "x.png", "--runs-dir", str(root)]) == 2
    assert "No run 'no-such-run'" in capsys.readouterr().err
    assert cli.main(["predict", clf, "--runs-dir", str(root)]) == 2
    assert "no images" in capsys.readouterr().err

    failed = tmp_path / "failed"
    shutil.copytree(runs.find_run(clf, root).dir, failed)
    st = store.read_status(failed)
    store.write_status(failed, {**st, "status": "failed", "error": "the loss became NaN at step 9"})
    with pytest.raises(predict.PredictError, match="failed .the loss became NaN"):
        predict.load_predictor(failed)
    for name in ("best.pt", "last.pt"):
        (failed / name).unlink()
    store.write_status(failed, st)
    with pytest.raises(predict.PredictError, match="no checkpoint"):
        predict.load_predictor(failed)


def test_a_run_still_training_is_refused(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(RunConfig(data=DATA, epochs=200, batch_size=32))
    try:
        run_dir = tmp_path / rid
        for _ in range(600):                      # its first epoch done: best.pt is there
            if (run_dir / "best.pt").exists() or reg.get(rid).done.is_set():
                break
            reg.wait(rid, 0.1)
        assert (run_dir / "best.pt").exists()
        with pytest.raises(predict.PredictError, match="still training"):
            predict.load_predictor(rid, tmp_path)
    finally:
        reg.stop(rid)
        reg.wait(rid, 60)
    assert predict.load_predictor(rid, tmp_path).predict(_photo(32, 32))["top"]     # stopped: usable


def test_runs_are_listed_by_their_tasks_own_result(trained, capsys):
    """A segment run is judged by its mIoU (its label, the CLI's ``runs`` line), a classify run by
    its accuracy: the numbers its epoch lines hold, not a validation accuracy a mask never has."""
    root, cls_id, seg_id = trained
    seg, cls = runs.find_run(seg_id, root), runs.find_run(cls_id, root)
    _, seg_epochs, _ = runs.read_metrics(seg.dir)
    miou = seg_epochs[-1]["val_miou"]
    assert seg.summary["val_miou"] == miou and f"val mIoU {miou:.3f}" in seg.label
    assert "accuracy" in cls.label and f"{cls.summary['val_acc']:.1%}" in cls.label
    assert cli.main(["runs", "--runs-dir", str(root)]) == 0
    lines = {d["id"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines[seg_id]["val_miou"] == miou and "val_dice" in lines[seg_id]
    assert "val_miou" not in lines[cls_id] and "val_acc" in lines[cls_id]
