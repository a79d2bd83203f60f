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

In server mode (``store_mode: server``, chunks in a ``chroma run`` server shared by every machine)
no keyword file is shared: ingestion bumps the keyword version in the collection's state record
(:mod:`rag.index.state`) and each serving process rebuilds its own BM25 copy from Chroma in a
background thread when it sees a new version; answering goes on with the copy it has meanwhile.

Every read runs under a :class:`~rag.index.state.View` (what is visible now) and a
:class:`~rag.core.access.User` (what they may read): both become a Chroma ``where`` clause and the
same filter on the keyword side, applied before ranking. Keyword hits are then checked against
Chroma, so a keyword copy older than the collection never returns a deleted or re-labelled chunk.

Example::

    index = Index(Path("data/index"), "sample")
    index.mark_changing()
    index.upsert(chunks, vectors)
    index.refresh_keyword()
    hits = index.dense(vector, k=5) + (index.keyword_search("SEC-4012", k=5) or [])
    mine = index.dense(vector, k=5, user=User.of("alice", ["hr"]))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.core.access import ACCESS_KEY, AccessRules, User, can_read, chroma_where
from rag.core.errors import IndexDamaged, KeywordIndexDamaged
from rag.core.schema import Chunk, Hit
from rag.core.settings import Settings
from rag.index import state
from rag.index.keyword import FORM, KeywordIndex, intact, keyword_dir, read_stamp
from rag.index.state import View
from rag.index.store import ChromaStore

log = logging.getLogger(__name__)


