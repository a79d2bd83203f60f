"""Extractive decoding: the model may only copy a span of a shown passage, or say it does not know.

A 270M base model answers well when it copies and badly when it writes: left free, it echoes the
question, names a neighbouring entity or makes a number up. :class:`SpanConstraint` is a llama.cpp
logits processor that, at every step, keeps only the tokens that continue some verbatim span of
the passages (tokenized as the prompt shows them), or the refusal phrase. A span starts and ends at
word boundaries (any character of Chinese or Japanese is one), and may end only once it holds a
word the question does not: a span that merely restates the question cannot be the answer. When
the span ends, the model's own preference decides (a newline, the `` [`` of a citation, or the end
of text), and generation stops.

Besides the text, the constraint records what the refusal decision needs: the mean log-probability
of the span's tokens under the unconstrained model, the share of probability the model gave to the
allowed tokens, and the probability of the refusal phrase at the first step.

Example::

    constraint = SpanConstraint(["Backups are kept for 35 days."], "I don't know.", question)
    text = "".join(llm.complete(prompt, max_tokens=32, spans=constraint))
    extraction = constraint.result(text)   # Extraction(text="35 days", source=0, start=21, end=28, ...)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.core.text import UNSPACED, content_words, words

REFUSAL = "I don't know."
_LOOSE = ",;:，。、；：（）()《》“”「」"  # punctuation a copied span does not start or end with


@dataclass(slots=True)
class Extraction:
    """The span the model copied: its text, which source it is from and where (character offsets
    into that source), or ``refused``; and the model's confidence signals."""

    text: str
    source: int | None = None
    start: int = -1
    end: int = -1
    refused: bool = False
    mean_logprob: float = 0.0  # of the span's tokens, unconstrained
    allowed_mass: float = 1.0  # geometric mean of the probability share of allowed tokens
    refusal_prob: float = 0.0  # probability of the refusal phrase's first token at the first step


@dataclass(slots=True)
class _Source:
    tokens: list[int]
    starts: list[bool]  # a span may start at this token
    ends: list[bool]  # a span may end after this token


