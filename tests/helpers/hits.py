"""Hits made by hand for unit tests."""

from __future__ import annotations

from typing import Any

from rag.answer.passages import Passage
from rag.core.schema import Hit


def hit(chunk_id: str, score: float, text: str = "", source: str = "a.md", **meta: Any) -> Hit:
    """A :class:`Hit` with ``meta`` as its metadata (``page`` taken out of it)."""
    return Hit(chunk_id, text or f"text of {chunk_id}", score, source, meta.pop("page", None), meta)


def passages() -> list[Passage]:
    """Two numbered passages of an IT policy, as the model is shown them."""
    return [
        Passage(1, "Backups are retained for 35 days.", hit("b", 0.9, page=4, source="it.pdf"), 0.8),
        Passage(2, "Laptops lock after 5 minutes.", hit("l", 0.7, page=2, source="it.pdf"), 0.5),
    ]
