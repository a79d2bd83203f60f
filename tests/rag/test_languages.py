"""Keyword search in scripts written without spaces (Chinese, Japanese) and in Arabic, through real
ingestion (issue 13, first part)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest import sync_folder
from rag.index.keyword import KeywordIndex, keyword_form

DOCS = {
    "school.md": "# 圣母小学\n\n圣母小学是一所位于澳门的天主教小学，教学主要采用英文。学校成立于1950年。\n",
    "fish.md": "# 长齿锯犁鳗\n\n长齿锯犁鳗又被称为长齿锯齿鳗，是一种生活在深海的鱼类。默认512米以下。\n",
    "tower.md": "# 東京タワー\n\n東京タワーは港区にある電波塔で、高さは333メートルです。\n",
    "arabic.md": "# حمزة\n\nحمزة بن عبد المطلب صحابي من صحابة رسول الإسلام محمد.\n",
    "english.md": "# Backups\n\nBackups are retained for 35 days.\n",
}


@pytest.mark.unit
def test_unspaced_runs_become_bigrams_and_other_text_stays() -> None:
    assert keyword_form("教学语言").split() == ["教学", "学语", "语言"]
    assert keyword_form("默认512").split() == ["默认", "512"]
    assert keyword_form("--repeat-penalty 1.0即禁用").split() == ["--repeat-penalty", "1.0", "即禁", "禁用"]
    assert keyword_form("Backups are retained for 35 days.") == "Backups are retained for 35 days."
    assert keyword_form("حمزة بن عبد المطلب") == "حمزة بن عبد المطلب"


@pytest.mark.integration
def test_keyword_search_finds_chinese_japanese_and_arabic(
    make_settings: Any, tmp_path: Path, embedder: Any
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = make_settings(collection="languages")
    report = sync_folder(settings, corpus, embedder=embedder)
    assert not report.failed, report.summary()
    index = KeywordIndex.load(settings.index_dir, settings.collection)
    assert index is not None
    for question, source in [
        ("圣母小学的教学主要采用什么语言？", "school.md"),  # every Chinese query scored 0 before
        ("长齿锯犁鳗又被称为什么？", "fish.md"),
        ("東京タワーの高さは？", "tower.md"),
        ("من هو حمزة بن عبد المطلب؟", "arabic.md"),
    ]:
        hits = index.search(question, k=3)
        assert hits and hits[0].source == source, (question, [(h.source, h.score) for h in hits])
        assert all(hit.score > 0 for hit in hits)
    assert index.search("量子计算机", k=3) == []  # nothing shares a bigram: no arbitrary hits


@pytest.mark.integration
@pytest.mark.slow
def test_a_full_ask_in_chinese_and_arabic_copies_a_cited_span(
    make_settings: Any, tmp_path: Path, embedder: Any, sample_assistant: Any
) -> None:
    """Ingestion, keyword search, passage selection, extractive decoding with the bundled model,
    the support check and the citation offsets, for a Chinese and an Arabic document."""
    from rag import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    # min_confidence 0: this tests the path in each script; the refusal decision is measured by
    # test_eval.py on held-out sets
    settings = make_settings(collection="languages-ask", min_confidence=0.0)
    assistant = Assistant(settings, embedder=embedder, llm=sample_assistant.llm)
    assert not assistant.ingest(corpus).failed

    answer = assistant.ask("圣母小学的教学主要采用什么语言？")
    assert not answer.refused, answer.refusal_reason
    assert "英文" in answer.text and answer.citations[0].source == "school.md", answer
    chinese = answer.citations[0]
    hit = next(h for h in answer.hits if h.chunk_id == chinese.chunk_id)
    assert chinese.answer_offsets is not None
    start, end = chinese.answer_offsets
    assert hit.text[start:end] in answer.text  # the span, verbatim where it stands in the chunk

    answer = assistant.ask("من هو حمزة بن عبد المطلب؟")
    assert not answer.refused, answer.refusal_reason
    cited = answer.citations[0]
    assert cited.source == "arabic.md" and cited.supported
    hit = next(h for h in answer.hits if h.chunk_id == cited.chunk_id)
    assert cited.answer_offsets is not None
    start, end = cited.answer_offsets
    assert hit.text[start:end] and hit.text[start:end] in answer.text
