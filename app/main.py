"""Entry script of the chat UI (``streamlit run app/main.py``; ``make run`` starts it): two pages,
the chat and the latest evaluation report."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

st.set_page_config(page_title="Brightdocs: ask your documents", page_icon=":page_facing_up:", layout="wide")
page = st.navigation(
    [
        st.Page(HERE / "chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page(HERE / "evaluation.py", title="Evaluation", icon=":material/analytics:"),
    ]
)
page.run()
