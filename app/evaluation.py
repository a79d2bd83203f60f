"""The Evaluation page: the latest report written by ``make eval`` (UI only)."""

from __future__ import annotations

import streamlit as st

from app.engine import app_settings
from rag.eval.beir import format_table
from rag.eval.report import latest_report, qa_table


def main() -> None:
    settings = app_settings()
    st.title("Evaluation")
    found = latest_report(settings.reports_dir)
    if found is None:
        st.info(f"No evaluation report in `{settings.reports_dir}` yet: run `make eval`.")
        return
    folder, report = found
    meta = report["meta"]
    st.caption(f"Report `{folder.name}` \u00b7 " + " \u00b7 ".join(f"{k}: {v}" for k, v in meta.items()))
    summary = report.get("summary")
    if summary:
        st.subheader("Question answering, per template")
        st.markdown(qa_table(summary, int(meta.get("top_k", 5))))
        for plot in report.get("plots", []):
            if (folder / plot).is_file():
                st.image(str(folder / plot))
        misses = [
            r
            for rows in (report.get("results") or {}).values()
            for r in rows
            if (r["answerable"] and not r["correct"]) or (not r["answerable"] and not r["refused"])
        ]
        if misses:
            with st.expander(f"Misses ({len(misses)})"):
                rows = [
                    {"template": r["template"], "question": r["question"], "answer": r["answer"],
                     "why": r["refusal_reason"] or "wrong answer"}
                    for r in misses
                ]  # fmt: skip
                st.dataframe(rows, use_container_width=True)
    if report.get("beir"):
        st.subheader("Retrieval (BEIR format)")
        st.markdown(format_table(report["beir"]))


main()
