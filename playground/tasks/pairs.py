"""A learner's zip or folder laid out as ``images/`` beside a folder of partners (``masks/`` for
segmentation, YOLO ``labels/`` for detection), matched by file name: the one reading of that
layout both readers share (tasks/masks.py, tasks/labels.py)."""
from __future__ import annotations

import os
from typing import Callable

from ..data.folders import Source, is_image_path

IMAGES, CLASSES_FILE = "images", "classes.txt"


def sort_members(src: Source, partners: str, is_partner: Callable[[str], bool],
                 other: str) -> tuple[dict[str, int], dict[str, int], list[tuple[str, str]], int | None]:
    """({stem: image member}, {stem: partner member}, skipped (path, reason), member index of
    classes.txt or None). One folder wrapping everything (``mydata/images/...``) is allowed;
    ``is_partner(rest)`` says which files of ``partners/`` count; anything else is skipped as
    "not an image in images/ or ``other``"."""
    roots = {m.path.split("/")[0] for m in src.members}
    wrap = (next(iter(roots)) + "/") if len(roots) == 1 and not {IMAGES, partners} & roots else ""
    imgs: dict[str, int] = {}
    found: dict[str, int] = {}
    skipped: list[tuple[str, str]] = []
    classes_at = None
    for i, m in enumerate(src.members):
        rel = m.path[len(wrap):] if m.path.startswith(wrap) else m.path
        top, _, rest = rel.partition("/")
        stem = os.path.splitext(rest)[0]
        if rel == CLASSES_FILE:
            classes_at = i
        elif top == IMAGES and rest and is_image_path(rest):
            imgs[stem] = i
        elif top == partners and rest and is_partner(rest):
            found[stem] = i
        else:
            skipped.append((m.path, f"not an image in {IMAGES}/ or {other}"))
    return imgs, found, skipped, classes_at
