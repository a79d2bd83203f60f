"""nDCG@10 / recall@10 / MRR@10 of keyword, dense, RRF and weighted fusion at several dense weights
on a BEIR-format folder, through the real ingestion path (how `dense_weight` was chosen).

Usage:
    python scripts/fusion_sweep.py tests/fixtures/beir_tiny
    python scripts/fusion_sweep.py data/eval/sample_beir
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Assistant, load_settings  # noqa: E402
from rag.eval.beir import METRICS, _doc_scores, file_name, load_beir, score_runs  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402


def main() -> None:
    warnings.filterwarnings("ignore")
    folder = Path(sys.argv[1])
    data = load_beir(folder)
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        by_file = {}
        for doc_id, (title, text) in data.corpus.items():
            by_file[file_name(doc_id)] = doc_id
            (corpus / file_name(doc_id)).write_text(f"# {title}\n\n{text}\n" if title else f"{text}\n")
        settings = load_settings(index_dir=Path(work) / "index", collection="fusion-sweep", corpus_dir=corpus)
        assistant = Assistant(settings)
        assistant.ingest(corpus)
        variants = {"keyword": ("keyword", settings), "dense": ("dense", settings)}
        variants["rrf"] = ("hybrid", settings.model_copy(update={"fusion": "rrf"}))
        for weight in (0.6, 0.7, 0.8, 0.9):
            variants[f"weighted {weight}"] = ("hybrid", settings.model_copy(update={"dense_weight": weight}))
        runs = {}
        for name, (mode, variant) in variants.items():
            retriever = Retriever(variant, assistant.store, assistant.embedder, assistant.keyword_index)
            runs[name] = {
                q: _doc_scores(retriever.search(t, 100, mode=mode), by_file) for q, t in data.queries.items()
            }
        table = score_runs(data.qrels, runs)
    print(f"{folder}: {len(data.corpus)} documents, {len(data.queries)} queries")
    print(f"{'':14}" + "".join(f"{m:>16}" for m in METRICS))
    for name, values in table.items():
        print(f"{name:14}" + "".join(f"{values[m]:16.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
