"""Every page's state in its URL: a link opens exactly what is on screen.

A page declares its state once, as a list of :class:`Param` (URL name -> session-state key,
the allowed values or range read from the library's catalogues, the default), and calls

    links.bind("network", PARAMS)      # before its widgets are created
    links.share("network")             # a "copy link" control (anywhere on the page)

``bind`` reads the link once, at the session's first run of the page (URL -> session state, so
the widgets are created with the link's values), keeps bound values that Streamlit drops when
their widget is not drawn (a hidden tab, another page), and writes the state back to
``st.query_params`` on every run: only values that differ from their default, so links stay
short (Streamlit updates the address bar without reloading). Inside a fragment, ``sync(page)``
writes the URL again. Unknown or out-of-range parameters are ignored with one small notice,
never an exception. Values whose options are known only later in the script (a model's layers)
are declared ``late=True`` and taken with :func:`take` just before their widget.
"""
from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from playground import networks

MISSING = object()
SCHEMAS: dict[str, Sequence[Param]] = {}   # page -> its params, registered by bind()
MAX_LINK_SPEC = 8_000        # characters of an encoded spec accepted from a link (~40 layers)


@dataclass(frozen=True)
class Param:
    """One piece of a page's state in its URL.

    ``kind``: "int", "float", "bool", "str" (one of ``choices``) or "list" (several of them).
    ``choices``: the allowed values (or a function returning them: read when needed); a value
    is matched by its text, ``text(value)``, so options may be paths or numbers.
    ``lo``/``hi``: the range of an int or float. ``default``: a value or a function of nothing
    (e.g. a kernel size that depends on the layer kind); None writes every value.
    ``load``/``dump``: a custom reader (text -> value, raising ValueError in words) and writer.
    """
    name: str
    key: str
    kind: str = "str"
    default: Any = None
    choices: Sequence | Callable[[], Sequence] | None = None
    lo: float | None = None
    hi: float | None = None
    text: Callable[[Any], str] = str
    load: Callable[[str], Any] | None = None
    dump: Callable[[Any], str | None] | None = None
    late: bool = False

    def options(self) -> list:
        c = self.choices() if callable(self.choices) else self.choices
        return list(c or [])

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


