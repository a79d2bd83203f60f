"""Evaluation reports: JSON (everything), Markdown (tables) and PNG plots, in a timestamped folder;
``reports_dir/latest.json`` names the newest one (what the chat's Evaluation page shows).

Example::

    folder = write_report(settings.reports_dir, meta, sets={"squad2-dev": run_qa_set(...)})
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
    ("gold_shown", "gold source among shown passages"),
    ("citation_accuracy", "citation accuracy"),
    ("refusal_rate", "refusal (unanswerable)"),
    ("false_refusal_rate", "false refusal"),
    ("latency_p50", "latency p50 (s)"),
    ("latency_p95", "latency p95 (s)"),
]


# the pipelines table of sets scored by page (rag.eval.runner.TUTORIAL_SETS)
PIPELINE_COLUMNS = [
    ("page_hit@1", "page hit@1"),
    ("page_hit@4", "page hit@4"),
    ("page_hit@10", "page hit@10"),
    ("accuracy", "answer accuracy"),
    ("cited_page_accuracy", "cited page right (of right answers)"),
    ("refused", "refusal rate"),
    ("latency_p50", "latency p50 (s)"),
]


def pipeline_table(summary: dict[str, dict[str, float]]) -> str:
    """Pipelines side by side, one per row: ours per template (``ours (few_shot)``) and the
    baselines (:data:`rag.eval.tutorial.TUTORIAL`) under their own names; retrieved-page hits,
    answers, cited pages, refusals and latency."""
    from rag.eval.tutorial import TUTORIAL

    lines = [
        "| pipeline | " + " | ".join(label for _, label in PIPELINE_COLUMNS) + " |",
        "|---" * (len(PIPELINE_COLUMNS) + 1) + "|",
    ]
    for template, row in summary.items():
        name = template if template == TUTORIAL else f"ours ({template})"
        cells = " | ".join(
            "n/a" if key == "cited_page_accuracy" and not row.get("accuracy") else f"{row.get(key, 0.0):.3f}"
            for key, _ in PIPELINE_COLUMNS
        )  # no right answer: no cited page to judge
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def has_pages(summary: dict[str, dict[str, float]]) -> bool:
    """Whether the set was scored by page (its summary has retrieved-page hits)."""
    return any("page_hit@1" in row for row in summary.values())


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
    sets: dict[str, dict[str, Any]] | None = None,
    beir: dict[str, dict[str, dict[str, float]]] | None = None,
) -> Path:
    """Write report.json, report.md and plots; point ``latest.json`` at them; return the folder.

    ``sets`` maps a QA set's name to what :func:`rag.eval.runner.run_qa_set` returns; ``beir`` maps
    a retrieval set's name to its table."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = reports_dir / f"eval-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    k = int(meta.get("top_k", 5))
    for name, found in (sets or {}).items():
        found["plots"] = _plots(folder, name, found, k)
    document = {"meta": meta, "sets": sets or {}, "beir": beir or {}}
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


def misses(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Wrong answers, false refusals and answered unanswerable questions."""
    return [
        r
        for rows in results.values()
        for r in rows
        if (r["answerable"] and not r["correct"]) or (not r["answerable"] and not r["refused"])
    ]


def markdown(document: dict[str, Any], k: int) -> str:
    meta = document["meta"]
    lines = ["# Evaluation report", ""]
    lines += [f"- {name}: {value}" for name, value in meta.items()]
    lines.append("")
    for name, found in document.get("sets", {}).items():
        lines += [f"## {name}", "", f"{found['qa_set']}", "", qa_table(found["summary"], k), ""]
        if has_pages(found["summary"]):
            lines += ["### Pipelines", "", pipeline_table(found["summary"]), ""]
        for template, curve in found.get("curves", {}).items():
            point = curve["operating"]
            lines.append(
                f"- {template}: refusal threshold {point['threshold']}: answers "
                f"{point['coverage']:.0%} of the questions, {point['accuracy']:.0%} of them right"
            )
        lines.append("")
        for plot in found.get("plots", []):
            lines += [f"![{plot}]({plot})", ""]
        wrong = misses(found["results"])
        if wrong:
            lines += [
                "### Misses",
                "",
                "| template | id | question | answer | why |",
                "|---|---|---|---|---|",
            ]
            for r in wrong:
                why = r["refusal_reason"] or (
                    "answered an unanswerable question" if not r["answerable"] else "wrong"
                )
                answer = r["answer"].replace("|", "\\|")
                question = r["question"].replace("|", "\\|")
                lines.append(f"| {r['template']} | {r['id']} | {question} | {answer} | {why} |")
            lines.append("")
    if document.get("beir"):
        from rag.eval.beir import format_table

        for name, table in document["beir"].items():
            lines += [f"## Retrieval: {name} (BEIR format)", "", format_table(table), ""]
        if len(document["beir"]) > 1:
            from rag.eval.beir import summary_table

            lines += ["## Retrieval across sets", "", summary_table(document["beir"]), ""]
    return "\n".join(lines)


def _plots(folder: Path, name: str, found: dict[str, Any], k: int) -> list[str]:
    from rag.core.errors import require

    require("matplotlib", "eval")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    summary, results = found["summary"], found["results"]
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
    axis.set_title(f"{name}: metrics per template")
    axis.legend()
    figure.tight_layout()
    figure.savefig(folder / f"{name}-metrics.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(9, 4))
    for template in templates:
        axis.hist([r["seconds"] for r in results[template]], bins=20, alpha=0.6, label=template)
    axis.set_xlabel("seconds per question")
    axis.set_ylabel("questions")
    axis.set_title(f"{name}: latency")
    axis.legend()
    figure.tight_layout()
    figure.savefig(folder / f"{name}-latency.png", dpi=110)
    plt.close(figure)
    plots = [f"{name}-metrics.png", f"{name}-latency.png"]

    curves = {t: c for t, c in found.get("curves", {}).items() if c["points"]}
    if curves:
        figure, axis = plt.subplots(figsize=(6, 5))
        for template, curve in curves.items():
            xs = [p["coverage"] for p in curve["points"]]
            ys = [p["accuracy"] for p in curve["points"]]
            (line,) = axis.plot(xs, ys, label=template)
            point = curve["operating"]
            axis.plot(
                [point["coverage"]], [point["accuracy"]], "o", color=line.get_color(), markersize=9,
                label=f"{template}: threshold {point['threshold']}",
            )  # fmt: skip
        axis.set_xlabel("share of questions answered (coverage)")
        axis.set_ylabel("accuracy of the answered questions")
        axis.set_xlim(0, 1.02)
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.set_title(f"{name}: risk–coverage")
        axis.legend(loc="lower left")
        figure.tight_layout()
        figure.savefig(folder / f"{name}-risk-coverage.png", dpi=110)
        plt.close(figure)
        plots.append(f"{name}-risk-coverage.png")
    return plots


def beir_table(table: dict[str, dict[str, float]]) -> str:
    """A Markdown table of a BEIR run (retrieval mode x metrics), as the report shows it."""
    from rag.eval.beir import format_table

    return format_table(table)
