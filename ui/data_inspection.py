"""The Training page's own-data part: a zip uploaded (or a folder on the server) is inspected
before training with :func:`playground.data.inspect_source` (cached per content hash, with
progress), the learner sees what the app understood (the layout, images per class and split,
sizes and modes, skipped files, a preview grid per class, the proposed input and network) and
may change the input size and channels.

    own = own_data_widgets(defaults)   # in the form's data column; None until there is data
    show_inspection(own)               # full width, below the form's columns
    raw = upload_for(cfg.data)         # the zip's bytes for Registry.start(..., upload=raw)

An uploaded zip is inspected from its bytes in memory and written to disk only when a run on it
starts (playground.runs.uploads keeps it for the runs that use it). What stays in the server's
memory: Streamlit's uploader holds the bytes for the session (see the README); the inspection
is cached by the zip's content hash, and holds no bytes of the zip.
"""
from __future__ import annotations

import gc
import hashlib
import html
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from playground import data, networks, paths
from playground.code.safety import is_loopback
from playground.data.decoding import MAX_DECODED_BYTES, decoded_bytes, gb
from playground.runs import uploads
from playground.figures import data as figs
from ui.common import fmt_int, plain, show_error
from ui import pair_zip

SOURCES = {"zip": "Upload a zip", "folder": "A folder on this server"}
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test (held out)"}
CHANNELS = {1: "gray", 3: "colour"}
SIZES = [16, 24, 28, 32, 48, 64, 96, 128, 160, 224]


@dataclass
class OwnData:
    """What the run form needs from the learner's data, and the inspection to show."""
    cfg: dict                              # the run's data config (RunConfig.data)
    input_shape: tuple[int, int, int]      # (C, H, W) the network will take
    classes: int
    n_train: int                           # training images (for steps per epoch)
    inspection: data.Inspection
    proposal: dict                         # the proposed network's model config
    label: str = ""                        # the zip's file name or the folder's name


