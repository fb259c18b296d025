"""Export a run as a standalone folder a learner takes elsewhere: ``train.py`` (plain PyTorch and
torchvision, :mod:`.train_template`), ``model.py`` (the network's code, :func:`.module.to_code`),
the data and a README.txt::

    python -m playground export RUN --out DIR      # then: cd DIR && python train.py
                                                   #   or: torchrun --nproc_per_node=2 train.py

The data: the generated shapes as ``data.pt`` (the same images the run trained on: the same
generator, the same seed), a learner's zip or folder as an ImageFolder layout of PNGs
(``data/train/<class>/``, ``data/val/<class>/``, ``data/test/<class>/`` when it had one), a
torchvision set (MNIST, CIFAR-10...) as torchvision's own class, downloaded by the script.

Nothing from the run is written as code: its settings go into one ``CONFIG`` literal, each value
through ``repr`` of plain JSON types, checked to read back equal with :func:`ast.literal_eval`;
names in comments and docstrings go through :func:`.module.doc_text`; class folders are named
from the class names only when those are plain file names."""
from __future__ import annotations

import ast
import io
import pprint
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .. import checkpoints, code, networks
from ..data import DataError, Dataset, TORCHVISION_SETS, entry, load_data
from ..runs import find_run, store
from ..training import RunConfig
from . import train_template
from .module import doc_text, to_code

__all__ = ["ExportError", "export_run", "export_zip", "run_dir_of"]

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][\w .,()+-]{0,63}")   # a class folder named as the class


class ExportError(ValueError):
    """A run that cannot be exported; the message says why, in words."""


def run_dir_of(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """The folder of a run given by its id (in ``runs_dir``) or its folder's path."""
    p = Path(run)
    if p.is_dir() and (p / store.CONFIG).is_file():
        return p
    info = find_run(str(run), runs_dir) if re.fullmatch(r"[\w.-]+", str(run)) else None
    if info is None:
        raise ExportError(f"No run {str(run)[:80]!r} here: give a run id from `python -m playground runs` "
                          "or the path of a run folder.")
    return info.dir


def _checkpoint(run_dir: Path) -> checkpoints.Checkpoint:
    path = store.checkpoint_path(run_dir, "last")
    if not path.is_file():
        raise ExportError("This run has no checkpoint yet: export it once it has trained an epoch.")
    try:
        return checkpoints.load_checkpoint(path)
    except checkpoints.CheckpointError as e:
        if code.is_code_spec(torch.load(path, weights_only=True, map_location="meta").get("spec", {})):
            raise ExportError("A run of pasted PyTorch code does not export as a script: its network is "
                              "your own code already; copy it beside a training loop.") from e
        raise ExportError(f"The run's checkpoint cannot be read: {e}") from e


def _model_code(ckpt: checkpoints.Checkpoint) -> str:
    """model.py: the network's code, then ``build_model()`` that train.py imports."""
    src = to_code(ckpt.spec)
    tree = ast.parse(src)
    defs = [n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))]
    main = defs[-1]   # the network's class (after ResidualBlock) or torchvision's builder function
    body, sep, demo = src.partition('\nif __name__ == "__main__":')
    return body.rstrip() + f"\n\n\ndef build_model():\n    return {main}()\n\n" + sep + demo


def _folder_names(class_names: list[str]) -> list[str]:
    names = [c if _PLAIN_NAME.fullmatch(c) and not c.endswith((" ", ".")) else f"class_{i}"
             for i, c in enumerate(class_names)]
    return names if len({n.lower() for n in names}) == len(names) else [f"class_{i}" for i in range(len(names))]


def _write_folder(root: Path, x: torch.Tensor, y: torch.Tensor, folders: list[str]) -> None:
    from PIL import Image

    x = x.cpu().permute(0, 2, 3, 1).contiguous().numpy()     # (N, H, W, C) uint8
    for k, name in enumerate(folders):
        idx = (y == k).nonzero().flatten().tolist()
        if idx:
            (root / name).mkdir(parents=True, exist_ok=True)
        for i in idx:
            Image.fromarray(x[i, :, :, 0] if x.shape[3] == 1 else x[i]).save(root / name / f"{i:05d}.png")


def _write_data(out: Path, cfg: RunConfig, ds: Dataset | None) -> dict[str, Any]:
    """The data files, and CONFIG["data"] describing them."""
    kind = entry(cfg.data.get("name", "shapes")).kind
    if kind == "torchvision":
        return {"kind": "torchvision", "class": TORCHVISION_SETS[entry(cfg.data["name"]).key][0],
                "limit_train": cfg.data.get("limit_train") or None, "limit_val": cfg.data.get("limit_val") or None}
    assert ds is not None
    splits = {"train": (ds.train_x, ds.train_y), "val": (ds.val_x, ds.val_y),
              **({"test": (ds.test_x, ds.test_y)} if ds.has_test else {})}
    if kind == "generated":
        torch.save({f"{s}_{k}": t.cpu().contiguous() for s, (x, y) in splits.items()
                    for k, t in (("x", x), ("y", y))}, out / "data.pt")
        return {"kind": "tensors"}
    folders = _folder_names(ds.class_names)
    for s, (x, y) in splits.items():
        _write_folder(out / "data" / s, x, y, folders)
    return {"kind": "folder", "folders": folders, "channels": ds.input_shape[0]}


