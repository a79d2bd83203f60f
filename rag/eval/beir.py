"""BEIR-format retrieval evaluation through the real ingestion path, scored with ranx.

DIR holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/test.tsv`` (query-id, corpus-id, score; a header line is optional). Each corpus entry is
written as one Markdown file named after its ``_id`` and ingested into a temporary collection, so
every hit maps back to its ``_id`` (a long entry's chunks count once, at their best rank). Scores:
nDCG@10 with gain 2^rel - 1 (ranx ``ndcg_burges``), recall@10 and MRR@10, for keyword only, dense
only, hybrid (the configured fusion), plain RRF and hybrid + rerank when a reranker is configured.

Example::

    table = evaluate_beir(Path("tests/fixtures/beir_tiny"), load_settings())
    print(format_table(table))
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.core.settings import Settings

METRICS = ["ndcg_burges@10", "recall@10", "mrr@10"]
LABELS = {"ndcg_burges@10": "nDCG@10", "recall@10": "recall@10", "mrr@10": "MRR@10"}


@dataclass(slots=True)
class BeirSet:
    corpus: dict[str, tuple[str, str]]  # _id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path) -> BeirSet:
    """Read a BEIR-format folder; problems name the file and line."""
    corpus: dict[str, tuple[str, str]] = {}
    queries: dict[str, str] = {}
    for name, target in (("corpus.jsonl", "corpus"), ("queries.jsonl", "queries")):
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/)"
            )
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if target == "corpus":
                    corpus[str(row["_id"])] = (str(row.get("title") or ""), str(row["text"]))
                else:
                    queries[str(row["_id"])] = str(row["text"])
            except (ValueError, KeyError) as error:
                raise ValueError(f"{path}:{number}: {error}") from error
    qrels: dict[str, dict[str, int]] = {}
    path = folder / "qrels" / "test.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    with path.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or header
            try:
                query, doc, relevance = row[0], row[1], int(row[-1])
            except (IndexError, ValueError) as error:
                raise ValueError(f"{path}:{number}: expected query-id, corpus-id, score") from error
            if relevance > 0:
                qrels.setdefault(query, {})[doc] = relevance
    queries = {q: text for q, text in queries.items() if q in qrels}
    if not queries:
        raise ValueError(f"{folder}: no query has relevance judgements")
    # judgements of queries that queries.jsonl does not hold are not scored: counted as misses,
    # they dragged arcd-beir (50 queries, 702 judged) to a twelfth of its real figures
    qrels = {q: judged for q, judged in qrels.items() if q in queries}
    return BeirSet(corpus, queries, qrels)


def file_name(doc_id: str) -> str:
    """A safe, unique file name for a corpus ``_id``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id)[:80]
    return f"{safe}-{hashlib.sha1(doc_id.encode()).hexdigest()[:8]}.md"


def score_runs(
    qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, dict[str, float]]]
) -> dict[str, dict[str, float]]:
    """ranx metrics of each named run: {name: {"ndcg_burges@10": ..., "recall@10": ..., "mrr@10": ...}}."""
    from rag.core.errors import require

    require("ranx", "eval")
    from ranx import Qrels, Run, evaluate

    judged = Qrels(qrels)
    table = {}
    for name, run in runs.items():
        complete = {q: run.get(q) or {"__none__": 0.0} for q in qrels}
        values = evaluate(judged, Run(complete), METRICS, make_comparable=True)
        table[name] = {metric: float(values[metric]) for metric in METRICS}
    return table


def evaluate_beir(
    folder: Path, settings: Settings, embedder: Any = None, depth: int = 100
) -> dict[str, dict[str, float]]:
    """Ingest the corpus into a temporary collection and score each retrieval mode."""
    from rag.answer.retrieval import Retriever
    from rag.api import Assistant

    data = load_beir(folder)
    with tempfile.TemporaryDirectory(prefix="beir-") as work:
        corpus_dir = Path(work) / "corpus"
        corpus_dir.mkdir()
        by_file = {}
        for doc_id, (title, text) in data.corpus.items():
            name = file_name(doc_id)
            by_file[name] = doc_id
            body = f"# {title}\n\n{text}\n" if title else f"{text}\n"
            (corpus_dir / name).write_text(body, encoding="utf-8")
        local = settings.model_copy(
            update={"index_dir": Path(work) / "index", "collection": "beir-eval", "corpus_dir": corpus_dir}
        )
        assistant = Assistant(local, embedder=embedder)
        report = assistant.ingest(corpus_dir)
        if report.failed:
            raise ValueError(f"BEIR corpus files failed to ingest: {report.failed[:3]}")
        modes: dict[str, tuple[str, Settings]] = {
            "keyword": ("keyword", local),
            "dense": ("dense", local),
            f"hybrid ({fusion_label(local)})": ("hybrid", local),
            "hybrid (plain RRF)": ("hybrid", local.model_copy(update={"fusion": "rrf"})),
        }
        runs: dict[str, dict[str, dict[str, float]]] = {}
        for label, (mode, mode_settings) in modes.items():
            retriever = Retriever(mode_settings, assistant.index, assistant.embedder)
            runs[label] = {
                q: _doc_scores(retriever.search(text, depth, mode=mode), by_file)
                for q, text in data.queries.items()
            }
        if local.reranker_model:
            reranking = assistant.retriever
            runs["hybrid + rerank"] = {
                q: _doc_scores(reranking.search(text, depth), by_file) for q, text in data.queries.items()
            }
        return score_runs(data.qrels, runs)