@st.cache_data(max_entries=8, show_spinner=False)
def _inspect(digest: str, _source: str | bytes) -> data.Inspection:
    """The inspection of ``_source`` (a folder's path or a zip's bytes, left out of the cache
    key: the cache neither hashes nor keeps the bytes), cached by ``digest`` (the upload's
    content hash, or the folder's path and file listing): a rerun, another tab, another session
    reuse it. The
    progress bar is made here, inside the cached function, so Streamlit can replay it (an
    element made outside could not be); updates are thinned to every 5%."""
    bar = st.progress(0.0, text="Reading your images ...")
    shown = [-1.0]

    def progress(message: str, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction - shown[0] >= 0.05:
            shown[0] = fraction
            bar.progress(fraction, text=message)

    try:
        return data.inspect_source(_source, progress=progress)
    finally:
        bar.empty()


def _folder_digest(folder: Path) -> str:
    """The path with every file's name, size and modification time: a changed folder is
    inspected again, an unchanged one is not (no file is read)."""
    h = hashlib.sha256(str(folder.resolve()).encode())
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            try:
                s = os.stat(os.path.join(root, f))
            except OSError:
                continue
            h.update(f"{root}/{f}:{s.st_size}:{s.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _folder_refused(folder: Path) -> str:
    """Why this folder may not be read ("" when it may): a page served to other computers
    reads folders inside the data folder only, or anyone who can open it could look at any
    image the server can read."""
    if is_loopback(st.get_option("server.address")):
        return ""
    root = paths.data_dir().resolve()
    if folder.resolve().is_relative_to(root):
        return ""
    return (f"This app is served to other computers, so it reads folders inside its data folder "
            f"only ({root}); copy the folder there, or upload it as a zip. (Served to this "
            "computer alone, with `--server.address 127.0.0.1`, any folder can be read.)")


def _source() -> tuple[str, str, str, str] | None:
    """(catalogue name, path, digest, label) of the learner's data; None until given."""
    kind = st.radio("Your images", list(SOURCES), format_func=SOURCES.get, key="train_own_source",
                    horizontal=True)
    if kind == "zip":
        up = st.file_uploader("Zip of class folders", type=["zip"], key="train_zip",
                              help="One folder per class (cats/, dogs/), or train/ and val/ (and "
                                   "test/) folders with the class folders inside.")
        if up is None:
            st.info("Upload a zip with one folder of images per class, or train/ and val/ "
                    "folders holding the class folders.")
            return None
        digest = _upload_digest(up)     # the run will read the zip from this path, once kept
        return "zip", str(uploads.path_for(digest)), digest, up.name
    text = st.text_input("Folder on the server", key="train_folder", placeholder="/data/cats_vs_dogs",
                         help="A folder on the computer that runs the app, holding one folder per "
                              "class (or train/ and val/ folders).")
    if not text.strip():
        st.info("Type the path of a folder of class folders on this server.")
        return None
    folder = Path(text.strip()).expanduser()
    if not folder.is_dir():
        show_error(f"There is no folder {plain(repr(str(folder)))} on the computer that runs the app.")
        return None
    why = _folder_refused(folder)
    if why:
        show_error(why)
        return None
    return "folder", str(folder), _folder_digest(folder), folder.name


def _upload_digest(up) -> str:
    """SHA-256 of the uploaded file, hashed once per upload (not on every rerun)."""
    fid, digest = st.session_state.get("train_zip_digest") or ("", "")
    if fid != up.file_id:
        digest = hashlib.sha256(up.getvalue()).hexdigest()    # getvalue: the shared bytes, no copy
        st.session_state["train_zip_digest"] = (up.file_id, digest)
    return digest


# Streamlit (1.67) keeps an uploaded file's bytes per session (its uploaded-file manager) and
# removes them when the session shuts down. A closed tab's session is kept
# server.disconnectedSessionTTL seconds (120) for a reconnect; after that its storage (a TTL
# cache with no removal hook) lets it go without shutting it down, so nothing removes its files.
# The Training page sweeps them: files of a session not active for longer than the TTL go.
_LAST_ACTIVE: dict[str, float] = {}      # session id -> when it was last seen active
_SWEEP = threading.Lock()


def release_closed_uploads() -> int:
    """Drop the uploaded files of sessions gone for longer than the disconnected-session TTL
    (a tab closed more than ~2 minutes ago); returns how many sessions were swept."""
    try:
        from streamlit.runtime import Runtime
        rt = Runtime.instance()
        mgr = rt.uploaded_file_mgr
        held = getattr(mgr, "file_storage", None)          # the in-memory manager's files
        if not isinstance(held, dict):
            return 0
        ttl = float(st.get_option("server.disconnectedSessionTTL") or 0)
        now, swept = time.monotonic(), 0
        with _SWEEP:
            for sid in list(held):
                if rt.is_active_session(sid):
                    _LAST_ACTIVE[sid] = now
                elif now - _LAST_ACTIVE.setdefault(sid, now) > ttl + 5:
                    mgr.remove_session_files(sid)
                    _LAST_ACTIVE.pop(sid, None)
                    swept += 1
            if swept:
                # A dropped session is a web of reference cycles holding its widget state (the
                # UploadedFile's bytes), and postScriptGC is off (see README, "Streamlit and the
                # garbage collector"): without a collection each closed tab kept its zip (measured:
                # +52 MB per 51 MB zip, six tabs in a row; with it the server stays at one zip).
                gc.collect()
            for sid in [s for s in _LAST_ACTIVE if s not in held]:
                _LAST_ACTIVE.pop(sid, None)
        return swept
    except Exception:  # noqa: BLE001 - Streamlit's internals moved: keep serving the page
        return 0


def upload_for(data_cfg: dict) -> bytes | None:
    """The bytes of the zip uploaded in this session when ``data_cfg`` (a run's data config)
    trains on it, for ``Registry.start(..., upload=...)`` to keep; else None."""
    up = st.session_state.get("train_zip")
    if data_cfg.get("name") != "zip" or up is None or not hasattr(up, "file_id"):
        return None
    return up.getvalue() if str(uploads.path_for(_upload_digest(up))) == data_cfg.get("path") else None


def _inspection(name: str, path: str, digest: str) -> data.Inspection | None:
    """The cached inspection (a progress bar the first time); errors shown in words. A zip is
    read from the uploader's bytes (nothing written to disk)."""
    up = st.session_state.get("train_zip") if name == "zip" else None
    try:
        return _inspect(digest, up.getvalue() if up is not None else path)
    except data.DataError as err:
        head, _, layouts = str(err).partition("\n")   # a layout not understood: the expected ones
        show_error(f"This data cannot be used: {head}")
        if layouts.strip():
            st.code(layouts, language=None)
    except Exception as err:  # noqa: BLE001 - an odd archive must not break the page
        show_error("The images could not be read.", err)
    return None


def _shape_widgets(insp: data.Inspection) -> tuple[int | None, int | None, tuple[int, int, int]]:
    """(size or None, channels or None, the input shape): None where the learner keeps the
    proposal, so the run's config says "from the data"."""
    c0, h0, w0 = insp.input_shape
    sizes = sorted({*SIZES, h0})
    size = st.select_slider("Input size (pixels)", sizes, value=h0, key="train_own_size",
                            format_func=lambda s: f"{w0} x {h0}" if s == h0 else f"{s} x {s}",
                            help=f"Proposed from the data: {w0} x {h0} px. Every image is resized "
                                 "to this (centre crop to a square first).")
    chans = st.segmented_control("Channels", list(CHANNELS), default=c0, key="train_own_channels",
                                 format_func=CHANNELS.get, help=f"Proposed from the data: "
                                 f"{CHANNELS[c0] if c0 in CHANNELS else c0}.") or c0
    keep_size, keep_c = size == h0, chans == c0
    shape = (int(chans), h0, w0) if keep_size else (int(chans), int(size), int(size))
    return None if keep_size else int(size), None if keep_c else int(chans), shape


def _n_train(counts: dict[str, dict[str, int]], val_fraction: float | None) -> int:
    train = sum(counts.get("train", {}).values())
    if val_fraction is None:          # the learner's own validation split is kept
        return train
    pool = sum(sum(per.values()) for split, per in counts.items() if split != "test")
    return round(pool * (1 - val_fraction))


def own_data_widgets(defaults: dict) -> OwnData | None:
    """The own-data widgets of the form's data column: the source, the inspection (computed,
    shown later by :func:`show_inspection`), the input size and channels, the validation share
    when the data has no validation split. None until usable data is given."""
    got = _source()
    if got is None:
        return None
    name, path, digest, label = got
    insp = _inspection(name, path, digest)
    if insp is None:
        return None
    size, channels, shape = _shape_widgets(insp)
    frac = None
    if "val" not in insp.counts:
        frac = st.slider("Validation share", 0.1, 0.5, float(defaults["val_fraction"]), 0.05,
                         key="train_val_frac", help="No val/ folder: this share of each class "
                                                     "is held out for validation.")
    cfg = data.data_config(name, path=path, size=size, channels=channels, val_fraction=frac)
    cfg["size"], cfg["channels"] = size, channels       # None: what the data proposes
    proposal = {k: v for k, v in insp.proposal.items() if k not in ("params", "macs")}
    return OwnData(cfg, shape, len(insp.classes), _n_train(insp.counts, frac), insp, proposal, label)


# --------------------------------------------------------------------------------------------
# The inspection, shown before launch
# --------------------------------------------------------------------------------------------
def _counts_table(counts: dict[str, dict[str, int]], classes: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({SPLIT_WORDS.get(s, s): [per.get(c, 0) for c in classes]
                       for s, per in counts.items()}, index=classes)
    df.loc["all classes"] = df.sum()
    return df


def _found(insp: data.Inspection) -> str:
    sizes = sorted(insp.sizes.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{w} x {h} ({fmt_int(n)})" for (w, h), n in sizes[:6])
    more = f" and {len(sizes) - 6} more sizes" if len(sizes) > 6 else ""
    modes = ", ".join(f"{m} ({fmt_int(n)})" for m, n in sorted(insp.modes.items(), key=lambda kv: -kv[1]))
    return f"**Sizes found** (width x height, images): {shown}{more}.  \n**Modes found:** {modes}."


def _previews(insp: data.Inspection) -> None:
    st.markdown("**A few images of each class** (as found, before resizing)")
    for cls in insp.classes:
        imgs = insp.previews.get(cls) or []
        if not imgs:
            continue
        cols = st.columns([1.2] + [1] * 8, vertical_alignment="center")
        cols[0].markdown(f"**{plain(cls)}**")     # a folder's name is text
        for col, img in zip(cols[1:], imgs[:8]):
            col.image(img, width="stretch", clamp=True)


def _skipped(insp: data.Inspection) -> None:
    if not insp.skipped:
        st.caption("Every file was read: nothing skipped.")
        return
    reasons: dict[str, int] = {}
    for _, why in insp.skipped:
        reasons[why] = reasons.get(why, 0) + 1
    label = f"Skipped files: {fmt_int(len(insp.skipped))} (" + \
        ", ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]) + ")"
    pair_zip.skipped_table(insp.skipped, label)


def show_inspection(own: OwnData) -> None:
    """Everything the inspection found, full width, before the Start button."""
    insp = own.inspection
    with st.container(border=True):
        st.subheader("Your data, as the app understood it")
        st.success(f"**Layout:** {insp.description}", icon=":material/folder_open:")
        total = sum(sum(per.values()) for per in insp.counts.values())
        m = st.columns(5)
        m[0].metric("Classes", fmt_int(len(insp.classes)))
        m[1].metric("Images", fmt_int(total))
        for i, split in enumerate(("train", "val", "test")):
            if split in insp.counts and i < 3:
                m[2 + i].metric(SPLIT_WORDS[split].capitalize(), fmt_int(sum(insp.counts[split].values())))
        left, right = st.columns([3, 2], gap="medium")
        with left:
            shown = {split: {html.escape(c, quote=False): n for c, n in per.items()}   # plotly renders
                     for split, per in insp.counts.items()}                       # HTML: names are text
            st.plotly_chart(figs.split_counts(shown), key="train_own_counts", width="stretch",
                            config={"displayModeBar": False})
        with right:
            st.dataframe(_counts_table(insp.counts, insp.classes), width="stretch")
            st.markdown(_found(insp))
            c, h, w = own.input_shape
            stats = (f"the training images' mean {_fmt(insp.mean)} and std {_fmt(insp.std)}"
                     if tuple(own.input_shape) == tuple(insp.input_shape) else
                     "the training images' own mean and std (computed when the run loads them)")
            st.markdown(f"**The network's input:** {c} x {h} x {w} (channels x height x width: "
                        f"{'gray' if c == 1 else 'colour'}, {w} x {h} px), normalised with {stats}.")
            p = insp.proposal
            if p.get("params") is not None:
                st.markdown(f"**Proposed network:** {_model_name(own.proposal)}, "
                            f"{fmt_int(p['params'])} parameters and {fmt_int(p.get('macs') or 0)} "
                            f"multiply-adds per {' x '.join(map(str, insp.input_shape))} image "
                            "(the Model column shows the network you pick, at the size you pick).")
        _decoded(own)
        _skipped(insp)
        _previews(insp)


def _decoded(own: OwnData) -> None:
    """The decoded size at the chosen input, against the budget (the run is refused over it)."""
    insp = own.inspection
    n = insp.decoded_bytes // max(1, math.prod(insp.input_shape))        # images that decoded
    size = decoded_bytes(n, own.input_shape)
    text = (f"**Decoded:** {gb(size)} of {gb(MAX_DECODED_BYTES)} allowed ({fmt_int(n)} images x "
            f"{' x '.join(map(str, own.input_shape))} bytes: the memory the run holds them in).")
    if size > MAX_DECODED_BYTES:
        st.warning(text + " Choose a smaller input size or gray, or the run will be refused.")
    else:
        st.markdown(text)


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.3f}" for x in v) + ")"


def _model_name(m: dict) -> str:
    if m.get("preset") in networks.PRESETS:
        return str(networks.PRESETS[m["preset"]]["name"])
    return str(m.get("preset") or m.get("torchvision") or (m.get("spec") or {}).get("name") or "network")
