"""Prompts: window fitting and replaceable templates. (unit: no models loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.answer.passages import Passage
from rag.answer.prompts import ContextOverflow, PromptBuilder
from tests.helpers.hits import hit, passages

pytestmark = pytest.mark.unit


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
