"""Fit the fusion on BEIR-format sets: each set is ingested once, the dense and keyword candidate
lists of every query are fetched once, and every fusion variant (RRF; weighted with min-max or
max normalisation at several dense weights) is scored on the same lists. Fit on fit sets, then
report the chosen variant on held-out ones.

Usage:
    python scripts/fusion_fit.py data/eval/sample_beir tests/fixtures/beir_tiny /tmp/cmrc-fit
    python scripts/fusion_fit.py --weights 0.2,0.25,0.3 data/eval/sample_beir
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from rag import Assistant, load_settings
from rag.answer.retrieval import Retriever, collapse_duplicates, rrf_fuse, weighted_fuse
from rag.eval.beir import _doc_scores, file_name, load_beir, score_runs

ROOT = Path(__file__).resolve().parent.parent

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep(folder: Path, weights: tuple[float, ...] = WEIGHTS) -> dict[str, float]:
    data = load_beir(folder)
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        by_file = {}
        for doc_id, (title, text) in data.corpus.items():
            by_file[file_name(doc_id)] = doc_id
            (corpus / file_name(doc_id)).write_text(f"# {title}\n\n{text}\n" if title else f"{text}\n")
        settings = load_settings(index_dir=Path(work) / "index", collection="fusion-fit", corpus_dir=corpus)
        assistant = Assistant(settings)
        assistant.ingest(corpus)
        retriever = Retriever(settings, assistant.index, assistant.embedder)
        pool = settings.candidates
        lists = {
            q: (retriever.search(t, pool, mode="dense"), retriever.search(t, pool, mode="keyword"))
            for q, t in data.queries.items()
        }
    threshold = settings.duplicate_threshold
    variants = {"keyword": lambda d, k: k, "dense": lambda d, k: d, "rrf": lambda d, k: rrf_fuse(d, k)}
    for how in ("minmax", "max"):
        for weight in weights:
            variants[f"{how} {weight}"] = lambda d, k, w=weight, h=how: weighted_fuse(d, k, w, h) if k else d
    runs = {
        name: {q: _doc_scores(collapse_duplicates(fuse(*lists[q]), threshold), by_file) for q in lists}
        for name, fuse in variants.items()
    }
    return {name: values["ndcg_burges@10"] for name, values in score_runs(data.qrels, runs).items()}


def main() -> None:
    warnings.filterwarnings("ignore")
    args = sys.argv[1:]
    weights = WEIGHTS
    if args and args[0] == "--weights":  # --weights 0.2,0.25,0.3
        weights, args = tuple(float(w) for w in args[1].split(",")), args[2:]
    tables = {Path(arg).name: sweep(Path(arg), weights) for arg in args}
    names = list(next(iter(tables.values())))
    print("| nDCG@10 | " + " | ".join(tables) + " |")
    print("|---" * (len(tables) + 1) + "|")
    for name in names:
        print(f"| {name} | " + " | ".join(f"{table[name]:.3f}" for table in tables.values()) + " |")


if __name__ == "__main__":
    main()
