"""Incremental sync of a folder into the index: add, update, skip unchanged, delete removed.

Unchanged files (same content hash, same chunking settings) are neither parsed nor embedded.
Chunks are embedded in batches that span files (see :mod:`ingest.writer`), written with
deterministic ids (idempotent upserts), and a file's older chunks are deleted only once its new
ones are all written. The manifest (see :mod:`ingest.manifest`) makes a killed run safe to re-run.

Example::

    report = sync_folder(load_settings(), Path("data/sample"))
    print(report.summary())
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.checks import UnusableFile, check_location
from ingest.loaders import quiet_third_parties
from ingest.manifest import Entry, Manifest
from ingest.workers import objects_frozen
from ingest.writer import Job, Writer
from rag.embeddings import Embedder, model_path
from rag.keyword import KeywordIndex, keyword_dir, read_stamp
from rag.schema import FileProblem, IngestReport
from rag.settings import Settings
from rag.store import ChromaStore

CHUNKER_VERSION = "2"  # bump when chunking changes, so existing files are re-chunked


class IngestError(Exception):
    """Nothing could be done: bad corpus path, unusable index folder, incompatible index."""


@dataclass(slots=True)
class _Plan:
    jobs: list[Job] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pipeline_id(settings: Settings) -> str:
    """Everything that changes a file's chunks; a change re-indexes every file."""
    parts = [
        CHUNKER_VERSION,
        settings.chunk_size,
        settings.chunk_overlap,
        settings.pdf_strategy,
        embedder_id(settings),
    ]
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:12]


def embedder_id(settings: Settings) -> str:
    return f"{model_path(settings)}|{settings.embedding_backend}"


def scan_folder(root: Path, settings: Settings) -> tuple[list[tuple[str, Path]], list[FileProblem]]:
    """Files under ``root`` of the configured types (sorted), and what was skipped and why."""
    found: list[tuple[str, Path]] = []
    skipped: list[FileProblem] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in sorted(dirs):
            if (base / name).is_symlink():
                skipped.append(FileProblem(_relative(base / name, root), "symlinked folder not followed"))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (base / d).is_symlink())
        for name in sorted(files):
            path = base / name
            source = _relative(path, root)
            if name.startswith((".", "~$")):
                continue  # hidden files and Office lock files
            if path.suffix.lower() not in settings.file_types:
                skipped.append(FileProblem(source, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            found.append((source, path))
    return sorted(found), skipped


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


@contextmanager
def _index_lock(index_dir: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(index_dir / ".ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as error:
        raise IngestError(f"another ingestion is running on {index_dir}") from error
    try:
        yield
    finally:
        lock.release()


def sync_folder(
    settings: Settings,
    folder: Path | str | None = None,
    *,
    dry_run: bool = False,
    reset: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> IngestReport:
    """Bring the collection in line with ``folder`` (default: ``settings.corpus_dir``).

    ``progress`` draws a terminal progress bar; ``on_progress(done, total, source)`` is called after
    each file (a UI's progress bar)."""
    quiet_third_parties()
    started = time.perf_counter()
    root = Path(folder or settings.corpus_dir).expanduser().resolve()
    if not root.is_dir():
        raise IngestError(f"corpus folder not found or not a folder: {root}")
    files, skipped = scan_folder(root, settings)
    report = IngestReport(skipped=skipped, dry_run=dry_run)
    if dry_run:
        entries = {} if reset else _read_entries(settings)
        plan = _plan(root, files, entries, pipeline_id(settings), report)
        report.added = [j.source for j in plan.jobs if j.change == "added"]
        report.updated = [j.source for j in plan.jobs if j.change == "updated"]
        report.deleted = plan.deleted
        return report
    index_dir = settings.index_dir
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        probe = index_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise IngestError(f"index folder {index_dir} is not writable: {error}") from error
    # objects_frozen: the parse workers are forked, and the garbage collector kept off the objects
    # that exist before (see ingest.workers)
    with _index_lock(index_dir), Manifest(index_dir, settings.collection) as manifest, objects_frozen():
        if reset:
            ChromaStore(index_dir, settings.collection).drop()
            manifest.clear()
        known = manifest.embedder()
        if known is not None and known != embedder_id(settings):
            raise IngestError(
                f"collection {settings.collection!r} was built with embedder {known}; "
                f"now {embedder_id(settings)}: re-run with --reset to rebuild it"
            )
        pipeline = pipeline_id(settings)
        plan = _plan(root, files, manifest.entries(), pipeline, report)
        writer = None
        if plan.jobs:  # its workers parse the first files while the index opens
            writer = Writer(settings, root, manifest, report, plan.jobs, embedder, pipeline)
        try:
            store = ChromaStore(index_dir, settings.collection)
            if plan.deleted or plan.jobs or reset:
                _keyword_dirty(settings).touch()  # a run killed from here on rebuilds it next time
            for source in plan.deleted:
                report.chunks_deleted += store.delete_source(source)
                manifest.remove(source)
                report.deleted.append(source)
            if writer is not None:
                manifest.set_embedder(embedder_id(settings))
                writer.run(store, progress, on_progress)
        finally:
            if writer is not None:
                writer.close()
        refresh_keyword_index(settings, store)
    report.seconds = time.perf_counter() - started
    return report


def remove_document(settings: Settings, source: str) -> int:
    """Remove one document (path relative to the corpus root) from the index; chunks removed.

    Example::

        remove_document(load_settings(), "policies/old_travel_policy.pdf")
    """
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with _index_lock(settings.index_dir), Manifest(settings.index_dir, settings.collection) as manifest:
        store = ChromaStore(settings.index_dir, settings.collection)
        _keyword_dirty(settings).touch()
        removed = store.delete_source(source)
        manifest.remove(source)
        refresh_keyword_index(settings, store)
    return removed


def _keyword_dirty(settings: Settings) -> Path:
    folder = keyword_dir(settings.index_dir, settings.collection)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.with_name(folder.name + ".dirty")


def refresh_keyword_index(settings: Settings, store: ChromaStore) -> None:
    """Rebuild the BM25 index when the collection changed since it was built (or it is missing)."""
    dirty = _keyword_dirty(settings)
    stamp = None if dirty.exists() else read_stamp(settings.index_dir, settings.collection)
    if stamp is None or stamp["chunks"] != store.count():
        KeywordIndex.build(store, settings.index_dir)
    dirty.unlink(missing_ok=True)


def _read_entries(settings: Settings) -> dict[str, Entry]:
    if not (settings.index_dir / "manifest.sqlite3").exists():
        return {}
    with Manifest(settings.index_dir, settings.collection) as manifest:
        return dict(manifest.entries())


def _plan(
    root: Path, files: list[tuple[str, Path]], entries: dict[str, Entry], pipeline: str, report: IngestReport
) -> _Plan:
    plan = _Plan()
    present = set()
    for source, path in files:
        present.add(source)
        try:
            check_location(path, root)
            digest = file_hash(path)
        except UnusableFile as problem:
            report.failed.append(FileProblem(source, problem.reason))
            continue
        except PermissionError:
            report.failed.append(FileProblem(source, "unreadable: permission denied"))
            continue
        except OSError as error:
            report.failed.append(FileProblem(source, f"unreadable: {error.strerror or error}"))
            continue
        entry = entries.get(source)
        if entry is None:
            plan.jobs.append(Job(path, source, digest, "added"))
        elif entry.status == "done" and entry.file_hash == digest and entry.pipeline == pipeline:
            report.unchanged.append(source)
        else:
            plan.jobs.append(Job(path, source, digest, "updated"))
    plan.deleted = sorted(set(entries) - present)
    return plan
