"""Per-group access control, end to end with real parts (Chroma, the bundled embedder, BM25):
1,000 random questions from random users, eight at a time, and not one hit, citation, quote,
answer or listed document from a group the user is not in (0 leaks). The model is the shipped
FakeLLM (it answers with the first passage shown, cited): what it can repeat is exactly what
retrieval let through, which is what is under test."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rag import AccessRules, Assistant, User
from rag.answer.fake import FakeLLM
from rag.core.access import can_read
from tests.helpers.access_corpus import (
    FOLDERS,
    RULES,
    codeword,
    forbidden_codes,
    random_question,
    random_user,
    write_corpus,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUESTIONS = 1000


def _leaks(assistant: Assistant, user: User, question: str) -> list[str]:
    rules = AccessRules(RULES)
    found: list[str] = []
    answer = assistant.ask(question, user=user)
    for hit in answer.hits:
        if not can_read(user, rules.labels(hit.source)):
            found.append(f"hit {hit.source}")
        found += forbidden_codes(hit.text, user, rules)
    for citation in answer.citations:
        if not can_read(user, rules.labels(citation.source)):
            found.append(f"citation {citation.source}")
        found += forbidden_codes(citation.quote, user, rules)
    found += forbidden_codes(answer.text, user, rules)
    for hit in assistant.retrieve(question, k=10, user=user):
        if not can_read(user, rules.labels(hit.source)):
            found.append(f"retrieved {hit.source}")
    return [f"{user} asked {question!r}: {leak}" for leak in found]


def test_unrestricted_search_does_find_restricted_documents(
    guarded: tuple[Assistant, dict[str, str]],
) -> None:
    """The filter is what hides them: without a user, a codeword question finds its document."""
    assistant, _ = guarded
    code = codeword("board", 10)
    hits = assistant.retrieve(f"What is the codeword {code} about?", k=3)
    assert hits and hits[0].source == "board/board-1.md" and code in hits[0].text
    answer = assistant.ask(f"What is the codeword {code} about?")
    assert any(c.source.startswith("board/") for c in answer.citations)
    outsider = User.of("eve", ["hr"])
    hits = assistant.retrieve(f"What is the codeword {code} about?", k=30, user=outsider)
    assert hits and all(h.source.startswith(("hr/", "public/")) for h in hits)


def test_thousand_random_questions_from_random_users_leak_nothing(
    guarded: tuple[Assistant, dict[str, str]],
) -> None:
    assistant, _ = guarded
    rng = random.Random(2026)
    asks = [(random_user(rng, n), random_question(rng)) for n in range(QUESTIONS)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda pair: _leaks(assistant, *pair), asks))
    leaks = [leak for found in results for leak in found]
    assert leaks == [], f"{len(leaks)} leaks, first: {leaks[:5]}"

    # and not vacuous: readers of restricted groups got their documents, nobody else did
    rules = AccessRules(RULES)
    for user, question in asks[:60]:
        for hit in assistant.retrieve(question, k=10, user=user):
            assert can_read(user, rules.labels(hit.source))
    board = User.of("bo", ["board"])
    code = codeword("board", 21)
    assert assistant.retrieve(f"codeword {code}", k=1, user=board)[0].source == "board/board-2.md"


def test_document_lists_hold_only_readable_documents(guarded: tuple[Assistant, dict[str, str]]) -> None:
    assistant, written = guarded
    rules = AccessRules(RULES)
    rng = random.Random(5)
    for number in range(50):
        user = random_user(rng, number)
        listed = set(assistant.sources(user=user))
        readable = {s for s in written if can_read(user, rules.labels(s))}
        assert listed == readable, user  # nothing hidden that may be read, nothing shown that may not
    assert set(assistant.sources()) == set(written)
    assert set(assistant.sources(user=User.of("nobody"))) == {s for s in written if s.startswith("public/")}
    assert {"finance+legal", "open"} <= set(FOLDERS)


def test_a_rule_change_relabels_without_embedding_again(
    tmp_path: Path, embedder: Any, make_settings: Callable[..., Any]
) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, documents_per_folder=1)
    settings = make_settings(corpus_dir=corpus, access_rules={"hr/**": ["hr"]})
    assistant = Assistant(settings, embedder=embedder, llm=FakeLLM())
    assistant.ingest()
    legal = User.of("lee", ["legal"])
    assert "legal/legal-0.md" in assistant.sources(user=legal)
    assert "hr/hr-0.md" not in assistant.sources(user=legal)

    rules = {"hr/**": ["hr"], "legal/**": ["legal"]}
    tightened = Assistant(
        settings.model_copy(update={"access_rules": rules}), embedder=embedder, llm=FakeLLM()
    )
    report = tightened.ingest()
    assert report.chunks_written == 0 and report.relabelled == ["legal/legal-0.md"]
    outsider = User.of("eve", ["hr"])
    assert "legal/legal-0.md" not in tightened.sources(user=outsider)
    code = codeword("legal", 0)
    assert all(
        not h.source.startswith("legal/") for h in tightened.retrieve(f"codeword {code}", user=outsider)
    )
    assert tightened.retrieve(f"codeword {code}", k=1, user=legal)[0].source == "legal/legal-0.md"