def _load(cfg: RunConfig) -> Dataset | None:
    if entry(cfg.data.get("name", "shapes")).kind == "torchvision":
        return None
    try:
        return load_data(cfg.data)
    except DataError as e:
        raise ExportError(f"The run's data cannot be read again, so it cannot be exported: {e}") from e


def _settings(cfg: RunConfig, ckpt: checkpoints.Checkpoint, data: dict[str, Any], image_size) -> dict[str, Any]:
    m = cfg.model
    pretrained = bool(m.get("torchvision") and m.get("pretrained")) and cfg.backbone_lr_scale != 1
    head = networks.head_path(ckpt.model) + "." if pretrained else ""
    keys = ("optimizer", "lr", "momentum", "weight_decay", "backbone_lr_scale", "batch_size", "epochs",
            "label_smoothing", "grad_clip", "seed", "schedule", "step_size", "gamma", "patience",
            "warmup_epochs", "augment", "amp")
    unfreeze = m.get("unfreeze_epoch") if m.get("torchvision") and m.get("freeze") else None
    return {"name": cfg.name, "classes": list(ckpt.class_names), **{k: getattr(cfg, k) for k in keys},
            "input_shape": list(ckpt.input_shape), "mean": list(ckpt.mean), "std": list(ckpt.std),
            "head": head, "unfreeze_epoch": None if unfreeze is None else int(unfreeze),
            "data": {**data, "image_size": list(image_size)}}


def _train_py(settings: dict[str, Any], run_id: str) -> str:
    literal = pprint.pformat(settings, sort_dicts=False, width=100)
    if ast.literal_eval(literal) != settings:     # only plain values: nothing here can run
        raise ExportError("The run's settings hold values that cannot be written as plain data.")
    title = doc_text(settings["name"] or run_id)
    doc = (f'"""Train {title} as CNN Playground trained it (run {doc_text(run_id)}): plain PyTorch and '
           'torchvision.\n\n    python train.py                        # one process: CUDA if present, '
           'else the CPU\n    torchrun --nproc_per_node=2 train.py   # DistributedDataParallel: NCCL '
           'on CUDA, gloo on CPU\n"""\n')
    return (doc + train_template.IMPORTS + "\n# The run's settings (from its config.json and checkpoint)\n"
            f"CONFIG = {literal}\n" + train_template.BODY)


def _readme(settings: dict[str, Any], run_id: str) -> str:
    d = settings["data"]
    data = {"tensors": "data.pt: the run's images as uint8 tensors (train_x, train_y, val_x, val_y)",
            "folder": "data/: the run's images as PNGs in torchvision's ImageFolder layout\n"
                      "             (data/train/<class>/, data/val/<class>/, data/test/<class>/ if it had one)",
            "torchvision": f"torchvision's {d.get('class')}, downloaded into data/ on first use"}[d["kind"]]
    return (f"{doc_text(settings['name'] or run_id)}: exported from CNN Playground (run {doc_text(run_id)}).\n\n"
            "Needs only torch and torchvision.\n\n"
            "  python train.py [--epochs N] [--batch-size B] [--device cpu|cuda]\n"
            "  torchrun --nproc_per_node=N train.py   (one process per GPU, or gloo on the CPU;\n"
            "                                          --batch-size is shared by the processes)\n\n"
            "Files:\n  train.py   the run's optimizer, schedule, augmentation, normalisation, epochs "
            "and batch;\n             prints the accuracy each epoch, saves model.pt at the end\n"
            "  model.py   the network as PyTorch code (build_model())\n"
            f"  {data}\n")


def export_run(run: str | Path, out: str | Path, *, runs_dir: str | Path | None = None) -> Path:
    """Write the standalone folder of ``run`` (an id or a run folder) into ``out``; returns it."""
    run_dir = run_dir_of(run, runs_dir)
    cfg = RunConfig.from_dict(store.read_config(run_dir).get("config") or {})
    if cfg.task != "classify":
        raise ExportError(f"This is a {cfg.task} run: export writes classification runs as a script "
                          "so far; its checkpoint and metrics are in the run folder.")
    ckpt = _checkpoint(run_dir)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty: export into a new folder.")
    ds = _load(cfg)
    out.mkdir(parents=True, exist_ok=True)
    image_size = ds.input_shape[1:] if ds is not None else entry(cfg.data["name"]).input_shape[1:]
    settings = _settings(cfg, ckpt, _write_data(out, cfg, ds), image_size)
    (out / "model.py").write_text(_model_code(ckpt))
    (out / "train.py").write_text(_train_py(settings, run_dir.name))
    (out / "README.txt").write_text(_readme(settings, run_dir.name))
    return out


def export_zip(run: str | Path, *, runs_dir: str | Path | None = None) -> bytes:
    """The exported folder as a zip (the Training page's download), under a folder of the run's id."""
    run_dir = run_dir_of(run, runs_dir)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_run(run_dir, Path(tmp) / "export")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    z.write(f, f"{run_dir.name}/{f.relative_to(folder)}")
    return buf.getvalue()