class Index:
    """Chroma + keyword index of one collection (``index_dir``, ``collection``).

    Thread-safe for readers: the keyword index is swapped in whole under a lock. Writers (ingestion,
    deletes) are serialized by ingestion's file lock on the index folder.

    Example::

        index = Index.of(settings)
        print(index.count(), index.sources())
    """

    def __init__(self, index_dir: Path, collection: str, url: str | None = None) -> None:
        self.index_dir = index_dir
        self.name = collection
        self.url = url or None  # a Chroma server (server mode), or None: the files in index_dir
        self._store: ChromaStore | None = None
        self._keyword: KeywordIndex | None = None
        self._keyword_stamp: Any = None
        self._building: threading.Thread | None = None
        self._lock = threading.RLock()

    @classmethod
    def of(cls, settings: Settings) -> Index:
        """The configured collection, embedded or on the Chroma server (``store_mode``)."""
        url = settings.chroma_url if settings.store_mode == "server" else None
        return cls(settings.index_dir, settings.collection, url)

    # --- the vectors --------------------------------------------------------------------------
    @property
    def store(self) -> ChromaStore:
        """The Chroma collection, opened on first use (:class:`IndexDamaged` when unreadable,
        :class:`StoreUnavailable` when the server does not answer)."""
        with self._lock:
            if self._store is None:
                self._store = ChromaStore(self.index_dir, self.name, self.url)
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
                self._store = ChromaStore(self.index_dir, self.name, self.url)
            self.changed(keyword=True)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.store.upsert(chunks, vectors)

    def delete_source(self, source: str, keep_ids: set[str] | None = None) -> int:
        """Delete a document's chunks, except ``keep_ids`` (the current version's)."""
        return self.store.delete_source(source, keep_ids)

    def count(self) -> int:
        return self.store.count()

    def sources(self, *, user: User | None = None, view: View | None = None) -> dict[str, int]:
        """Chunk count per source path: all of them, or (with ``user``) those the user may read as
        ``view`` (default: now) shows them."""
        if user is None and view is None:
            return self.store.sources()
        view = view if view is not None else self.view()
        return dict(sorted(self.store.sources(state.all_of(chroma_where(user), view.where())).items()))

    def get(
        self, where: dict[str, Any] | None = None, include: Sequence[str] = ("metadatas",)
    ) -> dict[str, Any]:
        return self.store.get(where, include)

    def dense(
        self,
        vector: np.ndarray,
        k: int,
        where: dict[str, Any] | None = None,
        *,
        user: User | None = None,
        view: View | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks nearest to ``vector`` (cosine similarity as the score) among those
        ``user`` may read (None: all) and ``view`` shows (default: the current one)."""
        view = view if view is not None else self.view()
        return self.store.query(vector, k, state.all_of(where, chroma_where(user), view.where()))

    # --- what readers see (rag.index.state) ---------------------------------------------------
    def view(self) -> View:
        """The collection's state now: its version, keyword version and pinned documents."""
        return state.decode(self.store.read_state())

    def _write_view(self, pins: Mapping[str, str] | None = None, keyword: bool = False) -> None:
        with self._lock:
            now = self.view()
            self.store.write_state(
                state.encode(
                    View(
                        state.new_version(),
                        state.new_version() if keyword or not now.keyword else now.keyword,
                        now.pins if pins is None else pins,
                    )
                )
            )

    def pin(self, visible: Mapping[str, str]) -> None:
        """Before writing documents: readers see of each source only the file hash given ("" =
        nothing) until it is pinned again or :meth:`unpin` ned. One writer at a time (ingestion's lock)."""
        if visible:
            self._write_view({**self.view().pins, **visible})

    def unpin(self, sources: Iterable[str]) -> None:
        """After writing: the sources' chunks are visible as stored."""
        pins = dict(self.view().pins)
        if any(pins.pop(source, None) is not None for source in list(sources)):
            self._write_view(pins)

    def clear_pins(self) -> None:
        """After an ingestion run (pins a killed run left behind are dropped here too)."""
        if self.view().pins:
            self._write_view({})

    def changed(self, keyword: bool = False) -> None:
        """What readers may see changed (``keyword``: and the keyword index must be rebuilt)."""
        self._write_view(keyword=keyword)

    def relabel(self, rules: AccessRules) -> list[str]:
        """Store each document's groups under ``rules`` where they differ (metadata only, nothing
        is embedded again); the sources re-labelled."""
        data = self.get(include=["metadatas"])
        by_source: dict[str, list[tuple[str, Any]]] = {}
        for chunk_id, meta in zip(data["ids"], data["metadatas"], strict=True):
            by_source.setdefault(str(meta.get("source", "")), []).append((chunk_id, meta.get(ACCESS_KEY)))
        changed = []
        for source, rows in sorted(by_source.items()):
            labels = rules.labels(source)
            stale = [chunk_id for chunk_id, stored in rows if list(stored or []) != labels]
            if stale:
                self.store.relabel(stale, {ACCESS_KEY: labels})
                changed.append(source)
        if changed:
            self.mark_changing()
            self.changed()
        return changed

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
        if self.url:  # server mode: each serving process rebuilds its own copy when told so
            if dirty.exists() or not self.view().keyword:
                self.changed(keyword=True)
            dirty.unlink(missing_ok=True)
            return
        if stale or (chunks and not intact(self.index_dir, self.name)):
            KeywordIndex.build(self.store, self.index_dir)
            self.changed(keyword=True)
        dirty.unlink(missing_ok=True)

    def keyword(self, view: View | None = None) -> KeywordIndex | None:
        """The BM25 index ingestion last built, reloaded only when a later build replaced it.

        A damaged one is logged (with the fix) and None is returned: answering goes on with dense
        search alone until the next ingestion rebuilds it. In server mode the copy this process
        built from Chroma; a newer keyword version starts a rebuild in the background and the old
        copy answers meanwhile (only the first build, before any copy exists, is waited for)."""
        if self.url:
            return self._server_keyword(view if view is not None else self.view())
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

    def _server_keyword(self, view: View) -> KeywordIndex | None:
        with self._lock:
            if self._keyword_stamp == view.keyword:
                return self._keyword
            first = self._keyword_stamp is None
            if not first and self._building is not None and self._building.is_alive():
                return self._keyword
            if not first:
                self._building = threading.Thread(
                    target=self._rebuild, args=(view.keyword,), name=f"keyword-{self.name}", daemon=True
                )
                self._building.start()
                return self._keyword
        self._rebuild(view.keyword)
        return self._keyword

    def _rebuild(self, version: str) -> None:
        try:
            built = KeywordIndex.from_store(self.store)
        except Exception as error:  # the server went away mid-read: keep the copy we have
            log.warning("keyword index of %s not rebuilt: %s", self.store.describe(), error)
            return
        with self._lock:
            self._keyword, self._keyword_stamp = built, version

    def wait_keyword(self, timeout: float = 60.0) -> None:
        """Wait for a background keyword rebuild to finish (server mode; tests and warm-up)."""
        building = self._building
        if building is not None:
            building.join(timeout)

    def keyword_search(
        self,
        query: str,
        k: int,
        sources: Collection[str] | None = None,
        *,
        user: User | None = None,
        view: View | None = None,
    ) -> list[Hit] | None:
        """Chunks ranked by BM25 (only those of ``sources`` when given) among those ``user`` may
        read and ``view`` shows; None without a keyword index. The filter is applied before
        ranking; the hits are then checked against Chroma (a keyword copy can be older than the
        store)."""
        view = view if view is not None else self.view()
        keyword = self.keyword(view)
        if keyword is None:
            return None
        labels = user.labels if user is not None else None

        def allowed(meta: Mapping[str, Any]) -> bool:
            return can_read(user, meta.get(ACCESS_KEY)) and view.allows(meta)

        key = (labels, tuple(sorted(view.pins.items())))
        unfiltered = user is None and not view.pins  # the whole index: no mask to build
        hits = keyword.search(query, k, sources, allowed=None if unfiltered else allowed, key=key)
        alive = self.store.existing(
            [h.chunk_id for h in hits], state.all_of(chroma_where(user), view.where())
        )
        return [h for h in hits if h.chunk_id in alive]
