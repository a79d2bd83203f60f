"""Running QA sets end to end (ingest into a temporary index, ask, score), the risk–coverage curve
of the refusal decision, and fitting the refusal model on fit splits.

sec10q-dev (20 real 10-Q PDFs, 24 MB) is not copied into ``data/eval``: it is read from
``$SEC10Q_DIR``, by default ``../shared/eval/sec10q-dev`` beside the repository, and skipped when
absent (:func:`missing`). Its run adds retrieved-page hit@1/4/10 and the LangChain tutorial
pipeline (:mod:`rag.eval.tutorial`) beside ours.

Example::

    found = run_qa_set("squad2-dev", qa, corpus, settings, ["few_shot"], limit=50)
    found["summary"]["few_shot"]["accuracy"], found["curves"]["few_shot"]["points"][:3]
    qa, fit, corpus = QA_SETS["sec10q-dev"]
    found = run_qa_set("sec10q-dev", fit, corpus, settings, ["few_shot"], tutorial=True)
    found["summary"]["few_shot"]["page_hit@4"], found["summary"]["LangChain tutorial"]["accuracy"]
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.answer.refusal import (
    MAX_FALSE_REFUSALS,
    SIGNALS,
    RefusalModel,
    backend_key,
    choose_threshold,
    fit,
    fitted_path,
)
from rag.core.settings import PROJECT_ROOT, Settings
from rag.eval.qa import ItemResult, QAItem, evaluate, load_qa, results_json, summarize

EVAL_DIR = PROJECT_ROOT / "data" / "eval"
# sec10q-dev's folder: $SEC10Q_DIR, else ../shared/eval/sec10q-dev beside the repository (not a
# RAG_* variable: load_settings warns about those it does not know)
SEC10Q_DIR = Path(os.environ.get("SEC10Q_DIR") or PROJECT_ROOT.parent / "shared" / "eval" / "sec10q-dev")
# name -> (held-out QA file, fit QA file or None, corpus folder)
QA_SETS: dict[str, tuple[Path, Path | None, Path]] = {
    "sample": (EVAL_DIR / "sample_qa.jsonl", None, PROJECT_ROOT / "data" / "sample"),
    "squad2-dev": (
        EVAL_DIR / "squad2-dev" / "qa.jsonl",
        EVAL_DIR / "squad2-dev" / "qa_fit.jsonl",
        EVAL_DIR / "squad2-dev" / "corpus",
    ),
    "cmrc2018-dev": (
        EVAL_DIR / "cmrc2018-dev" / "qa.jsonl",
        EVAL_DIR / "cmrc2018-dev" / "qa_fit.jsonl",
        EVAL_DIR / "cmrc2018-dev" / "corpus",
    ),
    "sec10q-dev": (SEC10Q_DIR / "qa.jsonl", SEC10Q_DIR / "qa_fit.jsonl", SEC10Q_DIR / "corpus"),
}
# sets scored by page (gold `pages`) and compared with the LangChain tutorial pipeline
TUTORIAL_SETS = {"sec10q-dev"}
PAGE_KS = (1, 4, 10)  # retrieved-page hit@n of those sets
FIT_SETS = {"squad2-dev": 400, "cmrc2018-dev": 200}  # questions of each fit split used by default
Progress = Callable[[int, int], None]


def missing(name: str) -> str | None:
    """Why set ``name`` cannot run here (its files are not there), or None when it can."""
    qa, fit, corpus = QA_SETS[name]
    absent = [path for path in (qa, fit, corpus) if path is not None and not path.exists()]
    if not absent:
        return None
    hint = " (set SEC10Q_DIR to its folder)" if name == "sec10q-dev" else ""
    return f"{name}: {absent[0]} not found{hint}"


def sample(items: list[QAItem], limit: int | None, seed: int = 0) -> list[QAItem]:
    """A fixed seeded sample of ``limit`` items (all of them, in order, without a limit)."""
    if limit is None or limit >= len(items):
        return items
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:limit]


def ask_all(
    settings: Settings,
    corpus: Path,
    items: Sequence[QAItem],
    templates: Sequence[str],
    progress: Progress | None = None,
    depth: int = 0,
    **parts: Any,
) -> dict[str, list[ItemResult]]:
    """Ingest ``corpus`` into a temporary index and ask every item with every template
    (``parts``: an ``embedder`` or ``llm`` to share, as :class:`rag.Assistant` takes them;
    ``depth``: also retrieve that many chunks per question, for page ranks)."""
    from rag.api import Assistant

    with tempfile.TemporaryDirectory(prefix="rag-eval-") as work:
        local = settings.model_copy(update={"index_dir": Path(work) / "index", "collection": "eval"})
        assistant = Assistant(local, **parts)
        report = assistant.ingest(corpus)
        if report.failed:
            raise ValueError(f"{corpus}: {report.summary()}")
        return evaluate(assistant, items, templates, progress, depth)


def run_qa_set(
    name: str,
    qa: Path,
    corpus: Path,
    settings: Settings,
    templates: Sequence[str],
    limit: int | None = None,
    progress: Progress | None = None,
    tutorial: bool = False,
    **parts: Any,
) -> dict[str, Any]:
    """One set's summary per template, its results and its risk–coverage curves. With
    ``tutorial``, retrieved-page hit@n (``PAGE_KS``) too, and the LangChain tutorial pipeline
    beside the templates (as ``"LangChain tutorial"``, on the same embedder and LLM)."""
    items = sample(load_qa(qa), limit)
    if tutorial:
        parts = _shared_parts(settings, parts)
    results = ask_all(settings, corpus, items, templates, progress, max(PAGE_KS) if tutorial else 0, **parts)
    curves = {t: risk_coverage(rows, _threshold(settings, rows)) for t, rows in results.items()}
    if tutorial:
        from rag.eval.tutorial import TUTORIAL, run_tutorial

        results[TUTORIAL] = run_tutorial(
            items, corpus, parts["embedder"], parts["llm"], max(PAGE_KS), settings.top_k, progress
        )
    return {
        "qa_set": f"{qa.relative_to(PROJECT_ROOT) if qa.is_relative_to(PROJECT_ROOT) else qa}, "
        f"{len(items)} questions",
        "summary": summarize(results, settings.top_k, PAGE_KS if tutorial else ()),
        "results": results_json(results),
        "curves": curves,  # ours only: the tutorial's answers have no confidence
    }


def _shared_parts(settings: Settings, parts: dict[str, Any]) -> dict[str, Any]:
    """``parts`` with an embedder and an LLM (made from ``settings`` where not given), so that
    both pipelines load each model once."""
    from rag.answer.llm import make_llm
    from rag.index.embeddings import make_embedder

    shared = dict(parts)
    if shared.get("embedder") is None:
        shared["embedder"] = make_embedder(settings)
    if shared.get("llm") is None:
        shared["llm"] = make_llm(settings)
    return shared


def _threshold(settings: Settings, rows: Sequence[ItemResult]) -> float:
    """The refusal threshold the rows were answered with."""
    if settings.min_confidence is not None:
        return settings.min_confidence
    return next((r.threshold for r in rows if r.threshold is not None), 0.5)


def risk_coverage(rows: Sequence[ItemResult], threshold: float) -> dict[str, Any]:
    """Accuracy of the answered questions against the share answered, as the refusal threshold
    moves over the confidences; ``operating`` is the point of ``threshold``. An unanswerable
    question answered counts as wrong; a question with no candidate answer is never answered."""
    total = len(rows)
    scored = sorted(
        ((r.confidence, r.answerable and r.candidate_correct) for r in rows if r.confidence is not None),
        key=lambda pair: -pair[0],
    )
    points, right = [], 0
    for count, (confidence, good) in enumerate(scored, start=1):
        right += int(good)
        points.append({"threshold": confidence, "coverage": count / total, "accuracy": right / count})
    chosen = [good for confidence, good in scored if confidence >= threshold]
    operating = {
        "threshold": threshold,
        "coverage": len(chosen) / total if total else 0.0,
        "accuracy": sum(chosen) / len(chosen) if chosen else 0.0,
    }
    return {"points": points, "operating": operating}


def gated(signals: dict[str, float], settings: Settings) -> bool:
    """Whether the pre-generation gates (``min_evidence``, ``names_gate``) refuse a candidate."""
    if signals.get("passage_score", 1.0) < settings.min_evidence:
        return True
    return settings.names_gate and signals.get("missing_names", 0.0) > 0


def operating_point(model: RefusalModel, rows: Sequence[ItemResult], settings: Settings) -> float:
    """The threshold that refuses the most unanswerable questions of ``rows`` while refusing at
    most ``MAX_FALSE_REFUSALS`` of the answerable ones, the gates' refusals counted."""
    confidences = [
        model.confidence(r.signals) if r.signals and not gated(r.signals, settings) else None for r in rows
    ]
    return choose_threshold(confidences, [r.answerable for r in rows], MAX_FALSE_REFUSALS)