def fusion_label(settings: Settings) -> str:
    """The configured fusion in words: ``peak, minmax, scale 1.0``."""
    if settings.fusion == "peak":
        return f"peak, {settings.score_normalisation}, scale {settings.peak_scale}"
    if settings.fusion == "weighted":
        return f"weighted, {settings.score_normalisation}, dense_weight {settings.dense_weight}"
    return "rrf"


def hybrid_of(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """The configured hybrid's row of an :func:`evaluate_beir` table."""
    return next(
        v for k, v in table.items() if k.startswith("hybrid (") and "RRF" not in k and "rerank" not in k
    )


def _doc_scores(hits: list[Any], by_file: dict[str, str]) -> dict[str, float]:
    """Chunk hits -> document scores, each document at its best rank (scores kept monotone)."""
    scores: dict[str, float] = {}
    for rank, hit in enumerate(hits):
        doc = by_file.get(hit.source)
        if doc is not None and doc not in scores:
            scores[doc] = float(len(hits) - rank)
    return scores


def qa_as_beir(qa_file: Path, corpus: Path, out: Path) -> tuple[int, int]:
    """A QA set as a retrieval set in ``out`` (BEIR format): each answerable question -> the file it
    was written from (``_id`` = file name); (documents, queries) written."""
    items = [json.loads(line) for line in qa_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = [item for item in items if item.get("answerable") and item.get("source")]
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for path in files:
            handle.write(json.dumps({"_id": path.name, "text": path.read_text(encoding="utf-8")}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for item in asked:
            handle.write(json.dumps({"_id": item["id"], "text": item["question"]}, ensure_ascii=False) + "\n")
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for item in asked:
            handle.write(f"{item['id']}\t{item['source']}\t1\n")
    return len(files), len(asked)


def summary_table(tables: dict[str, dict[str, dict[str, float]]], metric: str = "ndcg_burges@10") -> str:
    """One row per set (keyword, dense, hybrid, plain RRF, and hybrid's margin over the better of
    dense and keyword), then the mean and the worst case across sets."""
    rows: list[str] = []
    margins: list[float] = []
    columns: dict[str, list[float]] = {"keyword": [], "dense": [], "hybrid": [], "rrf": []}
    for name, table in tables.items():
        hybrid = hybrid_of(table) if any(k.startswith("hybrid (") for k in table) else None
        rrf = table.get("hybrid (plain RRF)")
        if "keyword" not in table or "dense" not in table or hybrid is None or rrf is None:
            continue
        values = {"keyword": table["keyword"][metric], "dense": table["dense"][metric],
                  "hybrid": hybrid[metric], "rrf": rrf[metric]}  # fmt: skip
        margin = values["hybrid"] - max(values["keyword"], values["dense"])
        margins.append(margin)
        for key, value in values.items():
            columns[key].append(value)
        cells = " | ".join(f"{values[k]:.3f}" for k in columns)
        rows.append(f"| {name} | {cells} | {margin:+.3f} |")
    if not rows:
        return ""
    label = LABELS.get(metric, metric)
    lines = [
        f"| set ({label}) | keyword | dense | hybrid | plain RRF | hybrid - better of dense, keyword |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    mean = " | ".join(f"{sum(v) / len(v):.3f}" for v in columns.values())
    worst = " | ".join(f"{min(v):.3f}" for v in columns.values())
    lines.append(f"| **mean** | {mean} | {sum(margins) / len(margins):+.3f} |")
    lines.append(f"| **worst** | {worst} | {min(margins):+.3f} |")
    return "\n".join(lines)


def format_table(table: dict[str, dict[str, float]]) -> str:
    """A Markdown table of modes x metrics."""
    lines = [
        "| retrieval | " + " | ".join(LABELS[m] for m in METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    for name, values in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[m]:.3f}" for m in METRICS) + " |")
    return "\n".join(lines)
