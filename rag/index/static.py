"""Static (lookup-table) embeddings for collections that are not in English: ``embedding_backend: wordllama``.

The bundled all-MiniLM-L6-v2 was trained on English: Arabic, Chinese and most other scripts come out
as near-random vectors. WordLlama (PyPI ``wordllama``, extra ``wordllama``) ships in its 16 MB wheel
a 32,000 x 256 table of token vectors distilled from large language models' input embeddings, with
the Llama 2 tokenizer (byte fallback: every script has tokens). A text's vector is the average of
its tokens' rows, made unit length: no network, no model to download, about a millisecond a chunk.

There is no sequence limit to respect (WordLlama turns truncation off and averages any number of
tokens), but an average of many tokens blurs: :data:`MAX_TOKENS` keeps chunks passage-sized.

Example::

    embedder = WordLlamaEmbedder()
    vectors = embedder.embed(["罗店镇全镇面积是多大？", "ما هي عاصمة مصر؟"])   # (2, 256), unit length
    embedder.tokenizer("مرحبا", add_special_tokens=False, return_offsets_mapping=True)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.core.errors import require

CONFIG = "l2_supercat"  # the table bundled in the wheel (Llama 2 tokenizer)
DIMENSIONS = 256  # the bundled table's width
MAX_TOKENS = 512  # chunk ceiling in Llama 2 tokens, <s> included (see WordLlamaEmbedder)


def wordllama_id() -> str:
    """What the vectors depend on: the table and the package version that ships it."""
    try:
        version = metadata.version("wordllama")
    except metadata.PackageNotFoundError:
        version = "not-installed"
    return f"wordllama-{version}/{CONFIG}-{DIMENSIONS}"


def _import_wordllama() -> Any:
    """``wordllama``, imported without its side effect: its modules call ``logging.basicConfig(level=
    INFO)``, which would print every library's INFO records for the rest of the process."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return require("wordllama", "wordllama")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class WordLlamaEmbedder:
    """WordLlama's bundled static embeddings behind the :class:`~rag.index.embeddings.Embedder` seam.

    ``tokenizer`` is WordLlama's own Llama 2 tokenizer as a ``transformers`` fast tokenizer (a copy:
    the one WordLlama embeds with pads every batch), so the chunker sizes chunks in the tokens that
    are averaged. ``max_tokens`` (512) is a choice, not a limit of the model: the default
    ``chunk_size`` (200) stays the target, and the ceiling leaves room to raise it for scripts that
    take many tokens per word (Llama 2 has few Arabic or Chinese tokens: about 0.9 tokens a character
    in Arabic, 1.6 in Chinese, where common characters are whole tokens and the rest 3 bytes each).
    Thread-safe: one call at a time (the Rust tokenizer is not re-entrant).

    Example::

        embedder = WordLlamaEmbedder(batch_size=64)
        embedder.embed(["a", "b"]).shape      # (2, 256)
        embedder.max_tokens                   # 512
    """

    max_tokens = MAX_TOKENS

    def __init__(self, batch_size: int = 64) -> None:
        wordllama = _import_wordllama()
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        package = Path(wordllama.__file__).parent
        self.model = wordllama.WordLlama.load(
            config=CONFIG, dim=DIMENSIONS, cache_dir=package, disable_download=True
        )
        backend = Tokenizer.from_str(self.model.tokenizer.to_str())
        backend.no_padding()
        backend.no_truncation()
        self.tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
        )
        self.batch_size = batch_size
        self.id = wordllama_id()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # "" has no token at all (a zero vector); a space is the word-boundary token
        batch = [text or " " for text in texts]
        if not batch:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            vectors = self.model.embed(batch, norm=False, batch_size=self.batch_size)
        vectors = np.asarray(vectors, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