def fit_refusal(
    settings: Settings,
    names: Sequence[str],
    limit: int | None = None,
    save: Path | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[str, Path, RefusalModel]]:
    """Fit the refusal model of the configured backend on the fit splits of ``names``: extractive
    decoding with few_shot (when the backend can), free decoding with the configured template.
    Every candidate answer is kept (``min_confidence`` 0); its label is whether it holds an
    accepted answer. The operating point (``threshold``) refuses the most unanswerable fit
    questions while refusing at most ``MAX_FALSE_REFUSALS`` of the answerable ones. The rows go
    to ``reports_dir/refusal-fit-<model>-<decoding>.json``."""
    from rag.answer.llm import make_llm

    # every candidate is measured: gates off, no refusal on confidence
    measuring = settings.model_copy(update={"min_confidence": 0.0, "min_evidence": 0.0, "names_gate": False})
    runs = [("free", settings.template, "free")]
    if make_llm(measuring).info.span_decoding:
        runs.insert(0, ("extractive", "few_shot", "extractive"))
    for decoding, template, mode in runs:
        rows: list[ItemResult] = []
        everything: list[ItemResult] = []
        described = []
        for name in names:
            _, fit_file, corpus = QA_SETS[name]
            if fit_file is None:
                raise ValueError(f"{name} has no fit split")
            items = sample(load_qa(fit_file), limit or FIT_SETS.get(name))
            found = ask_all(
                measuring.model_copy(update={"decoding": mode}), corpus, items, [template], progress
            )
            rows += [r for r in found[template] if r.signals]
            everything += found[template]
            described.append(f"{fit_file.relative_to(PROJECT_ROOT)} ({len(items)} questions, seed 0)")
        features = [f for f in SIGNALS if all(f in r.signals for r in rows)]
        model = fit(
            [r.signals for r in rows],
            [r.answerable and r.candidate_correct for r in rows],
            features,
            fitted_on=f"{template}, {decoding} decoding: " + "; ".join(described),
        )
        model.threshold = operating_point(model, everything, settings)
        dump = settings.reports_dir / f"refusal-fit-{backend_key(settings)}-{decoding}.json"
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_text(json.dumps([asdict(r) for r in everything], ensure_ascii=False))
        path = save if save is not None and len(runs) == 1 else None
        if save is not None and path is None:
            path = save.with_name(f"{save.stem}.{decoding}{save.suffix}")
        path = path or fitted_path(settings, decoding)
        model.backend = settings.llm_model if settings.llm_mode == "openai" else "local"
        model.save(path)
        yield decoding, path, model
