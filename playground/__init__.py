"""CNN Playground's library: everything the pages show, usable without Streamlit.

Modules: arithmetic (conv/pool output sizes), networks (specs and presets), summary (per-layer
trace on the meta device), data (datasets), training (the training thread), runs (runs on
disk), explain (feature maps, filters, attributions), images (safe image decoding), figures
(plotly figures).
"""
__version__ = "0.1.0"
