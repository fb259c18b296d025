"""The scratch Streamlit apps bench_feel.py measures the app against, in the same run, and the
probe it installs in each page.

- BARE_APP: one number input and one line of text (the issue's yardstick);
- BARE_WIDGETS: a bare select box and slider (a select box's own round trip is ~2x a number
  input's: its list closes);
- CHROME_APP: the same one knob and one line, on a page with the app's frame around it and
  nothing else: a navigation of as many pages as the app has (and a sidebar caption), a title, an
  introduction line, a "Copy link" button, tabs (only the open one runs), the knob in a fragment.
  What Streamlit's frontend costs a rerun on a page of this shape before the page draws anything
  of its own: every rerun, it re-renders the page's whole element tree, not only what the rerun
  sent (tests of this: bench_feel's docstring)."""
from __future__ import annotations

BARE_APP = '''import streamlit as st
n = st.number_input("Number", 0, 1000, 10)
st.write(f"The number is {n}")
'''

BARE_WIDGETS = '''import streamlit as st
st.title("Bare widgets")
c = st.selectbox("Choice", ["one", "two", "three"])
v = st.slider("Level", 0.0, 1.0, 0.5, 0.05)
st.write(f"{c}, {v:.2f}")
'''

CHROME_APP = '''import streamlit as st


@st.fragment
def knob():
    n = st.number_input("Number", 0, 1000, 10)
    st.write(f"The number is {n}")


def page():
    st.title("A page of the app's shape")
    st.caption("An introduction line under the title, as every page of the app has.")
    st.button("Copy link")
    tabs = st.tabs(["First", "Second", "Third"], key="tab", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            knob()


def other():
    st.title("Another page")


pages = [st.Page(page, title="Home", url_path="home", default=True)]
pages += [st.Page(other, title=f"Page {i}", url_path=f"page{i}") for i in range(PAGES)]
nav = st.navigation(pages)
with st.sidebar:
    st.caption("CNN Playground: see convolutional networks work.")
nav.run()
'''


def chrome_app(pages: int) -> str:
    """CHROME_APP with the app's number of pages besides the home page."""
    return CHROME_APP.replace("range(PAGES)", f"range({int(pages)})")


# Installed in each document as it starts (armed: a page's load counts from navigation start);
# t0 = the last input event while armed; last = the last change to
# the page's content (elements, text, text drawn on a canvas); ran/idle = the script state going
# running -> notRunning. A canvas's children are never drawn: st.dataframe's grid keeps an
# accessibility copy of its cells there and refreshes it ~200 ms after the canvas shows the new
# values (measured: canvas text drawn 25-60 ms after the input, that copy 230-260 ms), so
# changes inside a canvas do not count; the canvas's own drawing does.
PROBE = """() => {
  if (window.__feel) return;
  const f = window.__feel = {armed: true, t0: 0, last: 0, ran: false, idle: 0};
  const app = () => document.querySelector("[data-testid='stApp']");
  new MutationObserver(ms => {
    if (!f.armed) return;
    const now = performance.now();
    for (const m of ms) {
      if (m.type === 'attributes') {
        const s = app() && app().getAttribute('data-test-script-state');
        if (s === 'running') f.ran = true;
        else if (f.ran && !f.idle) f.idle = now;
      } else {
        const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;   // text: its element
        if (!(el && el.closest("[data-testid='stStatusWidget'],header,canvas"))) f.last = now;
      }
    }
  }).observe(document, {subtree: true, childList: true, characterData: true,
                             attributes: true, attributeFilter: ['data-test-script-state']});
  const ctx = CanvasRenderingContext2D.prototype, fill = ctx.fillText;
  ctx.fillText = function (...a) { if (f.armed) f.last = performance.now(); return fill.apply(this, a); };
  for (const ev of ['pointerdown', 'keydown'])
    document.addEventListener(ev, () => { if (f.armed) f.t0 = performance.now(); }, true);
}"""
ARM = "() => Object.assign(window.__feel, {armed: true, t0: 0, last: 0, ran: false, idle: 0})"
STATE = """() => { const f = window.__feel, a = document.querySelector("[data-testid='stApp']");
  return {t0: f.t0, last: f.last, ran: f.ran, idle: f.idle, now: performance.now(),
          state: a && a.getAttribute('data-test-script-state'),
          skel: !!document.querySelector("[data-testid='stSkeleton']")}; }"""
