"""The guarded corpus (five groups and open documents), indexed once for the access tests."""

from __future__ import annotations

from typing import Any

import pytest

from rag import Assistant
from rag.answer.fake import FakeLLM
from tests.helpers.access_corpus import RULES, write_corpus


@pytest.fixture(scope="package")
def guarded(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> tuple[Assistant, dict[str, str]]:
    from rag import load_settings
    from tests.helpers import ROOT

    base = tmp_path_factory.mktemp("access")
    corpus = base / "corpus"
    written = write_corpus(corpus)
    settings = load_settings(ROOT / "settings.yaml", corpus_dir=corpus, index_dir=base / "index",
                             collection="access-test", access_rules=RULES,
                             models_dir=ROOT / "data" / "models")  # fmt: skip
    assistant = Assistant(settings, embedder=embedder, llm=FakeLLM())
    report = assistant.ingest()
    assert not report.failed and len(report.added) == len(written)
    return assistant, written
