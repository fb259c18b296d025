"""Streamlit-side helpers shared by the pages (the library, `playground`, never imports these)."""
