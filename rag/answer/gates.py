"""Gates: named checks that refuse before the model is asked, each with its threshold in settings.

A gate looks at the question, the hits and the chosen passages and returns the reason to refuse, or
None to let the question through. They run in the order of :data:`GATES`; the first reason wins.
After generation, the calibrated refusal model (:mod:`rag.answer.refusal`) makes the final call.

Example::

    for gate in GATES:
        reason = gate.check(settings, question, hits, passages)
        if reason:
            return refuse(reason)
"""

from __future__ import annotations

import re
from typing import Protocol

from rag.answer.passages import Passage
from rag.core.schema import Hit
from rag.core.settings import Settings
from rag.core.text import content_words, words


class Gate(Protocol):
    """A check before generation; ``check`` returns the reason to refuse, or None."""

    name: str

    def check(
        self, settings: Settings, question: str, hits: list[Hit], passages: list[Passage]
    ) -> str | None: ...


class NothingFound:
    """Refuses when no passage could be taken from the hits (an empty index, or no match at all).
    No threshold: nothing to show the model is nothing to answer from."""

    name = "nothing_found"

    def check(
        self, settings: Settings, question: str, hits: list[Hit], passages: list[Passage]
    ) -> str | None:
        return None if passages else "nothing in the index matches the question"


class NamesGate:
    """Refuses when a name of the question (a capitalised word: a person, place or product) is in no
    retrieved chunk (``names_gate``, on by default). On the squad2-dev and cmrc2018-dev fit splits
    the same test, used as a signal of the refusal model, carried little weight once the others were
    in; the gate stays for questions about things the documents never mention."""

    name = "names_gate"

    def check(
        self, settings: Settings, question: str, hits: list[Hit], passages: list[Passage]
    ) -> str | None:
        if not settings.names_gate:
            return None
        missing = unknown_names(question, hits)
        if not missing:
            return None
        return "the documents found never mention " + ", ".join(repr(m) for m in missing)


class EvidenceGate:
    """Refuses when the best passage's similarity to the question (cosine + lexical share) is below
    ``min_evidence`` (0 = off). The value in settings.yaml was fitted on the squad2-dev and
    cmrc2018-dev ``qa_fit`` splits (see the comment there and the README's tuned-numbers table)."""

    name = "min_evidence"

    def check(
        self, settings: Settings, question: str, hits: list[Hit], passages: list[Passage]
    ) -> str | None:
        if not passages or passages[0].score >= settings.min_evidence:
            return None
        best, floor = passages[0].score, settings.min_evidence
        return f"weak evidence: best passage similarity {best:.2f} < {floor}"


GATES: tuple[Gate, ...] = (NothingFound(), NamesGate(), EvidenceGate())


def first_refusal(settings: Settings, question: str, hits: list[Hit], passages: list[Passage]) -> str | None:
    """The reason of the first gate that refuses, or None when every gate lets the question through."""
    for gate in GATES:
        reason = gate.check(settings, question, hits, passages)
        if reason:
            return reason
    return None


def unknown_names(question: str, hits: list[Hit]) -> list[str]:
    """Capitalised words of the question (names, places, products) that no retrieved chunk contains.

    "How many vacation days do contractors in Brazil get?" over documents that never mention
    Brazil retrieves leave rules that look relevant; the missing name shows they are not about it.
    """
    names = re.findall(r"(?<!^)(?<![.?!]\s)\b([A-Z][\w-]*[a-z][\w-]*)\b", question.strip())
    known = {w for hit in hits for w in words(f"{hit.text} {hit.metadata.get('title', '')}")}
    return [w for w in dict.fromkeys(names) if content_words(w) and not set(words(w)) <= known]
