"""Question-answering evaluation: retrieval, answers, citations, refusals and latency per template.

A QA set is JSONL, one question per line::

    {"id": "a01", "question": "How long are backups retained?", "answers": ["35 days"],
     "source": "it_security_policy.pdf", "page": 4, "answerable": true}

``source`` may be a list when several files hold the answer; ``page`` (PDF page or slide), or
``pages`` (any of them; ``[]``: any page of the source), is checked for citations when given;
unanswerable questions have ``"answerable": false``. Answers are matched by :func:`contains_answer`,
or by the rule a set states for its ``kind`` (:data:`MATCHERS`: sec10q-dev's figures).

Metrics, per template:
  * ``hit@k`` / ``mrr``: rank of the first retrieved chunk from a gold source (answerable questions)
  * ``accuracy``: an accepted answer appears in a non-refused answer; ``f1``: SQuAD token F1, best
    over the accepted answers (0 for a refusal)
  * ``citation_accuracy``: of the answered answerable questions, the share whose supported citation
    is from a gold source (and page) and quotes an accepted answer
  * ``cited_page_accuracy``: of the right answers, the share whose citation (the first supported
    one) is from a gold source and on a gold page (any page of it when the item names none)
  * ``page_hit@n`` (with ``depth``, for ``page_ks``): a chunk from a gold source and page among
    the first n of a separate retrieval of ``depth`` chunks per question
  * ``refusal_rate``: refused unanswerable questions; ``false_refusal_rate``: refused answerable ones;
    ``refused``: refused questions of all kinds
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

from rag.core.schema import Answer, Hit, location
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
    pages: tuple[int, ...] = ()  # pages that hold the answer ("pages", or "page"); (): any page


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
    cited_page_ok: bool = False  # right, and its first supported citation is on a gold page
    page_rank: int | None = None  # first chunk on a gold page in the deep retrieval (``depth``)
    retrieved: list[str] = field(default_factory=list)  # the deep retrieval's chunks, best first


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
            page = int(row["page"]) if row.get("page") else None
            pages = row.get("pages", [page] if page else [])  # [] in "pages": any page of the source
            item = QAItem(
                id=str(row.get("id", number)),
                question=str(row["question"]),
                answers=[str(a) for a in row.get("answers") or []],
                sources=[sources] if isinstance(sources, str) else [str(s) for s in sources],
                page=page,
                answerable=answerable,
                kind=str(row.get("kind", "")),
                pages=tuple(int(p) for p in pages),
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


def normalize_figures(text: str) -> str:
    """sec10q-dev's normalisation: :func:`normalize`, then ``$``, ``,`` and ``%`` dropped and the
    trailing zeros of decimals stripped (``"$18.0 billion"`` -> ``"18 billion"``, ``"2.50%"`` ->
    ``"2.5"``)."""
    flat = re.sub(r"[$,%]", "", normalize(text))
    flat = re.sub(r"(\d\.\d*?)0+(?!\d)", r"\1", flat)  # 18.50 -> 18.5, 18.0 -> 18.
    flat = re.sub(r"(\d)\.(?!\d)", r"\1", flat)  # 18. -> 18
    return " ".join(flat.split())


def contains_figure(text: str, answers: Sequence[str]) -> bool:
    """sec10q-dev's rule: an answer appears in ``text``, both normalised by :func:`normalize_figures`;
    an answer that starts or ends with a digit never matches inside a longer number (``"2294"`` is
    not in ``"12294"``, ``"22945"`` or ``"2294.5"``)."""
    flat = normalize_figures(text)
    for answer in answers:
        key = normalize_figures(answer)
        if not key:
            continue
        before = r"(?<!\d)(?<!\d\.)" if key[0].isdigit() else ""  # no digit, nor "digit.", before it
        after = r"(?!\.?\d)" if key[-1].isdigit() else ""  # no digit, nor ".digit", after it
        if re.search(before + re.escape(key) + after, flat):
            return True
    return False


Matcher = Callable[[str, Sequence[str]], bool]
# the scoring rule a set states for its questions, by their kind; any other kind: contains_answer
MATCHERS: dict[str, Matcher] = {"sec10q": contains_figure}


def matcher(item: QAItem) -> Matcher:
    """How answers to ``item`` are matched (:data:`MATCHERS`, else :func:`contains_answer`)."""
    return MATCHERS.get(item.kind, contains_answer)


def on_gold_page(item: QAItem, source: str, page: int | None) -> bool:
    """Whether a chunk or citation at ``source``, ``page`` is where ``item``'s answer is: a gold
    source and, when the item names pages, one of them."""
    return source in item.sources and (not item.pages or page in item.pages)


def page_rank(item: QAItem, hits: Sequence[Hit]) -> int | None:
    """The 1-based rank of the first hit on a gold page (:func:`on_gold_page`), None if none is."""
    return next((n for n, hit in enumerate(hits, start=1) if on_gold_page(item, hit.source, hit.page)), None)


def score(item: QAItem, answer: Answer, template: str, ranked: Sequence[Hit] | None = None) -> ItemResult:
    """Score one answer against its QA item; ``ranked`` is a deeper retrieval for the question
    (``page_rank`` and ``retrieved``)."""
    rank = None
    for position, hit in enumerate(answer.hits, start=1):
        if hit.source in item.sources:
            rank = position
            break
    match = matcher(item)
    answered = not answer.refused
    correct = item.answerable and answered and match(answer.text, item.answers)
    f1 = max((token_f1(answer.text, a) for a in item.answers), default=0.0) if answered else 0.0
    citation_ok = answered and any(
        c.supported and on_gold_page(item, c.source, c.page) and match(c.quote, item.answers)
        for c in answer.citations
    )
    cited = next((c for c in answer.citations if c.supported), None)  # the citation the answer leans on
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
        candidate_correct=item.answerable and bool(answer.signals) and match(answer.raw_output, item.answers),
        gold_shown=any(c.source in item.sources for c in answer.passages or answer.citations),
        cited_page_ok=correct and cited is not None and on_gold_page(item, cited.source, cited.page),
        page_rank=page_rank(item, ranked) if ranked is not None else None,
        retrieved=[location(h.source, h.page) for h in ranked or []],
    )


def evaluate(
    assistant: Any,
    items: Sequence[QAItem],
    templates: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    depth: int = 0,
) -> dict[str, list[ItemResult]]:
    """Ask every question with every template (through ``assistant.ask``, no history); a template
    written ``few_shot:free`` (or ``:extractive``) is asked with that decoding. With ``depth``,
    each question is also retrieved once at that depth (``assistant.retrieve``) for its page rank."""
    ranked = {item.id: assistant.retrieve(item.question, k=depth) for item in items} if depth else {}
    results: dict[str, list[ItemResult]] = {}
    total, done = len(items) * len(templates), 0
    for template in templates:
        results[template] = []
        name, _, decoding = template.partition(":")
        for item in items:
            answer = assistant.ask(item.question, template=name, decoding=decoding or None)
            results[template].append(score(item, answer, template, ranked.get(item.id)))
            done += 1
            if progress is not None:
                progress(done, total)
    return results


def summarize(
    results: dict[str, list[ItemResult]], k: int | None = None, page_ks: Sequence[int] = ()
) -> dict[str, dict[str, float]]:
    """The metrics of each template (see the module docstring); ``page_hit@n`` for each n of
    ``page_ks`` (the rows need a ``page_rank``: :func:`evaluate` with ``depth``)."""
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
            "cited_page_accuracy": _mean([1.0 if r.cited_page_ok else 0.0 for r in answerable if r.correct]),
            "refusal_rate": _mean([1.0 if r.refused else 0.0 for r in unanswerable]),
            "false_refusal_rate": _mean([1.0 if r.refused else 0.0 for r in answerable]),
            "refused": _mean([1.0 if r.refused else 0.0 for r in rows]),
            "latency_p50": float(np.percentile(latency, 50)),
            "latency_p95": float(np.percentile(latency, 95)),
        }
        for n in page_ks:  # a chunk on a gold page among the first n of the deep retrieval
            table[template][f"page_hit@{n}"] = _mean(
                [1.0 if r.page_rank is not None and r.page_rank <= n else 0.0 for r in answerable]
            )
    return table


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def results_json(results: dict[str, list[ItemResult]]) -> dict[str, list[dict[str, Any]]]:
    return {template: [asdict(r) for r in rows] for template, rows in results.items()}
