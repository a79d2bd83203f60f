"""The shipped deterministic LLM (``llm_mode: fake``)."""

from __future__ import annotations

from typing import Any

import pytest

from rag.answer.fake import FakeLLM
from rag.answer.passages import Passage
from rag.answer.prompts import PromptBuilder
from tests.helpers.hits import hit

pytestmark = pytest.mark.unit


def test_it_copies_the_first_passage_of_the_prompt_with_its_citation(make_settings: Any) -> None:
    shown = [
        Passage(1, "Backups are retained for 35 days.", hit("b", 0.9, source="it.pdf", page=4), 0.8),
        Passage(2, "Laptops lock after 5 minutes.", hit("l", 0.5, source="it.pdf", page=2), 0.4),
    ]
    prompt = PromptBuilder(make_settings(), len).build("few_shot", "How long are backups kept?", shown, 32)
    llm = FakeLLM()
    reply = "".join(llm.complete(prompt.text, max_tokens=32))
    assert reply == "Backups are retained for 35 days. [1]"
    assert reply == "".join(FakeLLM().complete(prompt.text, max_tokens=32))  # deterministic
    assert llm.prompts == [prompt.text]


def test_scripted_replies_come_in_order_then_it_does_not_know() -> None:
    llm = FakeLLM(replies=["35 days [1]"])
    assert list(llm.complete("q", max_tokens=8)) == ["35", " days", " [1]"]
    assert "".join(llm.complete("q", max_tokens=8)) == "I don't know."


def test_settings_select_it(make_settings: Any) -> None:
    from rag import make_llm

    llm = make_llm(make_settings(llm_mode="fake"))
    assert isinstance(llm, FakeLLM) and llm.info.mode == "fake"
