"""Question-answering evaluation: retrieval, answers, citations, refusals and latency per template.

A QA set is JSONL, one question per line::

    {"id": "a01", "question": "How long are backups retained?", "answers": ["35 days"],
     "source": "it_security_policy.pdf", "page": 4, "answerable": true}

``source`` may be a list when several files hold the answer; ``page`` (PDF page or slide) is checked
for citations when given; unanswerable questions have ``"answerable": false``.

Metrics, per template:
  * ``hit@k`` / ``mrr``: rank of the first retrieved chunk from a gold source (answerable questions)
  * ``accuracy``: an accepted answer appears in a non-refused answer; ``f1``: SQuAD token F1, best
    over the accepted answers (0 for a refusal)
  * ``citation_accuracy``: of the answered answerable questions, the share whose supported citation
    is from a gold source (and page) and quotes an accepted answer
  * ``refusal_rate``: refused unanswerable questions; ``false_refusal_rate``: refused answerable ones
  * ``latency_p50`` / ``latency_p95``: seconds per question

Example::

    items = load_qa(Path("data/eval/sample_qa.jsonl"))
    results = evaluate(assistant, items, ["few_shot", "plain"])
    print(summarize(results)["few_shot"]["accuracy"])
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.core.schema import Answer
from rag.core.text import UNSPACED


@dataclass(frozen=True, slots=True)
class QAItem:
    """One question of a QA set."""

    id: str
    question: str
    answers: list[str]
    sources: list[str]
    page: int | None
    answerable: bool
    kind: str = ""


@dataclass(slots=True)
class ItemResult:
    """How one question went under one template."""

    id: str
    template: str
    question: str
    answerable: bool
    kind: str
    answer: str
    refused: bool
    correct: bool
    f1: float
    retrieval_rank: int | None
    citation_ok: bool
    seconds: float
    citations: list[str] = field(default_factory=list)
    refusal_reason: str = ""
    confidence: float | None = None  # the refusal model's estimate (None: no candidate answer)
    threshold: float | None = None  # the refusal threshold it was compared with
    signals: dict[str, float] = field(default_factory=dict)
    candidate: str = ""  # the answer before the refusal decision (raw model output)
    candidate_correct: bool = False  # whether that candidate holds an accepted answer
    gold_shown: bool = False  # a passage shown to the model is from a gold source


def load_qa(path: Path) -> list[QAItem]:
    """Read and check a QA set; a bad line is an error naming the file and line."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            sources = row.get("source") or []
            answerable = bool(row.get("answerable", True))
            item = QAItem(
                id=str(row.get("id", number)),
                question=str(row["question"]),
                answers=[str(a) for a in row.get("answers") or []],
                sources=[sources] if isinstance(sources, str) else [str(s) for s in sources],
                page=int(row["page"]) if row.get("page") else None,
                answerable=answerable,
                kind=str(row.get("kind", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a QA item: {error}") from error
        if item.answerable and not (item.answers and item.sources):
            raise ValueError(f"{path}:{number}: an answerable question needs answers and a source")
        items.append(item)
    if not items:
        raise ValueError(f"{path}: no questions")
    return items


def normalize(text: str) -> str:
    text = re.sub(r"\[\d+\]", " ", text.lower())
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    """Words without punctuation and English articles; Chinese and Japanese by character (as
    CMRC 2018 scores them)."""
    table = str.maketrans(dict.fromkeys(string.punctuation.replace("%", "").replace("£", ""), " "))
    spaced = UNSPACED.sub(lambda m: " " + " ".join(m.group(0)) + " ", normalize(text).translate(table))
    return [t for t in spaced.split() if t not in {"a", "an", "the"} and t not in "，。、？！：；（）《》“”"]


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD-style token F1 (articles and punctuation ignored, citations stripped)."""
    predicted, expected = _tokens(prediction), _tokens(truth)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    flat = normalize(text)
    return any(normalize(a) in flat for a in answers)


def score(item: QAItem, answer: Answer, template: str) -> ItemResult:
    """Score one answer against its QA item."""
    rank = None
    for position, hit in enumerate(answer.hits, start=1):
        if hit.source in item.sources:
            rank = position
            break
    answered = not answer.refused
    correct = item.answerable and answered and contains_answer(answer.text, item.answers)
    f1 = max((token_f1(answer.text, a) for a in item.answers), default=0.0) if answered else 0.0
    citation_ok = answered and any(
        c.supported
        and c.source in item.sources
        and (item.page is None or c.page == item.page)
        and contains_answer(c.quote, item.answers)
        for c in answer.citations
    )
    return ItemResult(
        id=item.id,
        template=template,
        question=item.question,
        answerable=item.answerable,
        kind=item.kind,
        answer=answer.text,
        refused=answer.refused,
        correct=correct,
        f1=f1 if item.answerable else 0.0,
        retrieval_rank=rank,
        citation_ok=citation_ok,
        seconds=answer.seconds,
        citations=[c.location for c in answer.citations],
        refusal_reason=answer.refusal_reason,
        confidence=answer.confidence,
        threshold=answer.threshold,
        signals=dict(answer.signals),
        candidate=answer.raw_output,
        candidate_correct=item.answerable
        and bool(answer.signals)
        and contains_answer(answer.raw_output, item.answers),
        gold_shown=any(c.source in item.sources for c in answer.passages or answer.citations),
    )


def evaluate(
    assistant: Any,
    items: Sequence[QAItem],
    templates: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[ItemResult]]:
    """Ask every question with every template (through ``assistant.ask``, no history); a template
    written ``few_shot:free`` (or ``:extractive``) is asked with that decoding."""
    results: dict[str, list[ItemResult]] = {}
    total, done = len(items) * len(templates), 0
    for template in templates:
        results[template] = []
        name, _, decoding = template.partition(":")
        for item in items:
            answer = assistant.ask(item.question, template=name, decoding=decoding or None)
            results[template].append(score(item, answer, template))
            done += 1
            if progress is not None:
                progress(done, total)
    return results


def summarize(results: dict[str, list[ItemResult]], k: int | None = None) -> dict[str, dict[str, float]]:
    """The metrics of each template (see the module docstring)."""
    table: dict[str, dict[str, float]] = {}
    for template, rows in results.items():
        answerable = [r for r in rows if r.answerable]
        unanswerable = [r for r in rows if not r.answerable]
        answered = [r for r in answerable if not r.refused]
        ranks = [r.retrieval_rank for r in answerable]
        latency = np.array([r.seconds for r in rows]) if rows else np.zeros(1)
        cutoff = k or max((r or 0 for r in ranks), default=0)
        table[template] = {
            "questions": len(rows),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            f"hit@{k}" if k else "hit": _mean([1.0 if r is not None and r <= cutoff else 0.0 for r in ranks]),
            "mrr": _mean([1.0 / r if r else 0.0 for r in ranks]),
            "accuracy": _mean([1.0 if r.correct else 0.0 for r in answerable]),
            "f1": _mean([r.f1 for r in answerable]),
            "gold_shown": _mean([1.0 if r.gold_shown else 0.0 for r in answerable]),
            "citation_accuracy": _mean([1.0 if r.citation_ok else 0.0 for r in answered]),
            "refusal_rate": _mean([1.0 if r.refused else 0.0 for r in unanswerable]),
            "false_refusal_rate": _mean([1.0 if r.refused else 0.0 for r in answerable]),
            "latency_p50": float(np.percentile(latency, 50)),
            "latency_p95": float(np.percentile(latency, 95)),
        }
    return table


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def results_json(results: dict[str, list[ItemResult]]) -> dict[str, list[dict[str, Any]]]:
    return {template: [asdict(r) for r in rows] for template, rows in results.items()}
