"""The embedding cache answering uses for questions and passage candidates."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.unit


def test_the_cache_embeds_each_text_once_and_returns_the_same_vectors() -> None:
    from rag.index.embeddings import CachedEmbedder
    from rag.index.fake import HashEmbedder

    class Counting(HashEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[list[str]] = []

        def embed(self, texts: Any) -> Any:
            self.calls.append(list(texts))
            return super().embed(texts)

    inner = Counting()
    cached = CachedEmbedder(inner, size=3)
    first = cached.embed(["a b", "c d", "a b"])
    again = cached.embed(["c d", "e f"])
    assert inner.calls == [["a b", "c d"], ["e f"]]
    assert (first[1] == again[0]).all() and (first[0] == first[2]).all()
    assert (cached.embed(["e f"]) == inner.embed(["e f"])).all()
    cached.embed(["g h", "i j"])  # the oldest ("a b") is dropped beyond size
    cached.embed(["a b"])
    assert inner.calls[-1] == ["a b"]
