"""A deterministic embedder that ships with the library (``embedding_backend: hash``).

For tests and demos that exercise everything but the embedding model: the vectors are hashed word
counts (``zlib.crc32``, so the same text gives the same vector in every process and on every
machine; Python's ``hash()`` is salted per process), made unit length. Word overlap is all it
understands, which is enough for logic tests and far from enough to answer questions well.
Ingestion still counts sizes with the bundled MiniLM tokenizer (loaded from its package, no model
weights), so chunks come out as they do with the real embedder.

Example::

    embedder = HashEmbedder()
    vectors = embedder.embed(["backups are kept 35 days", "laptops lock after 5 minutes"])
    vectors.shape   # (2, 256)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

DIMENSIONS = 256
WORD = re.compile(r"\w+")


class HashEmbedder:
    """Hashed bag-of-words vectors, stable across processes (see the module docstring).

    Example::

        HashEmbedder().embed(["hello world"])[0] @ HashEmbedder().embed(["hello"])[0]   # 0.707...
    """

    max_tokens = 256

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions

    @cached_property
    def tokenizer(self) -> Any:
        """The bundled MiniLM tokenizer, so chunk sizes match the real embedder's."""
        from transformers import AutoTokenizer

        from rag.index.embeddings import bundled_model_path

        return AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.casefold()):
                out[row, zlib.crc32(word.encode()) % self.dimensions] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
