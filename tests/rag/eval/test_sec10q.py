"""sec10q-dev in `make eval`: its scoring rule (figures normalised, no match inside a longer number),
page ranks and cited pages, the pipelines table, the set skipped when its folder is absent, and
the LangChain tutorial pipeline (its answer logic on a scripted model; its retrieval on a small
generated PDF with the real embedder)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.answer.fake import FakeLLM
from rag.core.schema import Answer, Citation, Hit
from rag.eval.qa import (
    ItemResult,
    QAItem,
    contains_answer,
    contains_figure,
    load_qa,
    matcher,
    normalize_figures,
    on_gold_page,
    page_rank,
    score,
    summarize,
)
from rag.eval.report import pipeline_table
from rag.eval.tutorial import TUTORIAL, PageChunk, TutorialIndex, ask, cited_hit, first_line, fitted_prompt


def item(pages: tuple[int, ...] = (3, 31), answers: tuple[str, ...] = ("2,294", "2.294 billion")) -> QAItem:
    return QAItem("q", "What was R&D?", list(answers), ["2023 Q3 NVDA.pdf"], None, True, "sec10q", pages)


def hit(source: str, page: int | None, text: str = "") -> Hit:
    return Hit(f"{source}#{page}", text, 0.5, source, page)


@pytest.mark.unit
def test_figures_are_normalised_as_the_set_says() -> None:
    assert normalize_figures("$18.0 Billion") == "18 billion"
    assert normalize_figures("rate of 2.50%, up from 12.0%.") == "rate of 2.5 up from 12."
    assert normalize_figures("$ 36,413 and 100.00 and 2,000 [1]") == "36413 and 100 and 2000"
    assert normalize_figures("1.05 and 10.50 and 0.0") == "1.05 and 10.5 and 0"


@pytest.mark.unit
def test_a_number_key_never_matches_inside_a_longer_number() -> None:
    assert contains_figure("R&D was $2,294 million [1]", ["2,294"])
    assert contains_figure("R&D expenses (2294)", ["2,294"])
    for longer in ("12,294", "22,945", "2,294.5", "1.2294", "$12294 million"):
        assert not contains_figure(f"R&D was {longer}", ["2,294"]), longer
    assert contains_figure("buybacks of $18 billion", ["18.0 billion"])
    assert contains_figure("buybacks of $18.00 billion.", ["18.0 billion"])
    assert not contains_figure("buybacks of $18.5 billion", ["18.0 billion"])
    assert not contains_figure("about 17.7 billion", ["7.7 billion"])
    assert contains_figure("a rate of 12.5 percent", ["12.5%"]) and not contains_figure("12.55%", ["12.5%"])
    assert contains_figure("The Tower Semiconductor deal ended.", ["Tower Semiconductor"])
    assert not contains_figure("no figure here", ["", "2,294"])


@pytest.mark.unit
def test_each_set_is_scored_by_its_own_rule() -> None:
    assert matcher(item()) is contains_figure
    assert matcher(QAItem("a", "q", ["35 days"], ["x.pdf"], None, True, "pdf-page")) is contains_answer
    assert not contains_answer("$2,294 million", ["2294"])  # why sec10q-dev needs its rule


@pytest.mark.unit
def test_pages_are_read_from_pages_or_page(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "question": "q", "answers": ["1"], "source": "a.pdf", "pages": [4, 16]},
        {"id": "b", "question": "q", "answers": ["1"], "source": "a.pdf", "pages": []},
        {"id": "c", "question": "q", "answers": ["1"], "source": "a.pdf", "page": 7},
        {"id": "d", "question": "q", "answers": ["1"], "source": "a.md"},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [i.pages for i in load_qa(path)] == [(4, 16), (), (7,), ()]


@pytest.mark.unit
def test_a_retrieved_page_counts_on_a_gold_page_or_by_source_without_pages() -> None:
    gold = item()
    assert on_gold_page(gold, "2023 Q3 NVDA.pdf", 31) and not on_gold_page(gold, "2023 Q3 NVDA.pdf", 4)
    assert not on_gold_page(gold, "2023 Q2 NVDA.pdf", 3)  # the right page of another quarter
    ranked = [hit("2023 Q2 NVDA.pdf", 3), hit("2023 Q3 NVDA.pdf", 4), hit("2023 Q3 NVDA.pdf", 31)]
    assert page_rank(gold, ranked) == 3
    assert page_rank(item(pages=()), ranked) == 2  # pages []: the key is on many pages, the source counts
    assert page_rank(gold, ranked[:2]) is None


@pytest.mark.unit
def test_page_hits_and_cited_pages_are_summarised() -> None:
    def row(rank: int | None, correct: bool, cited: bool, refused: bool = False) -> ItemResult:
        return ItemResult(
            "i", "t", "q", True, "sec10q", "a", refused, correct, 0.0, rank, False, 0.5,
            cited_page_ok=cited, page_rank=rank,
        )  # fmt: skip

    rows = [
        row(1, True, True),
        row(3, True, False),
        row(None, False, False, refused=True),
        row(7, False, False),
    ]
    got = summarize({"t": rows}, k=5, page_ks=(1, 4, 10))["t"]
    assert (got["page_hit@1"], got["page_hit@4"], got["page_hit@10"]) == (0.25, 0.5, 0.75)
    assert got["cited_page_accuracy"] == 0.5  # of the two right answers, one cites a gold page
    assert got["refused"] == 0.25 and got["accuracy"] == 0.5
    assert "page_hit@1" not in summarize({"t": rows}, k=5)["t"]  # no deep retrieval, no page hits


@pytest.mark.unit
def test_the_cited_page_is_the_first_supported_citation() -> None:
    gold = item()
    closest = Citation(1, "2023 Q3 NVDA.pdf", 25, "a", "R&D 2,294", supported=False)
    leaned_on = Citation(2, "2023 Q3 NVDA.pdf", 31, "b", "Research and development 2,294")
    answer = Answer("$2,294 million [2]", citations=[closest, leaned_on], hits=[hit("2023 Q3 NVDA.pdf", 25)])
    ranked = [hit("2023 Q3 NVDA.pdf", 25), hit("2023 Q3 NVDA.pdf", 31)]
    got = score(gold, answer, "few_shot", ranked)
    assert got.correct and got.cited_page_ok and got.citation_ok and got.retrieval_rank == 1
    assert got.page_rank == 2 and got.retrieved == ["2023 Q3 NVDA.pdf, page 25", "2023 Q3 NVDA.pdf, page 31"]
    wrong_page = Answer("2,294 [1]", citations=[Citation(1, "2023 Q3 NVDA.pdf", 25, "a", "R&D 2,294")])
    assert not score(gold, wrong_page, "few_shot").cited_page_ok
    assert not score(gold, Answer("2,295 [2]", citations=[leaned_on]), "few_shot").cited_page_ok  # wrong


@pytest.mark.unit
def test_the_pipelines_table_names_ours_and_the_tutorial() -> None:
    row = {"page_hit@1": 0.5, "page_hit@4": 0.75, "page_hit@10": 1.0, "accuracy": 0.25,
           "cited_page_accuracy": 1.0, "refused": 0.125, "latency_p50": 2.5}  # fmt: skip
    table = pipeline_table({"few_shot": row, TUTORIAL: {**row, "accuracy": 0.0}}).splitlines()
    assert table[0].startswith("| pipeline | page hit@1 | page hit@4 | page hit@10 | answer accuracy |")
    assert table[2] == "| ours (few_shot) | 0.500 | 0.750 | 1.000 | 0.250 | 1.000 | 0.125 | 2.500 |"
    assert table[3] == "| LangChain tutorial | 0.500 | 0.750 | 1.000 | 0.000 | n/a | 0.125 | 2.500 |"


@pytest.mark.unit
def test_an_absent_set_is_skipped_with_a_note_or_refused_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.core.settings import load_settings
    from rag.eval import runner
    from rag.eval.__main__ import _qa_sets

    absent = tmp_path / "sec10q-dev"
    monkeypatch.setitem(
        runner.QA_SETS, "sec10q-dev", (absent / "qa.jsonl", absent / "qa_fit.jsonl", absent / "corpus")
    )
    assert "SEC10Q_DIR" in (runner.missing("sec10q-dev") or "") and runner.missing("sample") is None
    settings = load_settings()
    found = _qa_sets(argparse.Namespace(qa=None, sets=None, split="held-out"), settings)
    assert "sec10q-dev" not in found and "sample" in found
    assert "skipped sec10q-dev" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="SEC10Q_DIR"):
        _qa_sets(argparse.Namespace(qa=None, sets=["sec10q-dev"], split="fit"), settings)


class WordsEmbedder:
    """Bag-of-words vectors over a fixed vocabulary (unit length): retrieval without a model."""

    VOCABULARY = ("tax", "rate", "revenue", "research", "development", "dividend")

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.array([[t.lower().count(w) for w in self.VOCABULARY] for t in texts], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def small_index() -> TutorialIndex:
    chunks = [
        PageChunk("Revenue was 14,514 in the quarter.", "a.pdf", 2),
        PageChunk("The effective tax rate was 12.2% against a tax rate of 21%.", "a.pdf", 12),
        PageChunk("Research and development expenses 2,294 1,945", "a.pdf", 3),
        PageChunk("A dividend of $0.04 per share.", "b.pdf", 5),
    ]
    embedder: Any = WordsEmbedder()
    return TutorialIndex(chunks, embedder.embed([c.text for c in chunks]), embedder)


@pytest.mark.unit
def test_the_tutorial_answers_cites_and_refuses_on_a_scripted_model() -> None:
    index = small_index()
    assert [h.page for h in index.search("What was the effective tax rate?", 2)] == [12, 2]
    llm: Any = FakeLLM(replies=["\n12.2%\nQuestion: more", "\nI don't know.", "\n\n2,294 million"])
    answer, ranked = ask(index, llm, "What was the effective tax rate?", depth=3, k=2)
    assert answer.text == "12.2%" and not answer.refused and len(ranked) == 3 and len(answer.hits) == 2
    assert [c.location for c in answer.citations] == ["a.pdf, page 12"] and len(answer.passages) == 4
    assert "Answer: 2,532" in llm.prompts[0] and llm.prompts[0].endswith("effective tax rate?\nAnswer:")
    refused, _ = ask(index, llm, "Who is the CEO?")
    assert refused.refused and refused.citations == []
    research, _ = ask(index, llm, "What was the effective tax rate?")  # the top chunk does not hold it
    assert research.citations[0].page == 12  # "2,294 million" is in no shown chunk: the top one is cited
    assert cited_hit("2,294", index.search("What was the tax rate?", 4)).page == 3


@pytest.mark.unit
def test_the_answer_is_the_first_line_with_text_and_the_prompt_fits() -> None:
    assert first_line(iter(["\n", "18", "%\nQuestion"])) == "18%"
    assert first_line(iter(["  ", "\n\n"])) == ""
    llm: Any = FakeLLM()
    llm.info.n_ctx = 300  # FakeLLM counts words as tokens
    hits = [hit("a.pdf", n, "word " * 200) for n in range(4)]
    prompt = fitted_prompt("What?", hits, llm)
    assert 200 < llm.count_tokens(prompt) <= 300 - 48 and prompt.count("word") > 40


@pytest.mark.integration
def test_tutorial_retrieval_finds_the_page_of_a_generated_pdf(tmp_path: Path, embedder: Any) -> None:
    """The tutorial's retrieval part on a real PDF (pypdf pages, 1000/200 splits, the bundled MiniLM,
    cosine top-k): a long page split into several chunks, each keeping its page; no LLM."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pages = [
        ["Contoso quarterly report.", "Net revenue by segment was 14,514 million dollars."],
        [f"Line {n}: the Company leases office space and warehouses in many cities." for n in range(40)],
        ["Income taxes.", "The effective tax rate for the quarter was 12.2 percent."],
    ]
    for lines in pages:
        for row, line in enumerate(lines):
            pdf.drawString(40, 750 - 16 * row, line)
        pdf.showPage()
    pdf.save()
    (tmp_path / "filing.pdf").write_bytes(buffer.getvalue())
    (tmp_path / "notes.txt").write_text("The effective tax rate was 99 percent.")  # not a PDF: not read
    index = TutorialIndex.build(tmp_path, embedder)
    assert {c.source for c in index.chunks} == {"filing.pdf"}
    long_page = [c for c in index.chunks if c.page == 2]
    assert len(long_page) >= 3 and all(len(c.text) <= 1000 for c in long_page)
    hits = index.search("What was the effective tax rate?", 4)
    assert (hits[0].source, hits[0].page) == ("filing.pdf", 3) and len(hits) == 4
    assert hits[0].score >= hits[1].score
    gold = QAItem(
        "t", "What was the effective tax rate?", ["12.2%"], ["filing.pdf"], None, True, "sec10q", (3,)
    )
    assert page_rank(gold, hits) == 1
