"""Evaluation reports: JSON (everything), Markdown (tables) and PNG plots, in a timestamped folder;
``reports_dir/latest.json`` names the newest one (what the chat's Evaluation page shows).

Example::

    folder = write_report(settings.reports_dir, summary, results, meta)
    print((folder / "report.md").read_text())
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QA_COLUMNS = [
    ("hit@k", "retrieval hit@k"),
    ("mrr", "MRR"),
    ("accuracy", "answer accuracy"),
    ("f1", "token F1"),
    ("citation_accuracy", "citation accuracy"),
    ("refusal_rate", "refusal (unanswerable)"),
    ("false_refusal_rate", "false refusal"),
    ("latency_p50", "latency p50 (s)"),
    ("latency_p95", "latency p95 (s)"),
]


def qa_table(summary: dict[str, dict[str, float]], k: int) -> str:
    """Templates side by side, one metric per row."""
    templates = list(summary)
    lines = ["| metric | " + " | ".join(templates) + " |", "|---" * (len(templates) + 1) + "|"]
    for key, label in QA_COLUMNS:
        name = f"hit@{k}" if key == "hit@k" else key
        label = label.replace("@k", f"@{k}")
        lines.append(f"| {label} | " + " | ".join(f"{summary[t][name]:.3f}" for t in templates) + " |")
    return "\n".join(lines)


def write_report(
    reports_dir: Path,
    meta: dict[str, Any],
    summary: dict[str, dict[str, float]] | None = None,
    results: dict[str, list[dict[str, Any]]] | None = None,
    beir: dict[str, dict[str, float]] | None = None,
) -> Path:
    """Write report.json, report.md and plots; point ``latest.json`` at them; return the folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = reports_dir / f"eval-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    k = int(meta.get("top_k", 5))
    plots = _plots(folder, summary, results, k) if summary and results else []
    document = {"meta": meta, "summary": summary, "results": results, "beir": beir, "plots": plots}
    (folder / "report.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    (folder / "report.md").write_text(markdown(document, k))
    (reports_dir / "latest.json").write_text(json.dumps({"folder": folder.name}))
    return folder


def latest_report(reports_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest report folder and its JSON, or None."""
    pointer = reports_dir / "latest.json"
    if not pointer.is_file():
        return None
    folder = reports_dir / json.loads(pointer.read_text())["folder"]
    report = folder / "report.json"
    if not report.is_file():
        return None
    return folder, json.loads(report.read_text())


def markdown(document: dict[str, Any], k: int) -> str:
    meta = document["meta"]
    lines = ["# Evaluation report", ""]
    lines += [f"- {name}: {value}" for name, value in meta.items()]
    lines.append("")
    if document.get("summary"):
        lines += ["## Question answering", "", qa_table(document["summary"], k), ""]
        for plot in document.get("plots", []):
            lines += [f"![{plot}]({plot})", ""]
        misses = [
            r
            for rows in (document.get("results") or {}).values()
            for r in rows
            if (r["answerable"] and not r["correct"]) or (not r["answerable"] and not r["refused"])
        ]
        if misses:
            lines += [
                "### Misses",
                "",
                "| template | id | question | answer | why |",
                "|---|---|---|---|---|",
            ]
            for r in misses:
                why = r["refusal_reason"] or (
                    "answered an unanswerable question" if not r["answerable"] else "wrong"
                )
                answer = r["answer"].replace("|", "\\|")
                lines.append(f"| {r['template']} | {r['id']} | {r['question']} | {answer} | {why} |")
            lines.append("")
    if document.get("beir"):
        from rag.eval.beir import format_table

        lines += ["## Retrieval (BEIR format)", "", format_table(document["beir"]), ""]
    return "\n".join(lines)


def _plots(
    folder: Path, summary: dict[str, dict[str, float]], results: dict[str, list[dict[str, Any]]], k: int
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    templates = list(summary)
    keys = [f"hit@{k}", "accuracy", "citation_accuracy", "refusal_rate", "false_refusal_rate"]
    labels = [f"hit@{k}", "accuracy", "citations", "refusals", "false refusals"]
    figure, axis = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(templates))
    positions = np.arange(len(keys))
    for index, template in enumerate(templates):
        values = [summary[template][key] for key in keys]
        axis.bar(positions + index * width, values, width, label=template)
    axis.set_xticks(positions + width * (len(templates) - 1) / 2, labels)
    axis.set_ylim(0, 1.05)
    axis.set_title("Metrics per template")
    axis.legend()
    figure.tight_layout()
    figure.savefig(folder / "metrics.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(9, 4))
    for template in templates:
        axis.hist([r["seconds"] for r in results[template]], bins=20, alpha=0.6, label=template)
    axis.set_xlabel("seconds per question")
    axis.set_ylabel("questions")
    axis.set_title("Latency")
    axis.legend()
    figure.tight_layout()
    figure.savefig(folder / "latency.png", dpi=110)
    plt.close(figure)
    return ["metrics.png", "latency.png"]