@dataclass
class SpanConstraint:
    """A logits processor keeping the generation inside the passages (see the module docstring).

    Bind it to a tokenizer with :meth:`bind` (the llama.cpp adapter does) before generating.
    """

    sources: Sequence[str]
    question: str
    refusal: str = REFUSAL
    _sources: list[_Source] = field(default_factory=list)
    _start: int | None = None
    _end_tokens: frozenset[int] = frozenset()
    _eos: int = -1
    _space: int | None = None
    _refusal_first: int | None = None
    _logprobs: list[float] = field(default_factory=list)
    _masses: list[float] = field(default_factory=list)
    _pending: np.ndarray | None = None  # log-softmax of the last step, to read the chosen token's
    _closed: bool = False
    _refusal_prob: float = 0.0
    _piece: Callable[[int], bytes] | None = None
    _asked: frozenset[str] = frozenset()
    _error: Exception | None = None

    def bind(
        self,
        tokenize: Callable[[str], list[int]],
        piece: Callable[[int], bytes],
        eos: int,
        end_texts: Sequence[str] = ("\n", " ["),
    ) -> SpanConstraint:
        """Tokenize the sources (each as the prompt shows it: after a space) with the model's own
        tokenizer; ``end_texts`` are the tokens that may close a span."""
        self._piece = piece
        self._eos = eos
        space = tokenize(" ")
        self._space = space[0] if len(space) == 1 else None
        ends = {t for text in end_texts for t in tokenize(text)[:1]} - {self._space}
        self._end_tokens = frozenset(ends | {eos})
        self._asked = frozenset(words(self.question))
        self._sources = [self._source(tokenize(" " + text), refusal=False) for text in self.sources]
        refusal = tokenize(" " + self.refusal)
        self._refusal_first = refusal[0] if refusal else None
        # with and without its space: a tokenizer may read " I" as " " + "I"
        self._sources.append(self._source(refusal, refusal=True))
        self._sources.append(self._source(tokenize(self.refusal), refusal=True))
        return self

    def _source(self, tokens: list[int], refusal: bool) -> _Source:
        assert self._piece is not None
        pieces = [self._piece(t) for t in tokens]
        whole = b"".join(pieces)
        text = whole.decode("utf-8", errors="replace")
        offsets, at = [], 0  # character offset where each token starts
        for piece in pieces:
            offsets.append(len(whole[:at].decode("utf-8", errors="ignore")))
            at += len(piece)
        offsets.append(len(text))
        if refusal:
            starts = [i == 0 for i in range(len(tokens))]
            ends = [i == len(tokens) - 1 for i in range(len(tokens))]
        else:
            starts = [_boundary(text, offsets[i], strict=False) for i in range(len(tokens))]
            ends = [_boundary(text, offsets[i + 1], strict=False) for i in range(len(tokens))]
        return _Source(tokens, starts, ends)

    # --- the logits processor (llama-cpp-python calls it with the ids so far and the scores) ---

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        try:
            return self._process(input_ids, scores)
        except Exception as error:  # raised from C callbacks it would only be printed
            self._error = error
            self._closed = True
            out = np.full_like(np.asarray(scores), -np.inf)
            out[self._eos] = 0.0
            return out

    def _process(self, input_ids: Any, scores: Any) -> Any:
        if self._start is None:
            self._start = len(input_ids)
        generated = [int(t) for t in input_ids[self._start :]]
        logits = np.asarray(scores, dtype=np.float64)
        logsoftmax = logits - _logsumexp(logits)
        if self._pending is not None and generated:
            self._logprobs.append(float(self._pending[generated[-1]]))
        allowed = self._allowed(generated)
        if not allowed:
            allowed = {self._eos}
        index = np.fromiter(allowed, dtype=np.int64)
        mass = float(np.exp(logsoftmax[index]).sum())
        if not self._closed:
            self._masses.append(mass)
            self._pending = logsoftmax
            if not [t for t in generated if t != self._space] and self._refusal_first is not None:
                self._refusal_prob = float(np.exp(logsoftmax[self._refusal_first]) / max(mass, 1e-12))
        else:
            self._pending = None
        out = np.full_like(np.asarray(scores), -np.inf)
        out[index] = np.asarray(scores)[index]
        return out

    def _allowed(self, generated: list[int]) -> set[int]:
        if self._closed or (generated and generated[-1] in self._end_tokens):
            self._closed = True
            return {self._eos}
        span = generated
        if span and span[0] == self._space:
            span = span[1:]
        allowed: set[int] = set()
        if not generated and self._space is not None:
            allowed.add(self._space)  # " 72" may be read as " " + "72" where the source has "72"
        can_end = False
        for number, source in enumerate(self._sources):
            tokens = source.tokens
            is_refusal = number >= len(self.sources)
            for start in range(len(tokens) - max(len(span), 1) + 1):
                if not source.starts[start] or tokens[start : start + len(span)] != span:
                    continue
                following = start + len(span)
                if following < len(tokens):
                    allowed.add(tokens[following])
                if span and source.ends[following - 1]:
                    can_end = can_end or is_refusal or self._novel(span)
        if can_end:
            allowed |= self._end_tokens
        return allowed

    def _novel(self, span: list[int]) -> bool:
        """Whether the span holds a word the question does not (an echo is not an answer)."""
        assert self._piece is not None
        text = b"".join(self._piece(t) for t in span).decode("utf-8", errors="replace")
        return any(w not in self._asked for w in content_words(text))

    def outcome(self) -> dict[str, Any]:
        """What :meth:`result` reads from a generation, as plain values (a child process that ran
        the generation sends it back; see :mod:`rag.answer.isolated`)."""
        return {
            "logprobs": list(self._logprobs),
            "masses": list(self._masses),
            "refusal_prob": self._refusal_prob,
            "error": None if self._error is None else repr(self._error),
        }

    def adopt(self, outcome: dict[str, Any]) -> None:
        """Take over the :meth:`outcome` of the same constraint run elsewhere."""
        self._logprobs = list(outcome["logprobs"])
        self._masses = list(outcome["masses"])
        self._refusal_prob = float(outcome["refusal_prob"])
        self._error = None if outcome["error"] is None else RuntimeError(outcome["error"])

    def result(self, text: str) -> Extraction:
        """Where ``text`` (what was generated) is found in the sources, with the signals."""
        if self._error is not None:
            raise RuntimeError(f"extractive decoding failed: {self._error!r}") from self._error
        span = text.strip()
        for marker in (" [", "["):
            if marker in span:
                span = span.split(marker)[0].strip()
        span = span.strip(_LOOSE).strip()
        signals: dict[str, Any] = {
            "mean_logprob": sum(self._logprobs) / len(self._logprobs) if self._logprobs else -20.0,
            "allowed_mass": math.exp(sum(math.log(max(m, 1e-12)) for m in self._masses) / len(self._masses))
            if self._masses
            else 0.0,
            "refusal_prob": self._refusal_prob,
        }
        if not span or span.rstrip(".").casefold() == self.refusal.rstrip(".").casefold():
            return Extraction(self.refusal, refused=True, **signals)
        return locate(span, self.sources, **signals)


def locate(span: str, sources: Sequence[str], **signals: Any) -> Extraction:
    """``span`` with the first source holding it verbatim (and where), widened to whole compound
    words ("4012" -> "SEC-4012"); with no source when none holds it."""
    for number, source in enumerate(sources):
        start = source.find(span)
        if start < 0:
            continue
        end = start + len(span)
        while start > 0 and not _boundary(source, start):
            start -= 1
        while end < len(source) and not _boundary(source, end):
            end += 1
        return Extraction(source[start:end], number, start, end, **signals)
    return Extraction(span, **signals)


_JOINERS = "-./:_'’,"  # inside "SEC-4012", "1.0", "18:00", "a/b", "1,200": one word


def _boundary(text: str, at: int, strict: bool = True) -> bool:
    """Whether a span may start (or end) at character ``at`` of ``text``: next to a space or
    punctuation, or a Chinese/Japanese character; never inside a word. ``strict``: nor inside a
    compound such as ``SEC-4012``, ``1.0`` or ``18:00``. Decoding is not strict (a small model
    often starts a code at its digits); the span is then widened to strict boundaries, so the
    answer is "SEC-4012", never a part the source does not say on its own."""
    if at <= 0 or at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    if before.isspace() or after.isspace():
        return True
    if UNSPACED.match(before) or UNSPACED.match(after):
        return True
    if before.isalnum() and after.isalnum():
        return False
    if not strict:
        return True
    if before in _JOINERS and after.isalnum() and at >= 2 and text[at - 2].isalnum():
        return False
    return not (after in _JOINERS and before.isalnum() and at + 1 < len(text) and text[at + 1].isalnum())


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - top).sum()))
