"""Fast tests of the engine's logic: fusion, duplicates, filters, evidence, citations, prompts, and
the answer pipeline's gates with a scripted LLM (the real model is in test_answers.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.answer.answering import Answerer, _plausible_rewrite, _split_reasoning
from rag.answer.gates import unknown_names
from rag.answer.llm import BackendInfo
from rag.answer.passages import Passage, units
from rag.answer.prompts import ContextOverflow, PromptBuilder
from rag.answer.retrieval import Filters, collapse_duplicates, rrf_fuse, weighted_fuse
from rag.answer.verify import check_citations, cited_numbers, snap_to_passage, support
from rag.core.schema import Answer, Hit

pytestmark = pytest.mark.unit


def hit(chunk_id: str, score: float, text: str = "", source: str = "a.md", **meta: Any) -> Hit:
    return Hit(chunk_id, text or f"text of {chunk_id}", score, source, meta.pop("page", None), meta)


# --- fusion ---------------------------------------------------------------------------------
def test_weighted_fusion_keeps_the_dense_order_at_weight_one() -> None:
    dense = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.1)]
    keyword = [hit("c", 12.0), hit("d", 3.0)]
    assert [h.chunk_id for h in weighted_fuse(dense, keyword, 1.0)][:3] == ["a", "b", "c"]
    assert [h.chunk_id for h in weighted_fuse(dense, keyword, 0.0)][:2] == ["c", "d"]


def test_weighted_fusion_lifts_a_chunk_both_lists_agree_on() -> None:
    dense = [hit("a", 0.80), hit("b", 0.79), hit("c", 0.50)]
    keyword = [hit("b", 9.0), hit("c", 1.0)]
    fused = weighted_fuse(dense, keyword, 0.7)
    assert fused[0].chunk_id == "b"
    assert fused[0].metadata["keyword_score"] == 9.0


def test_max_normalisation_keeps_a_flat_list_from_overruling_a_sharp_one() -> None:
    # an embedder that does not know the language: its scores hardly differ
    dense = [hit("noise-1", 0.31), hit("noise-2", 0.30), hit("gold", 0.29)]
    keyword = [hit("gold", 14.0), hit("noise-2", 2.0)]
    assert weighted_fuse(dense, keyword, 0.6, "max")[0].chunk_id == "gold"
    assert weighted_fuse(dense, keyword, 0.6, "minmax")[0].chunk_id == "noise-1"  # stretched noise wins


def test_rrf_counts_ranks_only() -> None:
    fused = rrf_fuse([hit("a", 0.9), hit("b", 0.1)], [hit("b", 5.0), hit("a", 4.9)])
    assert fused[0].score == pytest.approx(fused[1].score)


def test_near_duplicates_collapse_to_the_better_hit() -> None:
    text = "Backups are retained for 35 days and tested every quarter"
    hits = [hit("a", 0.9, text), hit("b", 0.8, text + "."), hit("c", 0.7, "Something else entirely")]
    assert [h.chunk_id for h in collapse_duplicates(hits, 0.9)] == ["a", "c"]


def test_filters_match_globs_lists_and_types() -> None:
    assert Filters(sources="policies/*.pdf").matches("policies/it.pdf")
    assert not Filters(sources="policies/*.pdf").matches("hr/leave.pdf")
    assert Filters(sources=["hr/leave.pdf"]).matches("hr/leave.pdf")
    assert Filters(file_types=["pdf"]).matches("x/y.PDF")
    assert not Filters(file_types=[".docx"]).matches("x/y.pdf")


# --- evidence -------------------------------------------------------------------------------
def test_units_spell_table_rows_out_with_their_header() -> None:
    table = "Sheet: Limits\nCategory | Limit\nHotel in London | £180 per night\nTaxi | Actual cost"
    found = units(hit("t", 1.0, table, heading_path="Sheet: Limits", element_type="table"))
    assert found == ["Category: Hotel in London; Limit: £180 per night", "Category: Taxi; Limit: Actual cost"]


def test_a_bar_in_prose_is_not_a_table_row() -> None:
    """Only a chunk the chunker marked as a table (typed metadata) has rows."""
    prose = "Choose one of the plans below.\nGold plan | Silver plan cover dental care for every employee."
    found = units(hit("t", 1.0, prose, element_type="text"))
    assert "Gold plan | Silver plan cover dental care for every employee." in found
    assert not any(unit.startswith("Gold plan: ") for unit in found)


def test_units_split_sentences_and_skip_headings() -> None:
    text = "Backups\nServers are backed up every night. Backups are retained for 35 days."
    found = units(hit("b", 1.0, text, heading_path="Incidents > Backups"))
    assert found == ["Servers are backed up every night.", "Backups are retained for 35 days."]


def test_support_needs_every_number_and_most_words() -> None:
    passage = "Passwords must be at least 14 characters long."
    assert support("14 characters [1]", passage) == 1.0
    assert support("12 characters", passage) == 0.0
    assert support("The passwords are 14 characters", passage, "How long are passwords?") == 1.0
    assert support("unicorns", passage) == 0.0


def test_snap_completes_a_code_cut_short() -> None:
    assert snap_to_passage("4012 [1]", "the client shows error code SEC-4012; call") == "SEC-4012 [1]"
    assert snap_to_passage("35 days", "kept for 35 days") == "35 days"


def test_unknown_names_are_the_capitalised_words_no_hit_contains() -> None:
    hits = [hit("a", 1.0, "Chief Financial Officer: Ingrid Solberg. Leave is 27 days.")]
    assert unknown_names("How many days do contractors in Brazil get?", hits) == ["Brazil"]
    assert unknown_names("Who is the Chief Financial Officer?", hits) == []


# --- citations ------------------------------------------------------------------------------
def passages() -> list[Passage]:
    return [
        Passage(1, "Backups are retained for 35 days.", hit("b", 0.9, page=4, source="it.pdf"), 0.8),
        Passage(2, "Laptops lock after 5 minutes.", hit("l", 0.7, page=2, source="it.pdf"), 0.5),
    ]


def test_citations_parse_and_verify() -> None:
    assert cited_numbers("a [2] b [1] c [2]") == [2, 1]
    checked = check_citations("35 days [1]", passages(), "How long are backups kept?")
    assert checked.supported and checked.citations[0].page == 4 and checked.citations[0].supported


def test_a_wrong_citation_is_replaced_by_the_supporting_passage() -> None:
    checked = check_citations("35 days [2]", passages(), "How long are backups kept?")
    assert checked.supported and checked.text == "35 days [1]"
    assert [c.number for c in checked.citations] == [1]


def test_an_answer_without_citation_gets_one_and_unsupported_is_refused() -> None:
    assert check_citations("35 days", passages(), "q").text == "35 days [1]"
    assert not check_citations("90 days [1]", passages(), "q").supported
    assert check_citations("I don't know.", passages(), "q").model_refused


# --- prompts --------------------------------------------------------------------------------
def test_prompt_drops_passages_to_fit_the_window(make_settings: Any) -> None:
    words = lambda text: len(text.split())  # noqa: E731 - a stand-in tokenizer
    many = [Passage(i, "word " * 40, hit(str(i), 1.0), 1.0) for i in range(1, 9)]
    builder = PromptBuilder(make_settings(n_ctx=400), words)
    prompt = builder.build("few_shot", "How long?", many, max_tokens=64)
    assert words(prompt.text) <= 400 - 64
    assert 1 <= len(prompt.passages) < 8
    assert "[1]" in prompt.text and prompt.text.rstrip().endswith("Answer:")
    with pytest.raises(ContextOverflow):
        PromptBuilder(make_settings(n_ctx=256), words).build("few_shot", "q", many, max_tokens=200)


def test_templates_can_be_replaced_from_a_folder(make_settings: Any, tmp_path: Path) -> None:
    (tmp_path / "few_shot.jinja").write_text(
        "MINE {{ question }}{% for p in passages %} [{{ p.number }}]{% endfor %}"
    )
    builder = PromptBuilder(make_settings(templates_dir=tmp_path), lambda t: len(t))
    assert builder.build("few_shot", "q?", passages(), 10).text == "MINE q? [1] [2]"
    assert "Reasoning:" in builder.build("cot", "q?", passages(), 10).text  # falls back to built-in


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


# --- the pipeline with a scripted model -----------------------------------------------------
class ScriptedLLM:
    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.prompts: list[str] = []
        self.info = BackendInfo(mode="local", model="scripted")

    def complete(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        words = self.replies.pop(0).split(" ")
        yield from [words[0], *(f" {w}" for w in words[1:])]

    def chat(self, messages: list[dict[str, str]], **options: Any) -> Iterator[str]:
        return self.complete(messages[-1]["content"], **options)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class BagOfWordsEmbedder:
    """Deterministic stand-in: hashed word counts, unit length."""

    max_tokens = 256
    tokenizer = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", "").split():
                out[row, hash(word) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class FixedRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int | None = None, **_: Any) -> list[Hit]:
        return self.hits


def answerer(
    make_settings: Any, replies: list[str], hits: list[Hit], **settings: Any
) -> tuple[Answerer, ScriptedLLM]:
    llm = ScriptedLLM(replies)
    settings.setdefault("min_confidence", 0.0)  # these test the cascade; the calibrated refusal below
    return Answerer(make_settings(**settings), FixedRetriever(hits), BagOfWordsEmbedder(), llm), llm  # type: ignore[arg-type]


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


def test_weak_evidence_is_refused_without_asking_the_model(make_settings: Any) -> None:
    engine, llm = answerer(make_settings, [], BACKUP_HITS, min_evidence=0.99)
    answer = engine.ask("What is the stock ticker?")
    assert answer.refused and "weak evidence" in answer.refusal_reason and not llm.prompts


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
