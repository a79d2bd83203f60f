"""Derive a BEIR-format retrieval set from a QA set: question -> the file it was written about.

Corpus entries are the files of the QA set's corpus folder (``_id`` = file name, text = its
content); queries are the answerable questions; qrels judge each question's source file relevant
(1). Run on a fit split to fit retrieval settings, on a held-out split to report them.

Usage:
    python scripts/qa_to_beir.py ../shared/eval/cmrc2018-dev/qa_fit.jsonl /tmp/cmrc-fit-beir
    python -m rag.eval --beir /tmp/cmrc-fit-beir
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.eval.beir import qa_as_beir


def derive(qa_file: Path, out: Path, corpus: Path | None = None) -> tuple[int, int]:
    """Write ``out``/{corpus.jsonl, queries.jsonl, qrels/test.tsv}; (documents, queries) written."""
    return qa_as_beir(qa_file, corpus or qa_file.parent / "corpus", out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("qa", type=Path, help="QA jsonl (id, question, answerable, source)")
    parser.add_argument("out", type=Path, help="folder to write the BEIR set to")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/ next to the QA file)")
    args = parser.parse_args()
    documents, queries = derive(args.qa, args.out, args.corpus)
    print(f"{args.out}: {documents} documents, {queries} queries")


if __name__ == "__main__":
    main()
