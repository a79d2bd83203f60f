"""The Chroma adapter, cosine space: embedded (``PersistentClient`` on ``index_dir``) or a shared
``chroma run`` server (``HttpClient``, ``store_mode: server``).

Next to the chunks, one small record per collection in the ``rag-state`` collection holds what every
process must agree on (see :mod:`rag.index.state`): the version of what is visible, the keyword
index's version, and the documents being written.

Example::

    store = ChromaStore(index_dir=Path("data/index"), collection="sample")
    store = ChromaStore(Path("data/index"), "sample", url="http://chroma:8000")   # server mode
    store.upsert(chunks, vectors)
    hits = store.query(question_vector, k=5)
    store.delete_source("old/handbook.pdf")
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from rag.core.errors import IndexDamaged, StoreUnavailable
from rag.core.schema import Chunk, Hit
from rag.core.settings import Settings
from rag.index.records import hit, record, text_of

PAGE = 5000  # rows per read: Chroma refuses an unbounded get of a large collection
DB_FILE = "chroma.sqlite3"
DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "disk image", "no such table")
STATE_COLLECTION = "rag-state"  # one record per collection: see rag.index.state
T = TypeVar("T")


class ChromaStore:
    """Chroma collection holding one corpus; metadata carries source, page, headings, hashes.

    The chunk text is stored in the metadata (``TEXT_KEY``), not as a Chroma document: Chroma
    indexes documents for its full-text search, which costs half of every write (2,010 chunks:
    2.6 s instead of 1.3 s) and which nothing here uses (keyword search is BM25, see
    :mod:`rag.index.keyword`). Collections written the older way, text as documents, read the same.

    Example::

        store = ChromaStore(Path("/tmp/index"), "handbooks")
        print(store.count(), store.sources())
    """

    def __init__(self, index_dir: Path, collection: str, url: str | None = None) -> None:
        self.index_dir = index_dir
        self.name = collection
        self.url = url
        if url:
            self._client = server_client(url)
            try:
                self._collection = self._open()
                self._state = self._open_state()
            except Exception as error:
                raise StoreUnavailable(_unreachable(url, error)) from error
            return
        index_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._client = _embedded_client(index_dir)
            self._collection = self._open()
            self._state = self._open_state()
        except Exception as error:
            forget_client(index_dir)  # Chroma keeps the half-started client; the next try starts anew
            raise _damage(error, index_dir) from error

    def _open(self) -> Any:
        return self._client.get_or_create_collection(
            self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def _open_state(self) -> Any:
        return self._client.get_or_create_collection(STATE_COLLECTION, embedding_function=None)

    # --- the shared state record (rag.index.state) ----------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """This collection's state record (empty when none was written)."""
        found = self._state_call(lambda s: s.get(ids=[self.name], include=["metadatas"]))
        metas = found.get("metadatas") or []
        return dict(metas[0]) if metas and metas[0] else {}

    def write_state(self, meta: dict[str, Any]) -> None:
        self._state_call(lambda s: s.upsert(ids=[self.name], embeddings=[[0.0]], metadatas=[meta]))

    def _state_call(self, operation: Callable[[Any], T]) -> T:
        from chromadb.errors import NotFoundError

        try:
            return operation(self._state)
        except NotFoundError:
            self._state = self._open_state()
            return operation(self._state)

    def _call(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation(collection)``; when another process dropped and rebuilt the collection
        (``ingest --reset``) the cached one is gone: reopen it by name once and run it again."""
        from chromadb.errors import NotFoundError

        try:
            try:
                return operation(self._collection)
            except NotFoundError:
                self._collection = self._open()
                return operation(self._collection)
        except IndexDamaged:
            raise
        except Exception as error:
            if self.url:
                if _connection_error(error):
                    raise StoreUnavailable(_unreachable(self.url, error)) from error
                raise
            damaged = _damage(error, self.index_dir)
            if isinstance(damaged, IndexDamaged):
                raise damaged from error
            raise

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        self._call(
            lambda collection: collection.upsert(
                ids=[chunk.id for chunk in chunks],
                embeddings=np.asarray(vectors, dtype=np.float32),
                metadatas=[record(chunk) for chunk in chunks],
            )
        )

    def delete_source(self, source: str, keep_ids: set[str] | None = None) -> int:
        """Delete a document's chunks, except ``keep_ids`` (the current version's)."""
        ids = self._call(lambda c: c.get(where={"source": source}, include=[])["ids"])
        ids = [i for i in ids if not keep_ids or i not in keep_ids]
        if ids:
            self._call(lambda c: c.delete(ids=ids))
        return len(ids)

    def existing(self, ids: Sequence[str], where: dict[str, Any] | None = None) -> set[str]:
        """Which of ``ids`` are stored (and match ``where``)."""
        if not ids:
            return set()
        return set(self._call(lambda c: c.get(ids=list(ids), where=where, include=[]))["ids"])

    def relabel(self, ids: Sequence[str], meta: dict[str, Any]) -> None:
        """Set the metadata keys in ``meta`` on the chunks ``ids`` (the vectors stay)."""
        for start in range(0, len(ids), PAGE):
            part = list(ids[start : start + PAGE])
            self._call(lambda c: c.update(ids=part, metadatas=[meta] * len(part)))  # noqa: B023

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        result = self._call(
            lambda c: c.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        )
        return [
            hit(chunk_id, meta, 1.0 - float(distance), document)
            for chunk_id, document, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def count(self) -> int:
        return int(self._call(lambda c: c.count()))

    def get(
        self, where: dict[str, Any] | None = None, include: Sequence[str] = ("documents", "metadatas")
    ) -> dict[str, Any]:
        """Ids, documents and metadata of stored chunks (all of them without ``where``), read in
        pages: one unbounded get of a large collection fails in Chroma ("too many SQL variables")."""
        found: dict[str, list[Any]] = {"ids": [], **{name: [] for name in include}}
        asked = {*include, "metadatas"} if "documents" in include else set(include)
        offset = 0
        while True:
            start = offset
            page = dict(
                self._call(lambda c: c.get(where=where, include=sorted(asked), limit=PAGE, offset=start))  # noqa: B023
            )
            if "metadatas" in asked:  # the text comes out of the metadata (or the older document)
                metas = [dict(meta) for meta in page["metadatas"]]
                documents = page.get("documents") or [None] * len(metas)
                page["documents"] = [text_of(m, d) for m, d in zip(metas, documents, strict=True)]
                page["metadatas"] = metas
            for name in found:
                found[name].extend(page[name] or [])
            if len(page["ids"]) < PAGE:
                return found
            offset += PAGE

    def sources(self, where: dict[str, Any] | None = None) -> dict[str, int]:
        """Chunk count per source path (of the chunks ``where`` selects), read from the stored metadata."""
        counts: dict[str, int] = {}
        for meta in self.get(where, include=["metadatas"])["metadatas"]:
            counts[str(meta["source"])] = counts.get(str(meta["source"]), 0) + 1
        return counts

    def drop(self) -> None:
        """Delete the whole collection and start an empty one (``--reset``)."""
        from chromadb.errors import NotFoundError

        with contextlib.suppress(NotFoundError):
            self._client.delete_collection(self.name)
        self._collection = self._open()

    def describe(self) -> str:
        return f"Chroma server {self.url}" if self.url else f"index folder {self.index_dir}"

    @staticmethod
    def discard_damaged(index_dir: Path) -> Path | None:
        """Move a damaged ``chroma.sqlite3`` aside (``.damaged-<time>``) with the vector segment
        folders that belonged to it, so a fresh index can be built there (``--reset``)."""
        forget_client(index_dir)  # forget the open handles on the damaged file
        database = index_dir / DB_FILE
        if not database.exists():
            return None
        aside = index_dir / f"{DB_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        database.replace(aside)
        for extra in ("-wal", "-shm", "-journal"):
            database.with_name(DB_FILE + extra).unlink(missing_ok=True)
        for folder in index_dir.iterdir():  # Chroma's segment folders are named by UUID
            if folder.is_dir() and len(folder.name) == 36 and folder.name.count("-") == 4:
                shutil.rmtree(folder, ignore_errors=True)
        return aside


def _embedded_client(index_dir: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(index_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def server_client(url: str) -> Any:
    """Chroma's ``HttpClient`` for ``url`` (http(s)://host:port); :class:`StoreUnavailable` when the
    server does not answer."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    try:
        return chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as error:
        raise StoreUnavailable(_unreachable(url, error)) from error


