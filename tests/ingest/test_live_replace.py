"""Ingestion while people ask: a document replaced again and again is always answered from its old
version or its new one, never a mix of the two and never neither; a new document appears whole;
nothing fails. Readers run in threads against the same embedded Chroma the ingestion writes to."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant
from rag.answer.fake import FakeLLM

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOPICS = ("backups", "laptops", "travel", "expenses", "passwords", "visitors", "printing", "parking",
          "holidays", "training", "phones", "badges")  # fmt: skip
VERSION = re.compile(r"\b(?:ALPHA|BRAVO)-EDITION\b")


def policy(edition: str) -> str:
    """The two editions differ in every chunk and in length (the newer one drops four topics)."""
    sections = [f"# Office policy {edition}", ""]
    for number, topic in enumerate(TOPICS if edition == "ALPHA-EDITION" else TOPICS[:8]):
        rule = f"This is the {edition} rule for {topic}: item {number} of the office policy applies. "
        scope = f"The policy for {topic} in the {edition} covers requests, approvals and records. "
        sections += [f"## {topic.title()}", "", rule + scope * 3, ""]
    return "\n".join(sections)


def test_a_document_being_replaced_is_never_mixed_nor_missing(
    tmp_path: Path, embedder: Any, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index.collection import Index

    upsert, delete = Index.upsert, Index.delete_source

    def slow_upsert(self: Index, *args: Any) -> None:  # a big document: its writes take a while
        upsert(self, *args)
        time.sleep(0.4)

    def slow_delete(self: Index, *args: Any, **options: Any) -> int:
        time.sleep(0.4)
        removed = delete(self, *args, **options)
        time.sleep(0.4)
        return removed

    monkeypatch.setattr(Index, "upsert", slow_upsert)
    monkeypatch.setattr("ingest.writer.WRITE_CHUNKS", 4)  # and in several writes
    monkeypatch.setattr(Index, "delete_source", slow_delete)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.md").write_text(policy("ALPHA-EDITION"))
    (corpus / "other.md").write_text("# Canteen\n\nThe canteen opens at eight and closes at three.\n")
    settings = make_settings(corpus_dir=corpus)
    reader = Assistant(settings, embedder=embedder, llm=FakeLLM())
    writer = Assistant(settings, embedder=embedder, llm=FakeLLM())
    writer.ingest()
    assert len([s for s in reader.sources() if s == "policy.md"]) == 1 and reader.sources()["policy.md"] > 6

    problems: list[str] = []
    seen: dict[str, int] = {"ALPHA-EDITION": 0, "BRAVO-EDITION": 0}
    reads = [0]
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                hits = reader.retrieve("office policy rule for requests approvals records", k=12)
                answer = reader.ask("What is the office policy rule for backups?")
            except Exception as error:
                problems.append(f"{type(error).__name__}: {error}")
                continue
            found = [{m.group(0) for h in hits if h.source == "policy.md" for m in VERSION.finditer(h.text)},
                     {m.group(0) for c in answer.citations if c.source == "policy.md"
                      for m in VERSION.finditer(c.quote)}]  # fmt: skip
            for editions in found:  # each call on its own: one edition, never two, never none
                if len(editions) != 1:
                    problems.append(f"editions {sorted(editions)} in one answer: {[h.source for h in hits]}")
                for edition in editions:
                    seen[edition] += 1
            reads[0] += 1

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for round_number in range(6):
            edition = "BRAVO-EDITION" if round_number % 2 == 0 else "ALPHA-EDITION"
            (corpus / "policy.md").write_text(policy(edition))
            if round_number == 3:
                (corpus / "new.md").write_text("# Car park\n\nThe car park gate closes at ten at night.\n")
            report = writer.ingest()
            assert report.updated == ["policy.md"] and not report.failed
            time.sleep(0.3)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not problems, "\n".join(problems[:3])
    assert reads[0] >= 6 and seen["ALPHA-EDITION"] > 0 and seen["BRAVO-EDITION"] > 0, (reads, seen)
    assert reader.index.view().pins == {}  # nothing left hidden after the runs
