"""Verification after generation: is the answer in its passage, and which passages does it cite.

:func:`support` checks an answer against a passage: every number in the answer and most of its other
words must appear there (or in the question it restates). :func:`check_citations` parses ``[n]``
back to the passages the model was shown and checks each one: a citation is kept as ``supported``
when the answer's words and numbers are in its passage; an unsupported one is kept but flagged.
When the model cites nothing, or only passages that do not support it, the passage that does
support the answer is attached. When no passage supports it, the answer is not supported and the
engine refuses.

Example::

    support("35 days", "Backups are retained for 35 days.", "How long are backups kept?")   # 1.0
    checked = check_citations("35 days [2]", passages, "How long are backups kept?")
    checked.supported, [c.location for c in checked.citations]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.answer.passages import Passage
from rag.core.schema import Citation
from rag.core.text import content_words, numbers, words

CITATION = re.compile(r"\[(\d{1,2})\]")
MIN_SUPPORT = 0.75  # share of the answer's words that must be in the passage (all its numbers)
REFUSALS = re.compile(
    r"\bi (?:do not|don't|dont) know\b"
    r"|\bnot (?:in|mentioned in|stated in|covered by) the (?:passages|context)\b"
    r"|\bno passage\b|\bcannot (?:be )?answer",
    re.IGNORECASE,
)


@dataclass(slots=True)
class CheckedAnswer:
    """An answer text (with its [n] markers) and its checked citations."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    supported: bool = False
    model_refused: bool = False


def cited_numbers(text: str) -> list[int]:
    """The passage numbers cited in ``text``, in order of first appearance."""
    seen: list[int] = []
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if number not in seen:
            seen.append(number)
    return seen


def to_citation(passage: Passage, supported: bool, answer: str = "") -> Citation:
    """The citation of ``passage``; with ``answer`` (its text without markers) the offsets of the
    quote and of the answer in the chunk's text, where they are there verbatim."""
    hit = passage.hit
    quote_at = hit.text.find(passage.text)
    quote_offsets = (quote_at, quote_at + len(passage.text)) if quote_at >= 0 else None
    answer_offsets = None
    if answer and quote_offsets is not None:
        inside = passage.text.find(answer)
        if inside >= 0:
            answer_offsets = (quote_at + inside, quote_at + inside + len(answer))
    return Citation(
        number=passage.number,
        source=hit.source,
        page=hit.page,
        chunk_id=hit.chunk_id,
        quote=passage.text,
        score=round(passage.score, 4),
        supported=supported,
        quote_offsets=quote_offsets,
        answer_offsets=answer_offsets,
    )


def check_citations(answer: str, passages: list[Passage], question: str) -> CheckedAnswer:
    """Verify ``answer`` against the passages it cites (and the others when it cites none that fit)."""
    text = " ".join(answer.split())
    if not text or REFUSALS.search(text):
        return CheckedAnswer(text, model_refused=True)
    by_number = {p.number: p for p in passages}
    scores = {p.number: support(text, p.text, question) for p in passages}
    cited = [n for n in cited_numbers(text) if n in by_number]
    citations = [to_citation(by_number[n], scores[n] >= MIN_SUPPORT) for n in cited]
    supported = any(c.supported for c in citations)
    if not supported:
        best = max(passages, key=lambda p: scores[p.number], default=None)
        if best is not None and scores[best.number] >= MIN_SUPPORT:
            citations = [to_citation(best, True)]  # the unsupported markers are dropped
            text = CITATION.sub("", text).strip() + f" [{best.number}]"
            supported = True
    if supported:
        anchor = next(by_number[c.number] for c in citations if c.supported)
        text = snap_to_passage(text, anchor.text)
        if not cited_numbers(text):
            text = f"{text} [{anchor.number}]"
        bare = " ".join(CITATION.sub(" ", text).split())
        citations = [to_citation(by_number[c.number], c.supported, bare) for c in citations]
    return CheckedAnswer(text, citations, supported)


def support(answer: str, passage: str, question: str = "") -> float:
    """Share of the answer's content words found in ``passage`` (words of the question count as
    found, since answers restate them); 0 if any number of the answer is missing from the passage."""
    answer = CITATION.sub(" ", answer)
    found = content_words(answer) or words(answer)  # "six", "the first": stop words, still an answer
    if not found:
        return 0.0
    present = set(words(passage))
    if any(number not in present for number in numbers(answer)):
        return 0.0
    known = present | set(words(question))
    return sum(1 for w in found if w in known) / len(found)


def snap_to_passage(answer: str, passage: str) -> str:
    """Complete a token the model cut short to the passage's whole token ("4012" -> "SEC-4012")."""
    tokens = set(re.findall(r"\w[\w\-/]*\w|\w", passage))
    snapped = answer
    for word in set(re.findall(r"\w[\w\-/]*\w|\w", answer)):
        if word in tokens:
            continue
        longer = [t for t in tokens if word in re.split(r"[-/]", t) and t != word]
        if len(longer) == 1:
            snapped = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", longer[0], snapped)
    return snapped
