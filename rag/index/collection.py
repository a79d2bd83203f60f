"""One collection's index: the Chroma vectors and the BM25 keyword index, kept in step.

Everything that writes or reads the index goes through :class:`Index`: ingestion writes and deletes
chunks, answering searches. Between them is the keyword protocol:

1. Before the collection changes, :meth:`Index.mark_changing` leaves a ``<collection>.dirty`` marker next
   to the keyword index, so a run killed half-way (even ``kill -9``) rebuilds it the next time.
2. After the change, :meth:`Index.refresh_keyword` rebuilds the BM25 index when the collection
   changed since it was built (marker, chunk count, text form) or its files are damaged, then
   removes the marker. A build goes to a new version folder and is switched in atomically
   (:mod:`rag.index.keyword`).
3. A reader (:meth:`Index.keyword`) compares the live version's stamp with the one it loaded and
   reloads only when another process (or call) rebuilt it; a damaged index is logged and answering
   goes on with dense search alone.

Example::

    index = Index(Path("data/index"), "sample")
    index.mark_changing()
    index.upsert(chunks, vectors)
    index.refresh_keyword()
    hits = index.dense(vector, k=5) + index.keyword_search("SEC-4012", k=5)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.core.errors import IndexDamaged, KeywordIndexDamaged
from rag.core.schema import Chunk, Hit
from rag.index.keyword import FORM, KeywordIndex, intact, keyword_dir, read_stamp
from rag.index.store import ChromaStore

log = logging.getLogger(__name__)


class Index:
    """Chroma + keyword index of one collection (``index_dir``, ``collection``).

    Thread-safe for readers: the keyword index is swapped in whole under a lock. Writers (ingestion,
    deletes) are serialized by ingestion's file lock on the index folder.

    Example::

        index = Index(settings.index_dir, settings.collection)
        print(index.count(), index.sources())
    """

    def __init__(self, index_dir: Path, collection: str) -> None:
        self.index_dir = index_dir
        self.name = collection
        self._store: ChromaStore | None = None
        self._keyword: KeywordIndex | None = None
        self._keyword_stamp: dict[str, Any] | None = None
        self._lock = threading.RLock()

    # --- the vectors --------------------------------------------------------------------------
    @property
    def store(self) -> ChromaStore:
        """The Chroma collection, opened on first use (:class:`IndexDamaged` when unreadable)."""
        with self._lock:
            if self._store is None:
                self._store = ChromaStore(self.index_dir, self.name)
            return self._store

    def reopen(self) -> None:
        """Forget the open collection (another writer dropped or rebuilt it); reopened on next use."""
        with self._lock:
            self._store = None

    def reset(self) -> None:
        """Drop every chunk and start an empty collection; a damaged database is moved aside."""
        with self._lock:
            try:
                self.store.drop()
            except IndexDamaged:
                ChromaStore.discard_damaged(self.index_dir)
                self._store = ChromaStore(self.index_dir, self.name)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.store.upsert(chunks, vectors)

    def delete_source(self, source: str, keep_ids: set[str] | None = None) -> int:
        """Delete a document's chunks, except ``keep_ids`` (the current version's)."""
        return self.store.delete_source(source, keep_ids)

    def count(self) -> int:
        return self.store.count()

    def sources(self) -> dict[str, int]:
        """Chunk count per source path."""
        return self.store.sources()

    def get(
        self, where: dict[str, Any] | None = None, include: Sequence[str] = ("metadatas",)
    ) -> dict[str, Any]:
        return self.store.get(where, include)

    def dense(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``vector`` (cosine similarity as the score)."""
        return self.store.query(vector, k, where)

    # --- the keyword index --------------------------------------------------------------------
    @property
    def dirty_marker(self) -> Path:
        folder = keyword_dir(self.index_dir, self.name)
        return folder.with_name(folder.name + ".dirty")

    def mark_changing(self) -> None:
        """Before the collection changes: the marker stays until :meth:`refresh_keyword` has rebuilt
        the keyword index, so a change that never finished is caught by the next refresh."""
        self.dirty_marker.parent.mkdir(parents=True, exist_ok=True)
        self.dirty_marker.touch()

    def refresh_keyword(self) -> None:
        """Rebuild the BM25 index when the collection changed since it was built, or it is missing,
        out of step with its stamp, or unreadable (truncated, zeroed, garbled); clear the marker."""
        dirty = self.dirty_marker
        stamp = None if dirty.exists() else read_stamp(self.index_dir, self.name)
        chunks = self.count()
        stale = stamp is None or stamp["chunks"] != chunks or stamp.get("form") != FORM
        if stale or (chunks and not intact(self.index_dir, self.name)):
            KeywordIndex.build(self.store, self.index_dir)
        dirty.unlink(missing_ok=True)

    def keyword(self) -> KeywordIndex | None:
        """The BM25 index ingestion last built, reloaded only when a later build replaced it.

        A damaged one is logged (with the fix) and None is returned: answering goes on with dense
        search alone until the next ingestion rebuilds it."""
        stamp = read_stamp(self.index_dir, self.name)
        if stamp == self._keyword_stamp:
            return self._keyword
        try:
            loaded = KeywordIndex.load(self.index_dir, self.name)
        except KeywordIndexDamaged as error:
            log.warning("%s: answering with dense search only; run `python -m ingest` to rebuild it", error)
            loaded = None
        with self._lock:
            self._keyword, self._keyword_stamp = loaded, stamp
        return loaded

    def keyword_search(self, query: str, k: int, sources: Collection[str] | None = None) -> list[Hit]:
        """Chunks ranked by BM25 (only those of ``sources`` when given); [] without a keyword index."""
        keyword = self.keyword()
        return keyword.search(query, k, sources) if keyword is not None else []
