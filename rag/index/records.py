"""The one mapping between a :class:`Chunk`, the flat record stored with its vector, and a :class:`Hit`.

Chroma accepts str/int/float/bool metadata and lists of them, and keyword search keeps the same record next to
each BM25 document, so both write chunks with :func:`record` and read hits back with :func:`hit`.
The chunk text is kept in the record (``TEXT_KEY``), not as a Chroma document (see
:class:`rag.index.store.ChromaStore`); records written the older way (text as the document) read the
same.

Example::

    meta = record(chunk)                       # {"source": ..., "page": 0, "text": ..., ...}
    found = hit(chunk.id, meta, score=0.8)     # Hit(source=..., page=None, text=...)
"""

from __future__ import annotations

from typing import Any

from rag.core.access import ACCESS_KEY
from rag.core.schema import Chunk, Hit

TEXT_KEY = "text"  # the chunk text, kept in the record
PRIVATE = (TEXT_KEY, "chunk_text")  # keys that are the text itself, never shown as metadata


def record(chunk: Chunk) -> dict[str, str | int | list[str]]:
    """What is stored next to a chunk's vector: where it came from, its structure, and its text."""
    return {
        "source": chunk.source,
        "file_hash": chunk.file_hash,
        "chunk_index": chunk.chunk_index,
        "title": chunk.title,
        "heading_path": chunk.heading_path,
        "page": chunk.page if chunk.page is not None else 0,  # 0 = no page
        "file_type": chunk.file_type,
        "element_type": chunk.element_type,
        ACCESS_KEY: list(chunk.access),
        TEXT_KEY: chunk.text,
    }


def text_of(meta: dict[str, Any], document: str | None = None) -> str:
    """A record's chunk text, popped from ``meta`` (or the document of older indexes)."""
    text = None
    for key in PRIVATE:
        found = meta.pop(key, None)
        text = found if text is None else text
    return str(text if text is not None else document or "")


def hit(chunk_id: str, meta: dict[str, Any], score: float, document: str | None = None) -> Hit:
    """A stored record as a :class:`Hit` (``meta`` is copied; the text is taken out of it)."""
    meta = dict(meta)
    text = text_of(meta, document)
    return Hit(
        chunk_id=chunk_id,
        text=text,
        score=float(score),
        source=str(meta.get("source", "")),
        page=int(meta.get("page") or 0) or None,
        metadata=meta,
    )
