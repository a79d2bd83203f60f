"""The sync manifest: which file version each indexed document came from (SQLite, in the index).

A row is written as ``pending`` *before* any chunk of a file reaches the store and becomes
``done`` only after all of them are written and the older versions' chunks are deleted. So
after a crash (even ``kill -9``) every source with chunks in the store has a row, and the next
run finishes or removes it: no duplicates, no orphans.

Example::

    with Manifest(Path("data/index"), "sample") as manifest:
        manifest.mark_pending("handbook.md", "ab12...", "pipeline-v1")
        manifest.mark_done("handbook.md", chunks=12)
        print(manifest.entries())
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
    chunks INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS collections (
    collection TEXT PRIMARY KEY,
    embedder TEXT NOT NULL
);
"""


def read_entries(db: sqlite3.Connection, collection: str) -> dict[str, Entry]:
    """The rows of ``collection`` (also used on a read-only connection by dry runs)."""
    rows = db.execute(
        "SELECT source, file_hash, pipeline, status, chunks FROM files WHERE collection = ?", (collection,)
    )
    return {row[0]: Entry(*row) for row in rows}


@dataclass(frozen=True, slots=True)
class Entry:
    """One indexed (or half-indexed) file."""

    source: str
    file_hash: str
    pipeline: str
    status: str
    chunks: int


class Manifest:
    """Per-collection record of indexed files, kept next to the Chroma index.

    A manifest file that is not a readable SQLite database (garbage, truncated) is moved aside to
    ``manifest.sqlite3.damaged`` and started anew; ``recovered`` then names what happened, and
    ingestion rebuilds the rows from what the store holds (see :func:`ingest.repair.recover_entries`).
    """

    FILE = "manifest.sqlite3"

    def __init__(self, index_dir: Path, collection: str) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.collection = collection
        self.recovered = ""
        path = index_dir / self.FILE
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as error:
            aside = path.with_name(self.FILE + ".damaged")
            path.replace(aside)
            for extra in ("-wal", "-shm"):
                path.with_name(self.FILE + extra).unlink(missing_ok=True)
            self.recovered = f"{path} was damaged ({error}): moved to {aside.name} and rebuilt from the index"
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a killed process (only a power cut may lose the last commits)
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM files").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def __enter__(self) -> Manifest:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def entries(self) -> dict[str, Entry]:
        return read_entries(self._db, self.collection)

    def mark_pending(self, source: str, file_hash: str, pipeline: str) -> None:
        self._db.execute(
            "INSERT INTO files (collection, source, file_hash, pipeline, status, updated_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (collection, source) DO UPDATE SET "
            "file_hash = excluded.file_hash, pipeline = excluded.pipeline, status = 'pending', "
            "updated_at = excluded.updated_at",
            (self.collection, source, file_hash, pipeline, time.time()),
        )

    def mark_done(self, source: str, chunks: int) -> None:
        self._db.execute(
            "UPDATE files SET status = 'done', chunks = ?, updated_at = ? "
            "WHERE collection = ? AND source = ?",
            (chunks, time.time(), self.collection, source),
        )

    def mark_deleting(self, source: str) -> None:
        """Before a document's chunks are deleted: a run killed mid-delete leaves the row pending,
        so the next ingestion re-indexes the file (still in the folder) or finishes the delete."""
        self._db.execute(
            "UPDATE files SET status = 'pending', updated_at = ? WHERE collection = ? AND source = ?",
            (time.time(), self.collection, source),
        )

    def remove(self, source: str) -> None:
        self._db.execute("DELETE FROM files WHERE collection = ? AND source = ?", (self.collection, source))

    def clear(self) -> None:
        self._db.execute("DELETE FROM files WHERE collection = ?", (self.collection,))
        self._db.execute("DELETE FROM collections WHERE collection = ?", (self.collection,))

    def embedder(self) -> str | None:
        row = self._db.execute(
            "SELECT embedder FROM collections WHERE collection = ?", (self.collection,)
        ).fetchone()
        return row[0] if row else None

    def set_embedder(self, embedder: str) -> None:
        self._db.execute(
            "INSERT INTO collections (collection, embedder) VALUES (?, ?) "
            "ON CONFLICT (collection) DO UPDATE SET embedder = excluded.embedder",
            (self.collection, embedder),
        )
