"""From a question to a checked, cited answer or an honest refusal, in the order it runs.

1. A follow-up is rewritten into a standalone question with the chat history (``condense``), and
   embedded once: retrieval and passage selection share the vector.
2. Retrieval (:mod:`rag.answer.retrieval`) finds chunks; selection (:mod:`rag.answer.passages`)
   turns their best sentences or table rows into the passages [1]..[n].
3. Gates (:mod:`rag.answer.gates`: nothing found, names, ``min_evidence``) refuse without asking
   the model.
4. Generation: the model answers from the passages (tokens stream as they come). With ``few_shot``
   on the local model it copies a verbatim span (:mod:`rag.answer.extractive`); otherwise it writes
   freely. The model first sees only the best passage (a small model misreads two far more often
   than one); if it does not know, or writes something that passage does not support, it gets all
   n passages once more.
5. Verification (:mod:`rag.answer.verify`): the answer's words and numbers are checked against the
   passages and its ``[n]`` citations resolved; then the calibrated refusal model
   (:mod:`rag.answer.refusal`) estimates the chance the answer is right from measured signals, and
   below the fitted operating point (or ``min_confidence``) the answer is refused.

Example::

    answerer = Answerer(settings, retriever, embedder, llm)
    for piece in answerer.stream("How long are backups kept?"):
        print(piece if isinstance(piece, str) else piece.citations)
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rag.answer.extractive import Extraction, SpanConstraint
from rag.answer.gates import first_refusal
from rag.answer.llm import LLM
from rag.answer.passages import Passage, select_passages
from rag.answer.prompts import STYLES, Prompt, PromptBuilder
from rag.answer.refusal import RefusalModel, find_refusal_model, measure
from rag.answer.retrieval import Filters, Retriever
from rag.answer.verify import CITATION, CheckedAnswer, check_citations, support, to_citation
from rag.core.access import User
from rag.core.schema import Answer, Hit
from rag.core.settings import DECODINGS, TEMPLATES, Settings
from rag.core.text import content_words
from rag.index.embeddings import CachedEmbedder, Embedder

HistoryTurn = Mapping[str, str] | tuple[str, str]


@dataclass(slots=True)
class _Attempt:
    prompt: Prompt
    output: str
    first_token: float | None
    tokens: int
    extraction: Extraction | None = None


class Answerer:
    """The answering pipeline; :class:`rag.Assistant` is its public face.

    Example::

        answer = Answerer(settings, retriever, embedder, llm).ask("Who approves expenses over £2,000?")
    """

    def __init__(self, settings: Settings, retriever: Retriever, embedder: Embedder, llm: LLM) -> None:
        self.settings = settings
        self.retriever = retriever
        self.embedder = embedder
        self.vectors = CachedEmbedder(embedder)  # questions and passage candidates, each embedded once
        self.llm = llm
        self.prompts = PromptBuilder(settings, llm.count_tokens)
        self._refusal_models: dict[str, RefusalModel | None] = {}

    def ask(self, question: str, **options: Any) -> Answer:
        return final_answer(self.stream(question, **options))

    def stream(
        self,
        question: str,
        *,
        template: str | None = None,
        history: Sequence[HistoryTurn] | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        temperature: float | None = None,
        decoding: str | None = None,
        user: User | None = None,
    ) -> Iterator[str | Answer]:
        """Text pieces of the answer as the model writes them, then the checked :class:`Answer`.

        ``template``, ``k``, ``temperature`` and ``decoding`` override the settings for this call;
        ``user`` limits everything the answer is made of (hits, passages, citations, the closest
        sources of a refusal) to what they may read."""
        started = time.perf_counter()
        name = template or self.settings.template
        if name not in TEMPLATES:
            raise ValueError(f"unknown template {name!r}: choose {', '.join(TEMPLATES)}")
        if decoding is not None and decoding not in DECODINGS:
            raise ValueError(f"unknown decoding {decoding!r}: choose {', '.join(DECODINGS)}")
        heat = self.settings.temperature if temperature is None else temperature
        question = " ".join(question.split())
        if not question:
            raise ValueError("the question is empty")
        standalone = self.condense(question, history or [])
        vector = self.vectors.embed([standalone])[0]  # once: retrieval and passage selection
        hits = self.retriever.search(standalone, k, filters=filters, vector=vector, user=user)
        answer = Answer(text="", hits=hits, question=question, standalone_question=standalone, template=name)
        passages = select_passages(standalone, hits, self.vectors, self.settings.context_passages, vector)
        reason = first_refusal(self.settings, standalone, hits, passages)
        if reason is not None:
            yield self._refuse(answer, passages, reason, started)
            return
        tries = [passages[:1]] if len(passages) == 1 else [passages[:1], passages]
        extractive = self.extractive(name, decoding or self.settings.decoding)
        reasons = []
        for attempt_number, shown in enumerate(tries):
            attempt = yield from self._generate(
                name, standalone, shown, heat, stream=attempt_number == 0, extractive=extractive
            )
            reasoning, final_text = _split_reasoning(attempt.output, attempt.prompt.style.reasoning_marker)
            if attempt.extraction is not None:
                checked = _extracted(attempt.extraction, attempt.prompt.passages)
            else:
                checked = check_citations(final_text, attempt.prompt.passages, standalone)
            answer.raw_output = attempt.output
            answer.passages = [to_citation(p, supported=False) for p in attempt.prompt.passages]
            answer.reasoning = reasoning
            answer.generated_tokens += attempt.tokens
            if answer.first_token_seconds is None and attempt.first_token is not None:
                answer.first_token_seconds = attempt.first_token - started
            if checked.supported:
                low = self._judge(answer, checked, attempt, standalone, hits)
                if low is not None:
                    yield self._refuse(answer, passages, low, started)
                    return
                yield self._accept(answer, checked, started)
                return
            reasons.append(
                "the model said it does not know"
                if checked.model_refused
                else "answer not supported by any passage"
            )
        yield self._refuse(answer, passages, "; then ".join(reasons), started)

    def _judge(
        self, answer: Answer, checked: CheckedAnswer, attempt: _Attempt, question: str, hits: list[Hit]
    ) -> str | None:
        """Measure the answer's signals and its estimated chance of being right; the reason to
        refuse when that is below ``min_confidence`` (None: answer)."""
        bare = " ".join(CITATION.sub(" ", checked.text).split())
        supported = [c for c in checked.citations if c.supported]
        anchor = supported[0].quote if supported else ""
        extra = _signals(attempt.extraction) if attempt.extraction is not None else {}
        answer.signals = measure(
            question, hits, attempt.prompt.passages, bare, support(bare, anchor, question), extra
        )
        model = self.refusal_model(attempt.extraction is not None)
        if model is None:
            return None
        answer.confidence = model.confidence(answer.signals)
        floor = model.threshold if self.settings.min_confidence is None else self.settings.min_confidence
        answer.threshold = floor
        if answer.confidence < floor:
            return f"low confidence: estimated chance of a right answer {answer.confidence:.2f} < {floor}"
        return None

    def refusal_model(self, extractive: bool) -> RefusalModel | None:
        """The fitted refusal model for this backend and decoding (see :mod:`rag.answer.refusal`)."""
        decoding = "extractive" if extractive else "free"
        if decoding not in self._refusal_models:
            self._refusal_models[decoding] = find_refusal_model(self.settings, self.llm.info, decoding)
        return self._refusal_models[decoding]

    def extractive(self, template: str, decoding: str | None = None) -> bool:
        """Whether answers of ``template`` are decoded as verbatim spans (``decoding``, by default
        ``settings.decoding``)."""
        decoding = decoding or self.settings.decoding
        if template != "few_shot" or decoding == "free":
            return False
        if decoding == "extractive" and not self.llm.info.span_decoding:
            raise ValueError(
                f"decoding: extractive needs a backend that constrains decoding (llm_mode: local); "
                f"{self.llm.info.mode} cannot: set decoding to auto or free"
            )
        return self.llm.info.span_decoding

    def _generate(
        self,
        name: str,
        question: str,
        passages: list[Passage],
        temperature: float,
        stream: bool,
        extractive: bool = False,
    ) -> Generator[str, None, _Attempt]:
        prompt = self.prompts.build(name, question, passages, self.settings.max_tokens)
        spans = SpanConstraint([p.text for p in prompt.passages], question) if extractive else None
        pieces: list[str] = []
        first = None
        for piece in self._run(prompt, temperature, spans):
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
            if stream and (spans is None or piece.strip() not in ("[", "")):
                yield piece  # a copied span streams as it is copied (the citation marker is ours)
        output = "".join(pieces).strip()
        extraction = spans.result(output) if spans is not None else None
        return _Attempt(prompt, output, first, len(pieces), extraction)

    def _run(self, prompt: Prompt, temperature: float, spans: SpanConstraint | None = None) -> Iterator[str]:
        tokens, stop = prompt.max_tokens, prompt.style.stop
        if self._use_chat(prompt):
            messages = [{"role": "user", "content": prompt.text}]
            return self.llm.chat(messages, max_tokens=tokens, stop=stop, temperature=temperature)
        if spans is not None:
            return self.llm.complete(prompt.text, max_tokens=tokens, temperature=temperature, spans=spans)
        return self.llm.complete(prompt.text, max_tokens=tokens, stop=stop, temperature=temperature)

    def _use_chat(self, prompt: Prompt) -> bool:
        if prompt.style.completion_only or self.settings.llm_chat == "completion":
            return False
        if self.settings.llm_chat == "chat":
            return True
        return self.llm.info.chat_template or self.llm.info.mode == "openai"

    def condense(self, question: str, history: Sequence[HistoryTurn]) -> str:
        """The follow-up as a standalone question (itself when there is no history)."""
        turns = _turns(history)[-4:]
        asked = [t["content"] for t in turns if t["role"] == "user"]
        if not asked or not depends_on_history(question):
            return question
        text = self.prompts.render("condense", history=turns, question=question)
        style = STYLES["condense"]
        rewritten = "".join(self.llm.complete(text, max_tokens=48, stop=style.stop, temperature=0.0)).strip()
        if _plausible_rewrite(rewritten, question, asked[-1]):
            return rewritten
        return f"{asked[-1]} {question}"  # the previous question gives the follow-up its subject

    def _accept(self, answer: Answer, checked: CheckedAnswer, started: float) -> Answer:
        answer.text = checked.text
        answer.citations = checked.citations
        answer.seconds = time.perf_counter() - started
        return answer

    def _refuse(self, answer: Answer, passages: list[Passage], reason: str, started: float) -> Answer:
        answer.text = self.settings.refusal_text
        answer.refused = True
        answer.refusal_reason = reason
        answer.citations = [to_citation(p, supported=False) for p in passages[:3]]
        answer.seconds = time.perf_counter() - started
        return answer


def _extracted(extraction: Extraction, passages: list[Passage]) -> CheckedAnswer:
    """A copied span as a checked answer: cited to the passage it was copied from."""
    if extraction.refused or extraction.source is None:
        return CheckedAnswer(extraction.text, model_refused=extraction.refused)
    passage = passages[extraction.source]
    citation = to_citation(passage, True, extraction.text)
    return CheckedAnswer(f"{extraction.text} [{passage.number}]", [citation], supported=True)


def _signals(extraction: Extraction) -> dict[str, float]:
    return {
        "mean_logprob": extraction.mean_logprob,
        "allowed_mass": extraction.allowed_mass,
        "refusal_prob": extraction.refusal_prob,
    }


def final_answer(pieces: Iterable[str | Answer]) -> Answer:
    """Run a stream to its end and return the :class:`Answer` it finishes with."""
    final = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return final


def _turns(history: Sequence[HistoryTurn]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for turn in history:
        if isinstance(turn, tuple):
            question, reply = turn
            turns += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        else:
            turns.append({"role": str(turn.get("role", "user")), "content": str(turn.get("content", ""))})
    return [t for t in turns if t["content"].strip()]


DEPENDENT = re.compile(
    r"^\s*(?:and|or|but|also|so|then|what about|how about)\b"
    r"|\b(?:it|its|they|them|their|that|this|those|these|he|him|his|she|her|there|same|else|elsewhere|too)\b",
    re.IGNORECASE,
)


def depends_on_history(question: str) -> bool:
    """Whether a question leans on the conversation ("And in Rotterdam?", "Who approves it?").

    A question that names its own subject is answered as it is: gluing the previous question to it
    would pull retrieval back to the old topic.
    """
    return bool(DEPENDENT.search(question)) or len(content_words(question)) <= 1


def _plausible_rewrite(rewritten: str, question: str, previous: str) -> bool:
    """A small model's rewrite is used only if it is a question about the conversation's words."""
    if not rewritten or len(rewritten) > 3 * len(question) + 120 or "?" not in rewritten:
        return False
    words = set(content_words(rewritten))
    return bool(words & set(content_words(previous))) and bool(words & set(content_words(question)))


def _split_reasoning(output: str, marker: str | None) -> tuple[str, str]:
    if marker is None:
        return "", output.strip()
    head, found, tail = output.rpartition(marker)
    if not found:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        return "\n".join(lines[:-1]), lines[-1] if lines else ""
    return head.strip(), tail.strip()
