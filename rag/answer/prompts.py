"""Prompt templates: editable Jinja files rendered with LangChain's sandboxed PromptTemplate.

Built-in templates live in ``rag/templates``; a ``templates_dir`` setting points at a folder with
your own ``plain.jinja``, ``cot.jinja``, ``few_shot.jinja`` or ``condense.jinja`` (any you leave out
fall back to the built-in ones). Passages are numbered [1]..[n] with their file and page, and
:meth:`PromptBuilder.build` drops the weakest passages, then shortens the last one, until prompt +
answer fit the model's context window, counted with the model's own tokenizer.

Example::

    builder = PromptBuilder(settings, count_tokens=llm.count_tokens)
    prompt = builder.build("few_shot", question, passages, max_tokens=64)
    print(prompt.text, prompt.passages)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.answer.passages import Passage
from rag.core.errors import ContextOverflow
from rag.core.settings import TEMPLATES, Settings

BUILTIN_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class TemplateStyle:
    """How a template's output is read: where generation stops, whether it reasons first."""

    stop: tuple[str, ...]
    completion_only: bool  # written for base models: never wrapped in a chat template
    reasoning_marker: str | None = None  # cot: the answer follows this marker
    min_tokens: int = 0  # room to reserve for the output whatever max_tokens says


STYLES = {
    "few_shot": TemplateStyle(stop=("\n",), completion_only=True),
    "plain": TemplateStyle(stop=("\n\n\n", "Question:"), completion_only=False),
    "cot": TemplateStyle(
        stop=("\nQuestion:", "\n\n\n"),
        completion_only=False,
        reasoning_marker="Final answer:",
        min_tokens=256,
    ),
    "condense": TemplateStyle(stop=("\n",), completion_only=True),
}


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rendered prompt and the passages it shows (numbered as in the text)."""

    text: str
    template: str
    passages: list[Passage]
    max_tokens: int
    style: TemplateStyle


class PromptBuilder:
    """Renders templates, keeping prompt + answer inside ``n_ctx`` tokens.

    Example::

        builder = PromptBuilder(load_settings(n_ctx=512), count_tokens=llm.count_tokens)
        prompt = builder.build("plain", "What is the VPN lockout code?", passages, max_tokens=64)
    """

    def __init__(self, settings: Settings, count_tokens: Callable[[str], int]) -> None:
        self.settings = settings
        self.count_tokens = count_tokens

    def render(self, name: str, **variables: Any) -> str:
        return _template(self._path(name)).format(**variables)

    def _path(self, name: str) -> Path:
        if self.settings.templates_dir is not None:
            mine = self.settings.templates_dir / f"{name}.jinja"
            if mine.is_file():
                return mine
        builtin = BUILTIN_DIR / f"{name}.jinja"
        if not builtin.is_file():
            raise ValueError(f"unknown template {name!r}: choose one of {', '.join(TEMPLATES)}")
        return builtin

    def build(self, name: str, question: str, passages: Sequence[Passage], max_tokens: int) -> Prompt:
        """The prompt for ``question`` with as many of ``passages`` as fit, renumbered from 1."""
        style = STYLES[name]
        max_tokens = max(max_tokens, style.min_tokens)
        budget = self.settings.n_ctx - max_tokens
        if budget <= 0:
            raise ContextOverflow(
                f"n_ctx={self.settings.n_ctx} leaves no room for a {max_tokens}-token answer"
            )
        shown = [replace(p, number=i) for i, p in enumerate(passages, start=1)]
        while True:
            text = self.render(name, passages=shown, question=question, refusal=self.settings.refusal_text)
            used = self.count_tokens(text)
            if used <= budget:
                return Prompt(text, name, shown, max_tokens, style)
            if len(shown) > 1:
                shown = shown[:-1]
                continue
            if not shown:
                raise ContextOverflow(
                    f"the {name} template and the question need {used} tokens; n_ctx={self.settings.n_ctx} "
                    f"minus {max_tokens} for the answer leaves {budget}"
                )
            shown = self._shorten(shown[0], used - budget)

    def _shorten(self, passage: Passage, excess: int) -> list[Passage]:
        words = passage.text.split()
        keep = len(words) - max(1, excess)  # at least a word per token over the budget
        if keep < 3:
            return []
        return [replace(passage, text=" ".join(words[:keep]) + " ...")]


@lru_cache(maxsize=32)
def _template_cached(path: str, mtime: float) -> Any:
    from langchain_core.prompts import PromptTemplate

    return PromptTemplate.from_template(Path(path).read_text(encoding="utf-8"), template_format="jinja2")


def _template(path: Path) -> Any:
    """LangChain's jinja2 PromptTemplate (sandboxed), re-read when the file changes."""
    return _template_cached(str(path), path.stat().st_mtime)
