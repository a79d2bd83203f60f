"""Plain functions behind the chat page (no Streamlit here, so they are easy to test).

Example::

    markdown = conversation_markdown(messages)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rag import Answer


@dataclass(slots=True)
class Message:
    """One turn of the chat, as kept in the session."""

    role: str  # "user" or "assistant"
    content: str
    answer: Answer | None = None
    meta: dict[str, object] = field(default_factory=dict)


def conversation_markdown(messages: Sequence[Message], title: str = "Conversation") -> str:
    """The chat with each answer's sources, as Markdown to download."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"_Exported {stamp}_", ""]
    for message in messages:
        if message.role == "user":
            lines += [f"**Question:** {message.content}", ""]
            continue
        answer = message.answer
        lines += [f"**Answer:** {message.content}", ""]
        if answer is None:
            continue
        if answer.refused:
            lines += [f"_Refused: {answer.refusal_reason}_", ""]
        if answer.citations:
            lines.append("Closest sources:" if answer.refused else "Sources:")
            for citation in answer.citations:
                lines.append(f"- [{citation.number}] {citation.location}: \u201c{citation.quote}\u201d")
            lines.append("")
    return "\n".join(lines)


def highlighted(text: str, offsets: tuple[int, int] | None) -> str:
    """``text`` as HTML (escaped: it is document data) with ``text[start:end]`` in ``<mark>``."""
    import html

    if offsets is None or not 0 <= offsets[0] < offsets[1] <= len(text):
        return html.escape(text)
    start, end = offsets
    before, span, after = (html.escape(part) for part in (text[:start], text[start:end], text[end:]))
    return f"{before}<mark>{span}</mark>{after}"
