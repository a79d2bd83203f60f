"""`python -m rag.eval` (what `make eval` runs): several QA sets side by side, retrieval sets too.

By default it reports the held-out splits of the QA sets (each ingested into a temporary index)
and two BEIR retrieval sets, all but sec10q-dev kept in ``data/eval`` with their sources and licences:

- ``sample``: our own sample corpus and questions (``data/eval/sample_qa.jsonl`` over ``data/sample``)
- ``squad2-dev``: SQuAD 2.0 over eight English Wikipedia articles, a third of them unanswerable
- ``cmrc2018-dev``: CMRC 2018 over 424 Chinese Wikipedia articles
- ``sec10q-dev``: 20 real 10-Q filings (PDF, financial tables), read from ``$SEC10Q_DIR`` or
  ``../shared/eval/sec10q-dev`` and skipped with a note when absent; scored by its own rule (figures
  normalised) and by page, beside the LangChain tutorial pipeline (``rag/eval/tutorial.py``)
- BEIR: ``sample_beir`` and ``arcd-beir`` (Arabic)

Examples::

    python -m rag.eval                                     # all of the above, few_shot and plain
    python -m rag.eval --sets squad2-dev --templates few_shot cot --limit 50
    python -m rag.eval --sets sec10q-dev --templates few_shot --split fit   # ours vs the tutorial
    python -m rag.eval --qa questions.jsonl --corpus docs/ # your own set
    python -m rag.eval --beir path/to/beir_folder          # that retrieval set only (no QA sets)
    python -m rag.eval --beir DIR --sets sample            # a retrieval set and a QA set
    python -m rag.eval --beir                              # the QA sets only (no retrieval sets)
    python -m rag.eval --fit-refusal                       # fit the refusal model for this backend
    RAG_LLM_MODE=openai RAG_LLM_BASE_URL=http://gpu:8080/v1 python -m rag.eval --fit-refusal
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rag.answer.llm import LLMError
from rag.core.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from rag.eval.beir import evaluate_beir, format_table, qa_as_beir, summary_table
from rag.eval.report import has_pages, pipeline_table, qa_table, write_report
from rag.eval.runner import EVAL_DIR, FIT_SETS, QA_SETS, TUTORIAL_SETS, fit_refusal, missing, run_qa_set

# the dev sets beside the repository ($SHARED_EVAL_DIR, else ../shared/eval): BEIR folders of other
# kinds and QA sets scored as retrieval (question -> its article); each skipped when absent
SHARED_EVAL = Path(os.environ.get("SHARED_EVAL_DIR") or PROJECT_ROOT.parent / "shared" / "eval")
BEIR_SETS = {
    "sample_beir": EVAL_DIR / "sample_beir",
    "arcd-beir": EVAL_DIR / "arcd-beir",
    "scifact-beir": SHARED_EVAL / "scifact-beir",
    "cranfield-beir": SHARED_EVAL / "cranfield-beir",
    "cisi-beir": SHARED_EVAL / "cisi-beir",
}
QA_RETRIEVAL = {  # report splits only
    "squad2-dev": EVAL_DIR / "squad2-dev",
    "cmrc2018-dev": EVAL_DIR / "cmrc2018-dev",
    "drcd-dev": SHARED_EVAL / "drcd-dev",
    "jsquad-dev": SHARED_EVAL / "jsquad-dev",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.settings)
    except (SettingsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    reports = args.reports or settings.reports_dir
    meta = _meta(settings)
    started = time.perf_counter()
    try:
        if args.fit_refusal:
            return _fit(args, settings)
        qa_sets = _qa_sets(args, settings)
        beir_dirs = _beir_dirs(args)
        sets: dict[str, Any] = {}
        for name, (qa, corpus) in qa_sets.items():
            print(f"{name}: {qa}", file=sys.stderr)
            sets[name] = run_qa_set(
                name, qa, corpus, settings, args.templates, args.limit, _progress, name in TUTORIAL_SETS
            )
            print(file=sys.stderr)
        beir: dict[str, Any] = {}
        for folder in beir_dirs:
            print(f"retrieval: {folder}", file=sys.stderr)
            beir[folder.name] = evaluate_beir(folder, settings)
        if args.beir is None and args.qa is None and args.sets is None:
            beir.update(_qa_retrieval(settings))
    except (LLMError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    meta["seconds"] = round(time.perf_counter() - started, 1)
    folder = write_report(reports, meta, sets=sets, beir=beir)
    for name, found in sets.items():
        print(f"\n## {name} ({found['qa_set']})\n\n{qa_table(found['summary'], settings.top_k)}")
        if has_pages(found["summary"]):
            print(f"\n{pipeline_table(found['summary'])}")
    for name, table in beir.items():
        print(f"\n## retrieval: {name}\n\n{format_table(table)}")
    if len(beir) > 1:
        print(f"\n## retrieval across sets\n\n{summary_table(beir)}")
    print(f"\nreport: {folder / 'report.md'} ({meta['seconds']} s)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag.eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets",
        nargs="*",
        help=f"QA sets by name: {', '.join(QA_SETS)} (default: all, none with --beir DIR; "
        "--sets alone: none)",
    )
    parser.add_argument("--qa", type=Path, help="your own QA set (JSONL), instead of --sets")
    parser.add_argument("--corpus", type=Path, help="folder --qa is about (default: corpus_dir)")
    parser.add_argument(
        "--templates",
        nargs="+",
        default=["few_shot", "few_shot:free", "plain"],
        help="templates; few_shot:free = few_shot with free decoding (extractive is its default)",
    )
    parser.add_argument(
        "--split", choices=["held-out", "fit"], default="held-out", help="which split (held-out: qa.jsonl)"
    )
    parser.add_argument("--limit", type=int, help="at most this many questions per set (seeded sample)")
    parser.add_argument(
        "--beir",
        type=Path,
        nargs="*",
        help="BEIR folders to score, and then no QA sets unless --sets or --qa is given (default: "
        "sample_beir, arcd-beir beside the QA sets; --beir alone: no retrieval sets)",
    )
    parser.add_argument("--fit-refusal", action="store_true", help="fit and save the refusal model")
    parser.add_argument("--save", type=Path, help="with --fit-refusal: where to save (a .json path)")
    parser.add_argument("--settings", help="settings file")
    parser.add_argument("--reports", type=Path, help="reports folder (default: reports_dir)")
    return parser


def _qa_sets(args: argparse.Namespace, settings: Settings) -> dict[str, tuple[Path, Path]]:
    if args.qa is not None:
        return {args.qa.stem: (args.qa, args.corpus or settings.corpus_dir)}
    names = _qa_names(args)
    unknown = [n for n in names if n not in QA_SETS]
    if unknown:
        raise ValueError(f"unknown QA set {unknown[0]!r}: choose from {', '.join(QA_SETS)}")
    found = {}
    for name in names:
        why = missing(name)
        if why is not None and args.sets is not None:
            raise FileNotFoundError(why)  # asked for by name: an error
        if why is not None:
            print(f"skipped {why}", file=sys.stderr)  # in the default run: a note
            continue
        qa, fit, corpus = QA_SETS[name]
        path = fit if args.split == "fit" else qa
        if path is None:
            raise ValueError(f"{name} has no fit split")
        found[name] = (path, corpus)
    return found


def _qa_names(args: argparse.Namespace) -> list[str]:
    """The named QA sets to run: those of --sets, else none when --qa or --beir DIR is given, else all."""
    if args.sets is not None:
        return list(args.sets)
    if args.qa is not None or getattr(args, "beir", None):
        return []  # your own set, or retrieval folders: what was asked for, not a 24-minute run
    return list(QA_SETS)


def _beir_dirs(args: argparse.Namespace) -> list[Path]:
    if args.beir is not None and args.beir:
        return list(args.beir)
    if args.beir is not None or args.qa is not None or args.sets is not None:
        return []  # --beir with no folder, or a chosen QA set: no retrieval sets
    found = [folder for folder in BEIR_SETS.values() if folder.is_dir()]
    for name, folder in BEIR_SETS.items():
        if not folder.is_dir():
            print(f"skipped retrieval set {name}: {folder} not found (set SHARED_EVAL_DIR)", file=sys.stderr)
    return found


def _qa_retrieval(settings: Settings) -> dict[str, Any]:
    """The report splits of the QA sets scored as retrieval (question -> the article it is about)."""
    import tempfile

    found: dict[str, Any] = {}
    for name, folder in QA_RETRIEVAL.items():
        if not (folder / "qa.jsonl").is_file():
            print(f"skipped retrieval set {name}: {folder} not found (set SHARED_EVAL_DIR)", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory(prefix="qa-beir-") as work:
            print(f"retrieval: {name} (qa.jsonl, question -> article)", file=sys.stderr)
            qa_as_beir(folder / "qa.jsonl", folder / "corpus", Path(work))
            found[f"{name} (question -> article)"] = evaluate_beir(Path(work), settings)
    return found


def _fit(args: argparse.Namespace, settings: Settings) -> int:
    names = args.sets or list(FIT_SETS)
    for decoding, path, model in fit_refusal(settings, names, args.limit, args.save, _progress):
        print(f"\n{decoding}: saved {path}\n  fitted on: {model.fitted_on}")
        for feature, weight in zip(model.features, model.coef, strict=True):
            print(f"  {feature:>14} {weight:+.3f}")
    return 0


def _meta(settings: Settings) -> dict[str, Any]:
    model = (
        str(settings.llm_model_path or "bundled gemma-3-270m-q4_k_m")
        if settings.llm_mode == "local"
        else f"{settings.llm_model} at {settings.llm_base_url}"
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.processor() or ''}".strip(", "),
        "llm_mode": settings.llm_mode,
        "model": model,
        "decoding": settings.decoding,
        "min_confidence": "the refusal model's fitted operating point"
        if settings.min_confidence is None
        else settings.min_confidence,
        "top_k": settings.top_k,
        "retrieval": f"{settings.retrieval_mode}, {settings.fusion} fusion, {settings.score_normalisation}, "
        f"peak_scale {settings.peak_scale}, dense_weight {settings.dense_weight}, "
        f"{settings.candidates} candidates",
    }


def _progress(done: int, total: int) -> None:
    print(f"\r{done}/{total} questions", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
