"""The answer pipeline with the shipped fakes (FakeLLM, HashEmbedder): the cascade, gates, history,
reasoning, calibrated refusal (the real model is in test_answering_real_model.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.answer.answering import Answerer, _plausible_rewrite, _split_reasoning
from rag.answer.fake import FakeLLM
from rag.core.schema import Answer, Hit
from rag.index.fake import HashEmbedder
from tests.helpers.hits import hit

pytestmark = pytest.mark.unit


def test_reasoning_is_split_from_the_final_answer() -> None:
    assert _split_reasoning("[1] says 35.\nFinal answer: 35 days [1]", "Final answer:") == (
        "[1] says 35.",
        "35 days [1]",
    )
    assert _split_reasoning("35 days [1]", None) == ("", "35 days [1]")


def test_rewrites_must_be_questions_about_the_conversation() -> None:
    assert _plausible_rewrite(
        "When does the Leeds office move?", "When does it move?", "Where will the Leeds office move?"
    )
    assert not _plausible_rewrite(
        "And when are they run?", "And when are they run?", "How long are backups kept?"
    )
    assert not _plausible_rewrite("", "q", "p")


class FixedRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int | None = None, **_: Any) -> list[Hit]:
        return self.hits


def answerer(
    make_settings: Any, replies: list[str], hits: list[Hit], **settings: Any
) -> tuple[Answerer, FakeLLM]:
    llm = FakeLLM(replies)
    settings.setdefault("min_confidence", 0.0)  # these test the cascade; the calibrated refusal below
    return Answerer(make_settings(**settings), FixedRetriever(hits), HashEmbedder(), llm), llm  # type: ignore[arg-type]


BACKUP_HITS = [
    hit("b", 0.9, "Backups are retained for 35 days.", source="it.pdf", page=4),
    hit("l", 0.6, "Laptops lock after 5 minutes of inactivity.", source="it.pdf", page=2),
]


def test_first_try_sees_only_the_best_passage_then_all(make_settings: Any) -> None:
    engine, llm = answerer(make_settings, ["90 days [1]", "35 days [1]"], BACKUP_HITS, min_evidence=0.0)
    answer = engine.ask("How long are backups retained?")
    assert answer.text == "35 days [1]" and not answer.refused
    assert "Laptops" not in llm.prompts[0].split("Passages:")[-1]
    assert "Laptops" in llm.prompts[1]


def test_unsupported_twice_is_a_refusal_with_closest_sources(make_settings: Any) -> None:
    engine, _ = answerer(make_settings, ["90 days [1]", "I don't know."], BACKUP_HITS, min_evidence=0.0)
    answer = engine.ask("How long are backups retained?")
    assert answer.refused and "not supported" in answer.refusal_reason
    assert answer.citations and not answer.citations[0].supported


def test_stream_yields_pieces_then_the_answer(make_settings: Any) -> None:
    engine, _ = answerer(make_settings, ["35 days [1]"], BACKUP_HITS, min_evidence=0.0)
    pieces = list(engine.stream("How long are backups retained?"))
    assert pieces[:-1] == ["35", " days", " [1]"] and isinstance(pieces[-1], Answer)


def test_history_falls_back_to_the_previous_question_for_retrieval(make_settings: Any) -> None:
    engine, _ = answerer(make_settings, ["garbage", "35 days [1]"], BACKUP_HITS, min_evidence=0.0)
    answer = engine.ask("And for how long?", history=[("How long are backups retained?", "35 days [1]")])
    assert answer.standalone_question == "How long are backups retained? And for how long?"


def test_a_question_with_its_own_subject_ignores_history(make_settings: Any) -> None:
    engine, llm = answerer(make_settings, ["35 days [1]"], BACKUP_HITS, min_evidence=0.0)
    answer = engine.ask("How long are backups retained?", history=[("Who is the CFO?", "Ingrid Solberg [1]")])
    assert answer.standalone_question == "How long are backups retained?"
    assert len(llm.prompts) == 1  # no rewrite was asked for


@pytest.mark.parametrize(
    ("question", "dependent"),
    [
        ("And elsewhere in the UK?", True),
        ("Who approves it?", True),
        ("What about Rotterdam?", True),
        ("Who is the CTO?", True),
        ("What is the permit code for visitors?", False),
        ("How long are backups retained?", False),
    ],
)
def test_follow_ups_are_told_from_new_questions(question: str, dependent: bool) -> None:
    from rag.answer.answering import depends_on_history

    assert depends_on_history(question) is dependent


def test_a_candidate_below_the_fitted_confidence_is_refused(make_settings: Any, tmp_path: Path) -> None:
    from rag.answer.refusal import RefusalModel, backend_key

    folder = tmp_path / "fits"
    # a fit that trusts answers only from passages scoring above 0.95
    model = RefusalModel(
        features=["passage_score"], mean=[0.0], scale=[1.0], coef=[40.0], intercept=-38.0, threshold=0.5
    )
    settings = make_settings(refusal_dir=folder, min_evidence=0.0)
    model.save(folder / f"refusal.{backend_key(settings)}.free.json")
    engine, _ = answerer(make_settings, ["35 days [1]"], BACKUP_HITS, refusal_dir=folder, min_confidence=None)
    answer = engine.ask("How long are backups retained?")
    assert answer.refused and "low confidence" in answer.refusal_reason, answer
    assert answer.confidence is not None and answer.confidence < 0.5 and answer.threshold == 0.5
    assert answer.signals["passage_score"] > 0 and answer.raw_output == "35 days [1]"
    # the same answer with the threshold set lower in settings is given, with its confidence
    engine, _ = answerer(make_settings, ["35 days [1]"], BACKUP_HITS, refusal_dir=folder, min_confidence=1e-9)
    answer = engine.ask("How long are backups retained?")
    assert not answer.refused and answer.confidence is not None and answer.threshold == 1e-9


def test_weak_evidence_is_refused_without_asking_the_model(make_settings: Any) -> None:
    engine, llm = answerer(make_settings, [], BACKUP_HITS, min_evidence=0.99)
    answer = engine.ask("What is the stock ticker?")
    assert answer.refused and "weak evidence" in answer.refusal_reason and not llm.prompts