# ----------------------------------------------------------------------------------------------
# Text <-> values (no Streamlit: the rules tests/app/test_links.py checks)
# ----------------------------------------------------------------------------------------------
def decode(p: Param, raw: str, options: Sequence | None = None) -> Any:
    """The value of ``raw`` for ``p``; ValueError (in words) when it is not allowed."""
    if p.load is not None:
        return p.load(raw)
    if p.kind in ("int", "float"):
        try:
            v = int(raw) if p.kind == "int" else float(raw)
        except ValueError:
            raise ValueError(f"not a{'n integer' if p.kind == 'int' else ' number'}") from None
        if v != v or (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
            raise ValueError(f"outside {p.lo:g} to {p.hi:g}")
        return v
    if p.kind == "bool":
        if raw not in ("0", "1"):
            raise ValueError("not 0 or 1")
        return raw == "1"
    by_text = {p.text(o): o for o in (p.options() if options is None else options)}
    if p.kind == "list":
        parts = [s for s in raw.split(",") if s]
        bad = [s for s in parts if s not in by_text]
        if bad:
            raise ValueError(f"no {', '.join(bad)} here")
        return [by_text[s] for s in parts]
    if raw not in by_text:
        raise ValueError("not one of the choices")
    return by_text[raw]


def encode(p: Param, value: Any) -> str | None:
    """The URL text of ``value``, or None when it is the default (left out of the link)."""
    if value is MISSING or value is None:
        return None
    if p.dump is not None:
        return p.dump(value)
    default = p.default_value()
    if default is not None and value == default:
        return None
    if p.kind == "bool":
        return "1" if value else "0"
    if p.kind == "float":
        return f"{float(value):g}"
    if p.kind == "int":
        return str(int(value))
    if p.kind == "list":
        return ",".join(p.text(v) for v in value)
    return p.text(value)


def read(params: Sequence[Param], query: Mapping[str, str]) -> tuple[dict, dict, list[str]]:
    """(session key -> value, late param name -> raw text, what was ignored and why) for a link's
    ``query``, in the order of ``params`` (a kernel's default may depend on the layer kind)."""
    known = {p.name: p for p in params}
    values, late, ignored = {}, {}, []
    for name, raw in query.items():
        if name not in known:
            ignored.append(f"{name} (unknown)")
    for p in params:
        if p.name not in query:
            continue
        if p.late:
            late[p.name] = query[p.name]
            continue
        try:
            values[p.key] = decode(p, query[p.name])
        except ValueError as e:
            ignored.append(f"{p.name}={_short(query[p.name])} ({e})")
    return values, late, ignored


def _short(s: str) -> str:
    return s if len(s) <= 24 else s[:21] + "..."


def encode_spec(spec: dict) -> str:
    """A network spec in a URL: its canonical JSON, zlib-compressed, base64url without padding."""
    raw = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode_spec(text: str) -> dict:
    """The spec in a link, checked by the library's one door (``networks.from_json``); a
    damaged, oversized or hostile spec raises ValueError in words. Pasted code never comes
    from a link (it would run on the server)."""
    if len(text) > MAX_LINK_SPEC:
        raise ValueError(f"the network in the link is too long ({len(text):,} characters)")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        d = zlib.decompressobj()
        raw = d.decompress(packed, networks.MAX_SPEC_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise ValueError("the network in the link is damaged") from None
    if len(raw) > networks.MAX_SPEC_BYTES or d.unconsumed_tail:
        raise ValueError("the network in the link is too large")
    try:
        spec = networks.from_json(raw)
    except networks.SpecError as e:
        raise ValueError(f"the network in the link is refused: {e}") from None
    if "code" in spec:
        raise ValueError("pasted code is not shared by link")
    return spec


# ----------------------------------------------------------------------------------------------
# The page side
# ----------------------------------------------------------------------------------------------
def _memory(page: str) -> dict:
    return st.session_state.setdefault(f"links_mem_{page}", {})


def current(p: Param, page: str) -> Any:
    return st.session_state.get(p.key, _memory(page).get(p.key, MISSING))


def query_for(page: str) -> dict[str, str]:
    """The page's state as URL parameters (non-default values only)."""
    out = {}
    for p in SCHEMAS.get(page, ()):
        text = encode(p, current(p, page))
        if text is not None:
            out[p.name] = text
    return out


def bind(page: str, params: Sequence[Param]) -> None:
    """Read the link (first run of ``page`` in this session), restore dropped values, write the
    URL. Call before the page's widgets."""
    SCHEMAS[page] = params
    first = f"links_read_{page}"
    if first not in st.session_state:
        st.session_state[first] = True
        values, late, ignored = read(params, st.query_params.to_dict())
        for key, value in values.items():
            st.session_state[key] = value
        st.session_state[f"links_late_{page}"] = {name: (raw, True) for name, raw in late.items()}
        if ignored:
            st.session_state[f"links_notice_{page}"] = ignored
    mem = _memory(page)
    late = st.session_state.setdefault(f"links_late_{page}", {})
    for p in params:
        if p.key in st.session_state:
            mem[p.key] = st.session_state[p.key]
        elif p.key in mem and p.late:      # checked against its options when they are known
            late.setdefault(p.name, (p.text(mem[p.key]), False))
        elif p.key in mem:
            st.session_state[p.key] = mem[p.key]
    notice(page)
    sync(page)


def take(page: str, name: str, options: Sequence) -> None:
    """A late parameter's value from the link, now that its ``options`` are known; call just
    before its widget. Taken once; a value not among the options is ignored with a notice."""
    late = st.session_state.get(f"links_late_{page}") or {}
    if name not in late:
        return
    raw, from_link = late.pop(name)
    p = next(p for p in SCHEMAS[page] if p.name == name)
    try:
        st.session_state[p.key] = decode(p, raw, options)
    except ValueError as e:
        _memory(page).pop(p.key, None)
        if from_link:
            st.caption(f"Ignored from the link: {name}={_short(raw)} ({e}).")


def sync(page: str) -> None:
    """Write the page's state to the URL (also from inside a fragment)."""
    want = query_for(page)
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)


def notice(page: str) -> None:
    ignored = st.session_state.get(f"links_notice_{page}")
    if ignored:
        st.caption("Ignored from the link: " + "; ".join(ignored) + ".")


def url(page: str) -> str:
    """The full link to what is on the server's screen at this run (the address bar holds the
    same; the Copy link control reads the address bar, which fragments keep current)."""
    base = st.context.url or f"/{page}"
    q = urlencode(query_for(page))
    return f"{base}?{q}" if q else base


# The Copy link control is built in the browser from the address bar when it is opened, so it is
# never stale: a fragment's rerun (a knob) updates the address bar but not elements outside the
# fragment. Its HTML never changes, so a rerun sends an identical element and the browser
# redraws nothing. The script is installed once per document (event delegation), whatever page.
SHARE_HTML = """<details class="pg-share"><summary title="A link that opens exactly this view">Copy link</summary>
<div class="pg-share-box"><input class="pg-share-url" readonly aria-label="Link to this view">
<button type="button" class="pg-share-copy">Copy</button>
<div class="pg-share-note">Whoever opens this link sees what is on your screen now.</div></div></details>
<style>
.pg-share {display:inline-block; font-size:0.9rem; margin:0.1rem 0;}
.pg-share summary {cursor:pointer; list-style:none; border:1px solid rgba(49,51,63,0.2); border-radius:0.5rem;
  padding:0.25rem 0.75rem; display:inline-block; user-select:none;}
.pg-share summary::-webkit-details-marker {display:none;}
.pg-share[open] summary {border-color:#3b5bdb;}
.pg-share-box {margin-top:0.35rem; display:flex; flex-wrap:wrap; gap:0.35rem; align-items:center;}
.pg-share-url {font-family:ui-monospace, Menlo, monospace; font-size:0.85rem; width:min(38rem, 80vw);
  padding:0.25rem 0.4rem; border:1px solid rgba(49,51,63,0.3); border-radius:0.35rem;}
.pg-share-copy {padding:0.25rem 0.8rem; border-radius:0.35rem; border:1px solid #3b5bdb; background:#edf2ff; cursor:pointer;}
.pg-share-note {width:100%; color:#6c757d; font-size:0.8rem;}
</style>
<script>
if (!window.__pgShare) {
  window.__pgShare = true;
  const fill = (box) => { const u = box.querySelector('.pg-share-url'); u.value = window.location.href; u.select(); return u; };
  document.addEventListener('click', (e) => {
    const t = e.target;
    const sum = t.closest && t.closest('.pg-share summary');
    if (sum) { setTimeout(() => fill(sum.parentElement), 0); return; }
    const btn = t.closest && t.closest('.pg-share-copy');
    if (!btn) return;
    const u = fill(btn.closest('.pg-share'));
    const done = () => { btn.textContent = 'Copied'; setTimeout(() => { btn.textContent = 'Copy'; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(u.value).then(done, () => {});
    else { try { if (document.execCommand('copy')) done(); } catch (err) {} }
  }, true);
}
</script>"""


def share(page: str) -> None:  # noqa: ARG001 - the page's URL is the address bar's
    """A small "copy link" control: opened, it shows the address bar's link (always the current
    state, fragments included) with a Copy button."""
    st.html(SHARE_HTML, width="content", unsafe_allow_javascript=True)
