"""Build data/eval/sample_beir/: a BEIR-format retrieval set derived from the sample corpus and its
QA set. Corpus entries are the sample's chunks (``_id`` = ``source#chunk_index``); queries are the
answerable QA questions; a chunk is relevant (2) when it comes from a gold source and contains an
accepted answer, (1) when it is another chunk of a gold source's gold page.

Usage:
    python scripts/make_sample_beir.py      # rewrites data/eval/sample_beir/
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rag import Assistant, load_settings
from rag.eval.qa import contains_answer, load_qa

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out = ROOT / "data" / "eval" / "sample_beir"
    items = [i for i in load_qa(ROOT / "data" / "eval" / "sample_qa.jsonl") if i.answerable]
    with tempfile.TemporaryDirectory() as work:
        assistant = Assistant(load_settings(index_dir=Path(work) / "index", collection="beir-sample"))
        assistant.ingest(ROOT / "data" / "sample")
        data = assistant.index.get()
    chunks = sorted(
        zip(data["documents"], data["metadatas"], strict=True),
        key=lambda c: (c[1]["source"], c[1]["chunk_index"]),
    )
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus, qrels = [], []
    for text, meta in chunks:
        doc_id = f"{meta['source']}#{meta['chunk_index']}"
        title = " > ".join(p for p in (meta.get("title"), meta.get("heading_path")) if p)
        corpus.append({"_id": doc_id, "title": title, "text": text})
    for item in items:
        for text, meta in chunks:
            if meta["source"] not in item.sources:
                continue
            doc_id = f"{meta['source']}#{meta['chunk_index']}"
            if contains_answer(text, item.answers):
                qrels.append((item.id, doc_id, 2))
            elif item.page is not None and int(meta.get("page") or 0) == item.page:
                qrels.append((item.id, doc_id, 1))
    (out / "corpus.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in corpus))
    (out / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i.id, "text": i.question}, ensure_ascii=False) + "\n" for i in items)
    )
    (out / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    )
    judged = {q for q, _, _ in qrels}
    print(f"{len(corpus)} documents, {len(judged)}/{len(items)} queries judged, {len(qrels)} judgements")


if __name__ == "__main__":
    main()
