"""Passages: the tight context a small model needs, chosen before generation.

Retrieved chunks are split into units a person would quote (sentences; table rows read with their
header, "Limit: £180 per night"), each unit is scored against the question (embedding similarity
plus the share of the question's words it contains) and the best ones become the numbered passages
[1]..[n] of the prompt. A 270M model given two sentences answers far more often from them than one
given five 200-token chunks; every passage still points at its chunk, file and page.

A chunk says it holds a table in its metadata (``element_type: table``, set by the chunker), and the
cells of a row are joined by :data:`rag.core.schema.CELL_SEPARATOR`, the one constant the chunker
writes them with. After generation, :mod:`rag.answer.verify`
checks the answer against the passage it came from.

Example::

    passages = select_passages(question, hits, embedder, n=2)
    best = passages[0]            # Passage(number=1, text="Backups are retained for 35 days ...")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rag.core.schema import CELL_SEPARATOR, Hit, location, prompt_safe
from rag.core.text import content_words, has_unspaced, numbers, words
from rag.index.embeddings import Embedder

# Sentence ends of Chinese and Japanese: spaCy's English tokenizer keeps a run of them in one token.
_CJK_END = re.compile(r"(?<=[。！？；])")
LEXICAL_WEIGHT = 0.3  # how much the share of question words in a unit adds to its similarity
MAX_UNIT_CHARS = 1000  # a quotable unit is cut to this many characters (a line with no full stop)
SENTENCIZER_WINDOW = 20_000  # characters handed to spaCy at a time (its limit is 1,000,000)


@dataclass(frozen=True, slots=True)
class Passage:
    """One numbered piece of evidence shown to the model, and the chunk it was taken from.

    Example::

        Passage(number=1, text="Backups are retained for 35 days.", hit=hit, score=0.84)
    """

    number: int
    text: str
    hit: Hit
    score: float  # similarity to the question (cosine + lexical share), the evidence strength

    @property
    def location(self) -> str:
        """Where the passage is from, as shown in the prompt (:func:`rag.core.schema.location`): the
        file name is data there, so it is kept to one line without labels that could pass for the
        prompt's (see ``prompt_safe``)."""
        return location(prompt_safe(self.hit.source), self.hit.page)


def units(hit: Hit) -> list[str]:
    """The quotable pieces of a chunk: its sentences, and, in a table chunk (``element_type`` table,
    set by the chunker), its rows spelled out with their header. Heading lines (the heading path,
    sheet names included) are context, not quotes."""
    lines = [line.strip() for line in hit.text.splitlines() if line.strip()]
    headings = {part.strip() for part in str(hit.metadata.get("heading_path", "")).split(">")}
    table = hit.metadata.get("element_type") == "table"
    found: list[str] = []
    header: list[str] | None = None
    for line in lines:
        if table and (CELL_SEPARATOR in line or line.startswith(CELL_SEPARATOR.lstrip())):
            padded = f" {line}" if line.startswith(CELL_SEPARATOR.lstrip()) else line  # empty first cell
            cells = [cell.strip() for cell in padded.split(CELL_SEPARATOR)]
            if header is None or cells == header:
                header = cells
                continue
            found.extend(_row_units(header, cells))
            continue
        header = None
        if line in headings:
            continue
        found.extend(piece for s in _sentences(line) if _quotable(s) for piece in _bounded(s))
    return found


def _row_units(header: list[str], cells: list[str]) -> list[str]:
    """A table row spelled out with its header: one unit for the row ("Category: Hotel; Limit:
    £180"), or, where a label heads two or more figures (a statement's "Revenue | 18,120 | 5,931"),
    one unit per figure with its label and column ("Revenue; Three Months Ended Oct 29, 2023:
    18,120"), so each figure can be chosen, and quoted, on its own."""
    pairs = [(h, c) for h, c in zip(header, cells, strict=False) if c]
    figures = [(h, c) for h, c in pairs[1:] if numbers(c) and len(c) <= 24]
    if cells and cells[0] and not numbers(cells[0]) and len(figures) >= 2:
        label = f"{header[0]}: {cells[0]}" if header and header[0] else cells[0]
        return [f"{label}; {h}: {c}" if h else f"{label}: {c}" for h, c in figures]
    return ["; ".join(f"{h}: {c}" if h else c for h, c in pairs)]


def _bounded(unit: str) -> list[str]:
    """``unit`` in pieces of at most ``MAX_UNIT_CHARS``, cut at a space where there is one."""
    pieces = []
    while len(unit) > MAX_UNIT_CHARS:
        cut = unit.rfind(" ", MAX_UNIT_CHARS // 2, MAX_UNIT_CHARS)
        cut = cut if cut > 0 else MAX_UNIT_CHARS
        pieces.append(unit[:cut].strip())
        unit = unit[cut:].strip()
    return [*pieces, unit] if unit else pieces


def _quotable(sentence: str) -> bool:
    return (
        len(sentence.split()) >= 3
        or bool(numbers(sentence))
        or ":" in sentence
        or (has_unspaced(sentence) and len(words(sentence)) >= 3)
    )


def _sentences(text: str) -> list[str]:
    """Sentences of ``text``, read by spaCy a bounded window at a time (chunks of older indexes
    can be far longer than spaCy's limit)."""
    found = []
    for start in range(0, len(text), SENTENCIZER_WINDOW):
        window = text[start : start + SENTENCIZER_WINDOW]
        for part in _CJK_END.split(window) if has_unspaced(window) else [window]:
            found += [s.text.strip() for s in _sentencizer()(part).sents if s.text.strip()]
    return found


@lru_cache(maxsize=1)
def _sentencizer() -> Any:
    """spaCy's rule-based sentence splitter (no model to load; punctuation rules only)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def select_passages(
    question: str, hits: list[Hit], embedder: Embedder, n: int, question_vector: np.ndarray | None = None
) -> list[Passage]:
    """The ``n`` units of ``hits`` most similar to ``question``, numbered from 1, best first
    (``question_vector``: the question's embedding, when the caller has it already)."""
    candidates = [(unit, hit) for hit in hits for unit in units(hit)]
    if not candidates:
        return []
    texts = [_in_context(unit, hit) for unit, hit in candidates]
    if question_vector is None:
        vectors = embedder.embed([question, *texts])
        question_vector, vectors = vectors[0], vectors[1:]
    else:
        vectors = embedder.embed(texts)
    similarity = vectors @ question_vector
    asked = set(content_words(question))
    lexical = np.array(
        [len(asked & set(content_words(text))) / len(asked) if asked else 0.0 for text in texts]
    )
    scores = similarity + LEXICAL_WEIGHT * lexical
    chosen: list[Passage] = []
    seen: set[str] = set()
    for index in np.argsort(-scores, kind="stable"):
        unit, hit = candidates[int(index)]
        if unit in seen:
            continue
        seen.add(unit)
        chosen.append(Passage(len(chosen) + 1, unit, hit, float(scores[index])))
        if len(chosen) == n:
            break
    return chosen


def _in_context(unit: str, hit: Hit) -> str:
    heading = str(hit.metadata.get("heading_path", "")).split(">")[-1].strip()
    title = str(hit.metadata.get("title", ""))
    context = heading or title
    return f"{context}: {unit}" if context else unit
