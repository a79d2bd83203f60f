"""A deterministic LLM that ships with the library (``llm_mode: fake``).

For UI and API tests (and demos) that do not test the model: no model file, no server, the same
reply to the same prompt every time. Given a script (``FakeLLM(replies=[...])``) it replies with
those texts in order; otherwise it answers with the first passage of the prompt, cited ``[1]``
("I don't know." when the prompt shows none), which the engine's verification then accepts as a
supported answer. Replies stream word by word like a real model's.

Example::

    llm = FakeLLM()
    "".join(llm.complete("... Passages:\n[1] (it.pdf, page 4) Backups are kept 35 days.\nAnswer:",
                         max_tokens=32))      # "Backups are kept 35 days. [1]"
    scripted = FakeLLM(replies=["35 days [1]", "I don't know."])
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from rag.answer.llm import BackendInfo

# the last passage list of a prompt: "[1] (source, page n) text" lines
PASSAGE = re.compile(r"^\[(\d{1,2})\] \([^)\n]*\) (.+)$", re.MULTILINE)


class FakeLLM:
    """Scripted or passage-copying replies (see the module docstring); records every prompt.

    Example::

        llm = FakeLLM(replies=["35 days [1]"])
        assistant = Assistant(settings, llm=llm)
    """

    def __init__(self, replies: Sequence[str] | None = None) -> None:
        self.replies = list(replies) if replies is not None else None
        self.prompts: list[str] = []
        self.info = BackendInfo(mode="fake", model="fake (deterministic)")

    def reply(self, prompt: str) -> str:
        if self.replies is not None:
            return self.replies.pop(0) if self.replies else "I don't know."
        tail = prompt.rsplit("Passages:", 1)[-1]
        passages = [m for m in PASSAGE.finditer(tail) if not m.group(2).startswith("Answer")]
        if not passages:
            return "I don't know."
        return f"{passages[0].group(2).strip()} [{passages[0].group(1)}]"

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        spans: Any = None,
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        words = self.reply(prompt).split(" ")[: max(max_tokens, 1)]
        yield from [words[0], *(f" {w}" for w in words[1:])]

    def chat(self, messages: list[dict[str, str]], **options: Any) -> Iterator[str]:
        return self.complete(messages[-1]["content"], **options)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
