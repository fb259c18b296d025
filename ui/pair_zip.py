"""A learner's zip of ``images/`` beside ``masks/`` (segment) or ``labels/`` (detect) on the
new-run form: uploaded, inspected once per content hash by the task's reader, what was understood
said in one caption, what was skipped listed with why. The segment and detect forms call it."""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import streamlit as st

from playground import data
from playground.runs import uploads
from ui.common import fmt_int, show_error


@st.cache_data(show_spinner=False, max_entries=8)
def inspect(kind: str, digest: str, _raw: bytes, _read: Callable[[bytes], Any], counts: str) -> dict:
    """What ``_read`` understood of the zip (cached by ``kind`` and its content hash): classes,
    kept images, size, skipped (path, reason) and ``counts`` (the reader's method: pixels or
    objects per class); {"error": words} when nothing can be used."""
    try:
        d = _read(_raw)
    except data.DataError as e:
        return {"error": str(e)}
    return {"classes": d.classes, "n": len(d.names), "shape": tuple(d.x.shape[1:]), "skipped": d.skipped,
            counts: getattr(d, counts)(), "label": d.label}


def skipped_table(skipped: list, label: str) -> None:
    """The files left out, each with the reason, in an expander called ``label``."""
    with st.expander(label):
        st.dataframe(pd.DataFrame(skipped, columns=["file", "why it was skipped"]),
                     hide_index=True, width="stretch", height=min(400, 40 + 35 * len(skipped)))


def own_zip(*, uploader: str, key: str, help: str, empty: str, spinner: str, refused: str,
            inspect_zip: Callable[[str, bytes], dict],
            caption: Callable[[dict], str]) -> tuple[dict, tuple[int, int, int], int, int, str] | None:
    """(data config, input shape, classes, training images, own data's name) of an uploaded
    zip; None (said on the page) while there is none or it cannot be used."""
    up = st.file_uploader(uploader, type=["zip"], key=key, help=help)
    if up is None:
        st.info(empty)
        return None
    digest = uploads.digest(up.getvalue())
    with st.spinner(spinner):
        got = inspect_zip(digest, up.getvalue())
    if "error" in got:
        show_error(f"{refused} {got['error']}")
        return None
    st.caption(caption(got))
    if got["skipped"]:
        skipped_table(got["skipped"], f"Skipped: {fmt_int(len(got['skipped']))} files")
    n_train = round(got["n"] * (1 - data.OWN_DATA["val_fraction"]))
    cfg = {"name": "zip", "path": str(uploads.path_for(digest))}
    return cfg, got["shape"], len(got["classes"]), n_train, got["label"]
