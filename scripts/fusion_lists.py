"""Collect each query's dense and keyword candidate lists once per retrieval set, for fitting fusion.

Every set is ingested through the real pipeline (default settings, or ``--set key=value``); each
query of both splits gets its dense and keyword lists (``--depth`` candidates, chunk ids and raw
scores) and every chunk its document. Fusion rules and candidate counts are then scored on these
lists without ingesting again (``scripts/fusion_fit.py``).

Sets: BEIR folders with ``qrels/train.tsv`` (fit) and ``qrels/test.tsv`` (report); QA sets
(``qa_fit.jsonl`` fit, ``qa.jsonl`` report) become question -> source-article retrieval sets.

Usage:
    python scripts/fusion_lists.py --out reports/fusion-lists                 # every set found
    python scripts/fusion_lists.py --out /tmp/lists --sets cranfield-beir cisi-beir
    python scripts/fusion_lists.py --out /tmp/lists-wl --set embedding_backend=wordllama
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from rag import Assistant, load_settings
from rag.answer.retrieval import Retriever
from rag.eval.beir import file_name

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
BEIR = ["scifact-beir", "cranfield-beir", "cisi-beir", "arcd-beir"]
QA = ["squad2-dev", "cmrc2018-dev", "drcd-dev", "jsquad-dev"]
LOCAL = {
    "sample_beir": ROOT / "data" / "eval" / "sample_beir",
    "beir_tiny": ROOT / "tests" / "fixtures" / "beir_tiny",
}


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = {}
    if not path.is_file():
        return judged
    with path.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            if int(row[-1]) > 0:
                judged.setdefault(row[0], {})[row[1]] = int(row[-1])
    return judged


def beir_set(folder: Path) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, dict[str, Any]]]:
    """corpus, queries, {split: qrels} of a BEIR folder (fit = train, report = test)."""
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            corpus[str(row["_id"])] = (str(row.get("title") or ""), str(row["text"]))
    queries = {}
    for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            queries[str(row["_id"])] = str(row["text"])
    splits = {"fit": _qrels(folder / "qrels" / "train.tsv"), "report": _qrels(folder / "qrels" / "test.tsv")}
    return corpus, queries, splits


def qa_set(folder: Path) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, dict[str, Any]]]:
    """A QA set as retrieval: each answerable question -> the file it was written from."""
    corpus = {
        p.name: ("", p.read_text(encoding="utf-8"))
        for p in sorted((folder / "corpus").iterdir())
        if p.is_file()
    }
    queries: dict[str, str] = {}
    splits: dict[str, dict[str, Any]] = {}
    for split, name in (("fit", "qa_fit.jsonl"), ("report", "qa.jsonl")):
        judged: dict[str, dict[str, int]] = {}
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line) if line.strip() else {}
            if item.get("answerable") and item.get("source"):
                queries[f"{split}-{item['id']}"] = item["question"]
                judged[f"{split}-{item['id']}"] = {item["source"]: 1}
        splits[split] = judged
    return corpus, queries, splits


def collect(name: str, folder: Path, out: Path, depth: int, overrides: dict[str, Any]) -> None:
    corpus, queries, splits = qa_set(folder) if (folder / "qa.jsonl").is_file() else beir_set(folder)
    asked = {q for judged in splits.values() for q in judged}
    queries = {q: t for q, t in queries.items() if q in asked}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fusion-") as work:
        docs = Path(work) / "corpus"
        docs.mkdir()
        by_file = {}
        for doc_id, (title, text) in corpus.items():
            by_file[file_name(doc_id)] = doc_id
            (docs / file_name(doc_id)).write_text(f"# {title}\n\n{text}\n" if title else f"{text}\n")
        settings = load_settings(
            ROOT / "settings.yaml", index_dir=Path(work) / "index", collection="fusion-lists",
            corpus_dir=docs, **overrides,
        )  # fmt: skip
        assistant = Assistant(settings)
        report = assistant.ingest(docs)
        ingest_s = time.perf_counter() - started
        retriever = Retriever(settings, assistant.index, assistant.embedder)
        chunk_doc: dict[str, str] = {}
        lists: dict[str, Any] = {}
        vectors = assistant.embedder.embed(list(queries.values()))
        for (query, text), vector in zip(queries.items(), vectors, strict=True):
            dense = retriever.search(text, depth, mode="dense", vector=vector)
            keyword = retriever.search(text, depth, mode="keyword")
            for hit in dense + keyword:
                chunk_doc[hit.chunk_id] = by_file[hit.source]
            lists[query] = {
                "dense": [[h.chunk_id, round(float(h.score), 6)] for h in dense],
                "keyword": [[h.chunk_id, round(float(h.score), 6)] for h in keyword],
            }
    found = {
        "set": name, "settings": overrides, "depth": depth, "documents": len(corpus),
        "chunks": report.chunks if hasattr(report, "chunks") else None, "ingest_s": round(ingest_s, 1),
        "queries": queries, "splits": splits, "chunk_doc": chunk_doc, "lists": lists,
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(found, ensure_ascii=False))
    took = time.perf_counter() - started
    print(
        f"{name}: {len(corpus)} documents, {len(queries)} queries, ingest {ingest_s:.0f} s, all {took:.0f} s"
    )


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", nargs="*", help="set names (default: every one found)")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--set", action="append", default=[], help="a setting for the ingestion, key=value")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    known = {name: SHARED / name for name in BEIR + QA} | LOCAL
    for name in args.sets or list(known):
        folder = known.get(name, Path(name))
        if not folder.exists():
            print(f"{name}: {folder} not found, skipped")
            continue
        collect(folder.name if name not in known else name, folder, args.out, args.depth, overrides)


if __name__ == "__main__":
    main()
