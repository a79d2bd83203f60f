"""The Evaluation page: the latest report written by ``make eval`` (UI only).

With access control in effect (a signed-in or anonymous user), only the figures are shown: the
misses quote questions and answers from every document, whoever may read them."""

from __future__ import annotations

import streamlit as st

from app.engine import app_settings
from app.identity import current_user
from rag import beir_table, latest_report, misses, qa_table


def main() -> None:
    settings = app_settings()
    user = current_user(settings)
    st.title("Evaluation")
    found = latest_report(settings.reports_dir)
    if found is None:
        st.info(f"No evaluation report in `{settings.reports_dir}` yet: run `make eval`.")
        return
    folder, report = found
    meta = report["meta"]
    st.caption(f"Report `{folder.name}` \u00b7 " + " \u00b7 ".join(f"{k}: {v}" for k, v in meta.items()))
    k = int(meta.get("top_k", 5))
    for name, found in (report.get("sets") or {}).items():
        st.subheader(f"Question answering: {name}")
        st.caption(found.get("qa_set", ""))
        st.markdown(qa_table(found["summary"], k))
        for plot in found.get("plots", []):
            if (folder / plot).is_file():
                st.image(str(folder / plot))
        wrong = misses(found.get("results") or {}) if user is None else []
        if wrong:
            with st.expander(f"Misses ({len(wrong)})"):
                rows = [
                    {"template": r["template"], "question": r["question"], "answer": r["answer"],
                     "why": r["refusal_reason"] or "wrong answer"}
                    for r in wrong
                ]  # fmt: skip
                st.dataframe(rows, use_container_width=True)
    for name, table in (report.get("beir") or {}).items():
        st.subheader(f"Retrieval: {name} (BEIR format)")
        st.markdown(beir_table(table))


main()