def _unreachable(url: str, error: Exception) -> str:
    return (
        f"the Chroma server {url} (store_mode: server) did not answer ({type(error).__name__}: "
        f"{str(error)[:200]}): start it with `chroma run --path <folder> --port <port>` or check chroma_url"
    )


def _connection_error(error: Exception) -> bool:
    import httpx

    return isinstance(error, (httpx.TransportError, ConnectionError)) or "connect" in str(error).lower()


def forget_client(index_dir: Path) -> None:
    """Drop Chroma's cached client of ``index_dir`` (Chroma shares one per path in a process and
    keeps one whose start failed), so the next :class:`ChromaStore` opens the files anew. Clients
    of other paths are left alone."""
    from chromadb.api.shared_system_client import SharedSystemClient

    target = str(index_dir.resolve())
    for identifier in list(SharedSystemClient._identifier_to_system):
        try:
            same = str(Path(identifier).resolve()) == target
        except (OSError, ValueError):
            same = False
        if same:
            SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)


def _damage(error: Exception, index_dir: Path) -> Exception:
    """An :class:`IndexDamaged` naming the file and the fix when ``error`` says the database file
    is unreadable, or SQLite's own check of the file says so; ``error`` itself otherwise. (Chroma
    can hide the first error behind another one raised while it cleans up.)"""
    text = str(error).lower()
    if not (isinstance(error, sqlite3.DatabaseError) or any(word in text for word in DAMAGE_WORDS)):
        problem = _sqlite_problem(index_dir / DB_FILE)
        if problem is not None:
            error, text = problem, str(problem).lower()
    if isinstance(error, sqlite3.DatabaseError) or any(word in text for word in DAMAGE_WORDS):
        return IndexDamaged(
            f"the index file {index_dir / DB_FILE} is damaged ({type(error).__name__}: "
            f"{str(error)[:200]}): rebuild it with `python -m ingest --reset` (the documents are read "
            "again from the corpus folder)"
        )
    return error


def _sqlite_problem(database: Path) -> sqlite3.DatabaseError | None:
    """SQLite's quick check of ``database`` (read only): the error, or None when it reads."""
    if not database.is_file() or database.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.OperationalError:
        return None  # locked or busy: not damage
    except sqlite3.DatabaseError as error:
        return error
    if verdict and verdict[0] != "ok":
        return sqlite3.DatabaseError(str(verdict[0]))
    return None


def list_collections(settings: Settings) -> list[str]:
    """Collections in the index folder (or on the Chroma server), the configured one first (it may
    not exist yet); a damaged or unreachable store lists only the configured one (opening it then
    says what is wrong)."""
    names: list[str] = [settings.collection]
    server = settings.store_mode == "server"
    if not server and not (settings.index_dir / DB_FILE).exists():
        return names
    try:
        client = server_client(settings.chroma_url) if server else _embedded_client(settings.index_dir)
        found = sorted(getattr(c, "name", c) for c in client.list_collections())
    except Exception:
        return names
    return names + [n for n in found if n not in (settings.collection, STATE_COLLECTION)]
