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

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest import fast
from ingest.checks import UnusableFile, check_location
from ingest.loaders import quiet_third_parties
from ingest.manifest import Entry, Manifest, read_entries
from ingest.repair import verify_index
from ingest.writer import Job, Writer
from rag.core.access import AccessRules
from rag.core.errors import IndexDamaged, IngestError, SettingsError
from rag.core.schema import FileProblem, IngestReport
from rag.core.settings import Settings
from rag.index.collection import Index
from rag.index.embeddings import Embedder, model_path
from rag.index.static import wordllama_id

CHUNKER_VERSION = "4"  # bump when chunking changes, so existing files are re-chunked


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
    """What a collection's vectors were made with (recorded in the manifest): the model, then the
    backend. WordLlama reads no model folder: its table and package version stand in for one."""
    if settings.embedding_backend == "wordllama":
        return f"{wordllama_id()}|wordllama"
    return f"{model_path(settings)}|{settings.embedding_backend}"


def vector_space(embedder: str) -> str:
    """The part of an :func:`embedder_id` that decides which vectors can be compared: torch, onnx
    and openvino-int8 run one sentence-transformers model (the same vectors, or nearly), WordLlama
    and the hash embedder are spaces of their own."""
    backend = embedder.rpartition("|")[2]
    return backend if backend in ("wordllama", "hash") else "sentence-transformers"


def check_query_embedder(settings: Settings) -> None:
    """Refuse (:class:`SettingsError`) to query a collection whose vectors another kind of embedder
    made: its question vectors would be compared with vectors of another space (a Chroma dimension
    error at best, silently wrong hits at worst). Reads the manifest only; nothing recorded (a new
    collection, another machine's index in ``store_mode: server``) passes."""
    import sqlite3

    path = settings.index_dir / Manifest.FILE
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT embedder FROM collections WHERE collection = ?", (settings.collection,)
            ).fetchone()
    except sqlite3.DatabaseError:
        return  # a damaged manifest is ingestion's to repair; retrieval still works
    if row is None:
        return
    built = vector_space(row[0])
    if built != vector_space(embedder_id(settings)):
        backend = row[0].rpartition("|")[2]
        raise SettingsError(
            f"collection {settings.collection!r} was indexed with embedding_backend {backend}, not "
            f"{settings.embedding_backend}: set embedding_backend: {backend} "
            f"(RAG_EMBEDDING_BACKEND={backend}) to query it, or re-index it with --reset"
        )


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
    allow_mass_delete: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> IngestReport:
    """Bring the collection in line with ``folder`` (default: ``settings.corpus_dir``).

    Refuses (:class:`IngestError`) to delete more than ``max_delete_share`` of the indexed documents
    in one run unless ``allow_mass_delete``: an unmounted share looks like an empty folder. After
    the run the index is checked against the manifest, and files whose chunks are missing are
    indexed again (see :mod:`ingest.repair`). ``progress`` draws a terminal progress bar;
    ``on_progress(done, total, source)`` is called after each file (a UI's progress bar)."""
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
    # on the fast path the parse workers are forked, and the garbage collector kept off the objects
    # that exist before (see ingest.fast)
    with (
        _index_lock(index_dir),
        Manifest(index_dir, settings.collection) as manifest,
        fast.frozen_if_fast(settings),
    ):
        if manifest.recovered:
            report.warnings.append(FileProblem(Manifest.FILE, manifest.recovered))
        if reset:
            _open_index(settings, reset=True).reset()
            manifest.clear()
        known = manifest.embedder()
        if known is not None and known != embedder_id(settings):
            backend = known.rpartition("|")[2]
            keep = (
                f"set embedding_backend: {backend} (RAG_EMBEDDING_BACKEND={backend}) to update it, or "
                if backend != settings.embedding_backend
                else ""
            )
            raise IngestError(
                f"collection {settings.collection!r} was built with embedder {known}; "
                f"now {embedder_id(settings)}: {keep}re-run with --reset to rebuild it"
            )
        passes = _Pass(settings, root, manifest, report, embedder, progress, on_progress)
        index = passes.run(files, manifest.entries(), allow_mass_delete)
        repaired = verify_index(index, manifest)
        if repaired:  # missing chunks (a damaged or replaced store, a killed delete): index again
            report.warnings.extend(repaired)
            names = {problem.source for problem in repaired}
            entries = {s: e for s, e in manifest.entries().items() if s in names}
            passes.run([f for f in files if f[0] in names], entries, allow_mass_delete=True)
            report.unchanged = [s for s in report.unchanged if s not in names]
        index.clear_pins()  # a killed run's pins too
        report.relabelled = index.relabel(AccessRules(settings.access_rules))
        index.refresh_keyword()
    report.seconds = time.perf_counter() - started
    return report


