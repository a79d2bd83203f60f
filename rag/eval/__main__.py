"""`python -m rag.eval` (what `make eval` runs).

Examples::

    python -m rag.eval                                   # sample QA set, templates few_shot plain cot
    python -m rag.eval --qa questions.jsonl --templates few_shot --corpus docs/
    python -m rag.eval --beir path/to/beir_folder        # keyword / dense / hybrid (/ rerank) table
    RAG_LLM_MODE=openai RAG_LLM_BASE_URL=http://gpu:8080/v1 python -m rag.eval
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rag.api import Assistant
from rag.eval.beir import evaluate_beir, format_table
from rag.eval.qa import evaluate, load_qa, results_json, summarize
from rag.eval.report import qa_table, write_report
from rag.llm import LLMError
from rag.settings import PROJECT_ROOT, load_settings

DEFAULT_QA = PROJECT_ROOT / "data" / "eval" / "sample_qa.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qa", type=Path, default=DEFAULT_QA, help="QA set (JSONL)")
    parser.add_argument("--corpus", type=Path, help="folder the QA set is about (default: corpus_dir)")
    parser.add_argument("--templates", nargs="+", default=["few_shot", "plain", "cot"])
    parser.add_argument("--beir", type=Path, help="a BEIR-format folder: retrieval evaluation only")
    parser.add_argument("--settings", help="settings file")
    parser.add_argument("--reports", type=Path, help="reports folder (default: reports_dir)")
    args = parser.parse_args(argv)
    settings = load_settings(args.settings)
    reports = args.reports or settings.reports_dir
    model = (
        str(settings.llm_model_path or "bundled gemma-3-270m-q4_k_m")
        if settings.llm_mode == "local"
        else f"{settings.llm_model} at {settings.llm_base_url}"
    )
    meta: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.processor() or ''}".strip(", "),
        "llm_mode": settings.llm_mode,
        "model": model,
        "top_k": settings.top_k,
        "retrieval": f"{settings.retrieval_mode}, {settings.fusion}, dense weight {settings.dense_weight}",
    }
    started = time.perf_counter()
    try:
        if args.beir is not None:
            meta["beir"] = str(args.beir)
            table = evaluate_beir(args.beir, settings)
            meta["seconds"] = round(time.perf_counter() - started, 1)
            folder = write_report(reports, meta, beir=table)
            print(format_table(table))
        else:
            items = load_qa(args.qa)
            meta["qa_set"] = f"{args.qa} ({len(items)} questions)"
            with tempfile.TemporaryDirectory(prefix="rag-eval-") as work:
                local = settings.model_copy(update={"index_dir": Path(work) / "index", "collection": "eval"})
                assistant = Assistant(local)
                report = assistant.ingest(args.corpus or settings.corpus_dir)
                if report.failed:
                    print(report.summary(), file=sys.stderr)

                def progress(done: int, total: int) -> None:
                    print(f"\r{done}/{total} questions", end="", file=sys.stderr, flush=True)

                results = evaluate(assistant, items, args.templates, progress)
                print(file=sys.stderr)
            summary = summarize(results, settings.top_k)
            meta["seconds"] = round(time.perf_counter() - started, 1)
            folder = write_report(reports, meta, summary, results_json(results))
            print(qa_table(summary, settings.top_k))
    except (LLMError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\nreport: {folder / 'report.md'} ({meta['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
