"""What the paths of a learner's zip or folder mean, with torchvision ``ImageFolder`` semantics:
the class is the first folder under the root (files at any depth below it belong to it), one
wrapping top folder is skipped, and split folders are kept (``train/`` with ``val/`` or
``valid/`` for validation, ``test/`` held out). ``LAYOUTS`` is the catalogue of layouts the app
reads; :func:`understand` maps every path to (split, class) or a reason it is skipped, and a
layout it cannot read gets a message naming the expected ones with a tiny example tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .dataset import DataError
from .folders import is_image_path


@dataclass(frozen=True)
class Layout:
    key: str
    label: str
    example: str        # a tiny tree, one path per line
    meaning: str        # what the app does with it


LAYOUTS: dict[str, Layout] = {lay.key: lay for lay in [
    Layout("classes", "One folder per class",
           "cats/1.jpg\ncats/indoor/2.jpg\ndogs/3.jpg",
           "the class is the first folder (sub-folders belong to it); a share of each class is "
           "held out for validation"),
    Layout("split", "train/ and val/ (or valid/) folders, each with the class folders; test/ "
                    "optional",
           "train/cats/1.jpg\ntrain/dogs/2.jpg\nval/cats/3.jpg\nval/dogs/4.jpg\ntest/cats/5.jpg",
           "validation kept as given; test/ held out and evaluated once at the end of a run (with "
           "train/ and test/ only, a share of train/ is held out for validation)"),
]}

# Split folder names (any case) -> the split they hold.
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test"}
SPLITS = ("train", "val", "test")


@dataclass
class Understood:
    """The layout as understood: ``items`` (member index, split, class) for every image kept,
    ``skipped`` (path, reason) for the files that are not."""
    layout: str
    description: str
    classes: list[str]
    items: list[tuple[int, str, str]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    wrapper: str = ""


def expected_layouts() -> str:
    """The layouts the app reads, each with its example tree (for error messages)."""
    out = []
    for lay in LAYOUTS.values():
        tree = "\n".join(f"    {line}" for line in lay.example.splitlines())
        out.append(f"  {lay.label}:\n{tree}")
    return ("The app reads these layouts (one wrapping folder around either is fine):\n"
            + "\n".join(out))


def unreadable(why: str) -> DataError:
    return DataError(f"{why}\n{expected_layouts()}")


def _wrapper(parts: list[list[str]]) -> str:
    """The one top folder around everything (stripped), or "" when there is none."""
    tops = {p[0] for p in parts}
    top = next(iter(tops))
    if len(tops) == 1 and top.lower() not in SPLIT_FOLDERS and all(len(p) >= 3 for p in parts):
        return top
    return ""


def understand(paths: list[str]) -> Understood:
    """(split, class) of every image path, or why it is skipped; DataError with the expected
    layouts when the paths fit none of them."""
    skipped: list[tuple[str, str]] = []
    images: list[tuple[int, list[str]]] = []
    for i, path in enumerate(paths):
        if is_image_path(path):
            images.append((i, [p for p in path.split("/") if p]))
        else:
            suffix = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else "no extension"
            skipped.append((path, f"not an image file ({suffix})"))
    if not images:
        raise unreadable("Found no images (.jpg, .png, ...) at all.")
    wrap = _wrapper([p for _, p in images])
    if wrap:
        images = [(i, p[1:]) for i, p in images]
    placed = []
    for i, p in images:
        if len(p) < 2:
            skipped.append((paths[i], "not inside a class folder"))
        else:
            placed.append((i, p))
    if not placed:
        raise unreadable("The images are not inside class folders.")
    splits = {p[0] for _, p in placed if p[0].lower() in SPLIT_FOLDERS}
    if splits:
        return _split_layout(paths, placed, splits, skipped, wrap)
    items = [(i, "train", p[0]) for i, p in placed]
    return _finish("classes", items, skipped, wrap)


def _split_layout(paths: list[str], placed: list[tuple[int, list[str]]], splits: set[str],
                  skipped: list[tuple[str, str]], wrap: str) -> Understood:
    if "train" not in {SPLIT_FOLDERS[s.lower()] for s in splits}:
        raise unreadable(f"Found {', '.join(sorted(s + '/' for s in splits))} but no train/ folder "
                         "to learn from.")
    items = []
    for i, p in placed:
        split = SPLIT_FOLDERS.get(p[0].lower())
        if split is None:
            skipped.append((paths[i], "outside the train/, val/ and test/ folders"))
        elif len(p) < 3:
            skipped.append((paths[i], f"directly in {p[0]}/, not inside a class folder"))
        else:
            items.append((i, split, p[1]))
    return _finish("split", items, skipped, wrap)


def _finish(layout: str, items: list[tuple[int, str, str]], skipped: list[tuple[str, str]],
            wrap: str) -> Understood:
    classes = sorted({c for _, _, c in items})
    if len(classes) < 2:
        raise unreadable(f"Found images for fewer than two classes (found: {', '.join(classes) or 'none'}"
                         "); a classifier needs at least two folders of images, e.g. cats/ and dogs/.")
    found = {s for _, s, _ in items}
    return Understood(layout, describe(layout, found, len(classes), wrap), classes, items, skipped, wrap)


def describe(layout: str, splits: set[str], n_classes: int, wrap: str = "") -> str:
    """One sentence: the layout as understood."""
    inside = f" (inside the wrapping folder {wrap}/)" if wrap else ""
    if layout == "classes":
        return (f"One folder per class, {n_classes} classes{inside}; a share of each class is held "
                "out for validation.")
    parts = ["train/ and val/ kept as given" if "val" in splits
             else "train/ (a share of each class held out for validation)"]
    if "test" in splits:
        parts.append("test/ held out, evaluated once at the end")
    return f"{'; '.join(parts)}; {n_classes} classes{inside}."