@dataclass(slots=True)
class _Pass:
    """One planning + writing pass of :func:`sync_folder` (a second one repairs what was missing)."""

    settings: Settings
    root: Path
    manifest: Manifest
    report: IngestReport
    embedder: Embedder | None
    progress: bool
    on_progress: Callable[[int, int, str], None] | None
    index: Index | None = None

    def run(self, files: list[tuple[str, Path]], entries: dict[str, Entry], allow_mass_delete: bool) -> Index:
        settings, manifest, report = self.settings, self.manifest, self.report
        pipeline = pipeline_id(settings)
        plan = _plan(self.root, files, entries, pipeline, report)
        if not allow_mass_delete:
            _refuse_mass_delete(settings, self.root, plan.deleted, len(entries), len(files))
        writer = None
        if plan.jobs:  # its workers parse the first files while the index opens
            writer = Writer(settings, self.root, manifest, report, plan.jobs, self.embedder, pipeline)
        try:
            index = self.index = self.index or _open_index(settings)
            if plan.deleted or plan.jobs:
                index.mark_changing()  # a run killed from here on rebuilds the keyword index
            index.pin(dict.fromkeys(plan.deleted, ""))  # gone for readers before any chunk goes
            for source in plan.deleted:
                manifest.mark_deleting(source)
                report.chunks_deleted += index.delete_source(source)
                manifest.remove(source)
                report.deleted.append(source)
            index.unpin(plan.deleted)
            if writer is not None:
                manifest.set_embedder(embedder_id(settings))
                writer.run(index, self.progress, self.on_progress)
        finally:
            if writer is not None:
                writer.close()
        return index


def _refuse_mass_delete(settings: Settings, root: Path, deleted: list[str], indexed: int, found: int) -> None:
    """An unmounted network share looks like an empty folder: deleting most of the index because
    files are missing needs ``--allow-mass-delete``."""
    share = len(deleted) / indexed if indexed else 0.0
    if not deleted or ((share <= settings.max_delete_share or len(deleted) < 2) and found):
        return
    raise IngestError(
        f"refusing to delete {len(deleted)} of the {indexed} indexed documents ({share:.0%}; the limit "
        f"is max_delete_share {settings.max_delete_share:.0%}): they are missing from {root}"
        + (" (no supported files found there)" if not found else "")
        + ". Is the folder (a network share?) mounted? To delete them, re-run with --allow-mass-delete "
        "(in the chat: tick 'Allow a mass delete')."
    )


def _open_index(settings: Settings, reset: bool = False) -> Index:
    """The collection's index, opened; a damaged database is an :class:`IngestError` naming the file
    and the fix, or, with ``reset``, moved aside so a fresh one is built."""
    index = Index.of(settings)
    try:
        index.store  # noqa: B018 (opens it)
    except IndexDamaged as error:
        if not reset:
            raise IngestError(str(error)) from error
        index.reset()
    return index


def remove_document(settings: Settings, source: str) -> int:
    """Remove one document (path relative to the corpus root) from the index; chunks removed.

    The manifest row goes pending before any chunk is deleted, so a process killed mid-delete leaves
    a row the next ingestion finishes (or re-indexes, when the file is still in the folder).

    Example::

        remove_document(load_settings(), "policies/old_travel_policy.pdf")
    """
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with _index_lock(settings.index_dir), Manifest(settings.index_dir, settings.collection) as manifest:
        index = _open_index(settings)
        index.mark_changing()
        index.pin({source: ""})  # gone for readers before any chunk goes
        manifest.mark_deleting(source)
        removed = index.delete_source(source)
        manifest.remove(source)
        index.unpin([source])
        index.refresh_keyword()
    return removed


def _read_entries(settings: Settings) -> dict[str, Entry]:
    """The manifest's rows, read only (a dry run changes nothing, a damaged manifest included)."""
    import sqlite3

    path = settings.index_dir / Manifest.FILE
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return read_entries(db, settings.collection)
    except sqlite3.DatabaseError as error:
        raise IngestError(f"{path} is damaged ({error}): a real run rebuilds it") from error


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
            previous = entry.file_hash if entry.status == "done" else ""
            plan.jobs.append(Job(path, source, digest, "updated", previous))
    plan.deleted = sorted(set(entries) - present)
    return plan
