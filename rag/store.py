"""Vector store seam and its Chroma adapter (embedded ``PersistentClient``, cosine space).

Example::

    store = ChromaStore(index_dir=Path("data/index"), collection="sample")
    store.upsert(chunks, vectors)
    hits = store.query(question_vector, k=5)
    store.delete_source("old/handbook.pdf")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.schema import Chunk, Hit

PAGE = 5000  # rows per read: Chroma refuses an unbounded get of a large collection
TEXT_KEY = "text"  # the chunk text, kept in the metadata (see ChromaStore)


class VectorStore(Protocol):
    """Where chunk vectors live. Chunk ids are deterministic, so ``upsert`` is idempotent."""

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...

    def delete_source(self, source: str, keep_ids: set[str] | None = None) -> int: ...

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]: ...


class ChromaStore:
    """Chroma collection holding one corpus; metadata carries source, page, headings, hashes.

    The chunk text is stored in the metadata (``TEXT_KEY``), not as a Chroma document: Chroma
    indexes documents for its full-text search, which costs half of every write (2,010 chunks:
    2.6 s instead of 1.3 s) and which nothing here uses (keyword search is BM25, see
    :mod:`rag.keyword`). Collections written the older way, text as documents, read the same.

    Example::

        store = ChromaStore(Path("/tmp/index"), "handbooks")
        print(store.count(), store.sources())
    """

    def __init__(self, index_dir: Path, collection: str) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        index_dir.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(index_dir),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
        self.name = collection
        self._collection = self._open()

    def _open(self) -> Any:
        return self._client.get_or_create_collection(
            self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        self._collection.upsert(
            ids=[c.id for c in chunks],
            embeddings=np.asarray(vectors, dtype=np.float32),
            metadatas=[{**c.metadata(), TEXT_KEY: c.text} for c in chunks],
        )

    def delete_source(self, source: str, keep_ids: set[str] | None = None) -> int:
        """Delete a document's chunks, except ``keep_ids`` (the current version's)."""
        ids = self._collection.get(where={"source": source}, include=[])["ids"]
        ids = [i for i in ids if not keep_ids or i not in keep_ids]
        if ids:
            self._collection.delete(ids=ids)
        return len(ids)

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for chunk_id, text, meta, distance in zip(
            result["ids"][0],
            result["documents"][0],
            result["metadatas"][0],
            result["distances"][0],
            strict=True,
        ):
            meta = dict(meta)
            text = _text(meta, text)
            page = int(meta.get("page") or 0) or None
            hits.append(
                Hit(
                    chunk_id=chunk_id,
                    text=text,
                    score=1.0 - float(distance),
                    source=str(meta["source"]),
                    page=page,
                    metadata=dict(meta),
                )
            )
        return hits

    def count(self) -> int:
        return int(self._collection.count())

    def get(
        self, where: dict[str, Any] | None = None, include: Sequence[str] = ("documents", "metadatas")
    ) -> dict[str, Any]:
        """Ids, documents and metadata of stored chunks (all of them without ``where``), read in
        pages: one unbounded get of a large collection fails in Chroma ("too many SQL variables")."""
        found: dict[str, list[Any]] = {"ids": [], **{name: [] for name in include}}
        asked = {*include, "metadatas"} if "documents" in include else set(include)
        offset = 0
        while True:
            page = dict(self._collection.get(where=where, include=sorted(asked), limit=PAGE, offset=offset))
            if "metadatas" in asked:  # the text comes out of the metadata (or the older document)
                metas = [dict(meta) for meta in page["metadatas"]]
                documents = page.get("documents") or [None] * len(metas)
                page["documents"] = [_text(m, d) for m, d in zip(metas, documents, strict=True)]
                page["metadatas"] = metas
            for name in found:
                found[name].extend(page[name] or [])
            if len(page["ids"]) < PAGE:
                return found
            offset += PAGE

    def sources(self) -> dict[str, int]:
        """Chunk count per source path, read from the stored metadata."""
        counts: dict[str, int] = {}
        for meta in self.get(include=["metadatas"])["metadatas"]:
            counts[str(meta["source"])] = counts.get(str(meta["source"]), 0) + 1
        return counts

    def drop(self) -> None:
        """Delete the whole collection and start an empty one (``--reset``)."""
        self._client.delete_collection(self.name)
        self._collection = self._open()


def _text(meta: dict[str, Any], document: str | None) -> str:
    """A chunk's text (popped from ``meta``): the metadata's, or the document of older indexes."""
    text = meta.pop(TEXT_KEY, None)
    return str(text if text is not None else document or "")
