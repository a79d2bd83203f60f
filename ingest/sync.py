"""Incremental sync of a folder into the index: add, update, skip unchanged, delete removed.

Unchanged files (same content hash, same chunking settings) are neither parsed nor embedded.
Chunks are embedded in batches that span files, written with deterministic ids (idempotent
upserts), and a file's older chunks are deleted only once its new ones are all written. The
manifest (see :mod:`ingest.manifest`) makes a killed run safe to re-run.

Example::

    report = sync_folder(load_settings(), Path("data/sample"))
    print(report.summary())
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.checks import UnusableFile, check_file, check_location
from ingest.chunking import Chunker
from ingest.loaders import parse_file, quiet_third_parties
from ingest.manifest import Entry, Manifest
from rag.embeddings import Embedder, make_embedder, model_path
from rag.keyword import KeywordIndex, keyword_dir, read_stamp
from rag.schema import Chunk, FileProblem, IngestReport
from rag.settings import Settings
from rag.store import ChromaStore

CHUNKER_VERSION = "2"  # bump when chunking changes, so existing files are re-chunked
WRITE_CHUNKS = 256  # chunks buffered (across files) before they are embedded and written
PARSE_WINDOW = 16  # files parsed (in parallel) before their chunks are embedded
MIN_FILES_FOR_POOL = 8  # for fewer files, starting parse workers costs more than it saves
MAX_PARSE_WORKERS = 4


class IngestError(Exception):
    """Nothing could be done: bad corpus path, unusable index folder, incompatible index."""


@dataclass(slots=True)
class _Job:
    path: Path
    source: str
    file_hash: str
    change: str  # "added" or "updated"


@dataclass(slots=True)
class _Pending:
    job: _Job
    ids: set[str]
    remaining: int


@dataclass(slots=True)
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
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
    with _index_lock(index_dir), Manifest(index_dir, settings.collection) as manifest:
        store = ChromaStore(index_dir, settings.collection)
        if reset:
            store.drop()
            manifest.clear()
        known = manifest.embedder()
        if known is not None and known != embedder_id(settings):
            raise IngestError(
                f"collection {settings.collection!r} was built with embedder {known}; "
                f"now {embedder_id(settings)}: re-run with --reset to rebuild it"
            )
        plan = _plan(root, files, manifest.entries(), pipeline_id(settings), report)
        if plan.deleted or plan.jobs or reset:
            _keyword_dirty(settings).touch()  # a run killed from here on rebuilds it next time
        for source in plan.deleted:
            report.chunks_deleted += store.delete_source(source)
            manifest.remove(source)
            report.deleted.append(source)
        if plan.jobs:
            manifest.set_embedder(embedder_id(settings))
            _Writer(settings, root, store, manifest, report, embedder).run(plan.jobs, progress, on_progress)
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
            plan.jobs.append(_Job(path, source, digest, "added"))
        elif entry.status == "done" and entry.file_hash == digest and entry.pipeline == pipeline:
            report.unchanged.append(source)
        else:
            plan.jobs.append(_Job(path, source, digest, "updated"))
    plan.deleted = sorted(set(entries) - present)
    return plan


class _Writer:
    """Parses, chunks, embeds and writes the files of a plan, batching chunks across files."""

    def __init__(
        self,
        settings: Settings,
        root: Path,
        store: ChromaStore,
        manifest: Manifest,
        report: IngestReport,
        embedder: Embedder | None,
    ) -> None:
        self.settings = settings
        self.root = root
        self.store = store
        self.manifest = manifest
        self.report = report
        self.embedder = embedder or make_embedder(settings)
        self.pipeline = pipeline_id(settings)
        self.chunker = Chunker(
            self.embedder.tokenizer,
            self.embedder.max_tokens,
            settings.chunk_size,
            settings.chunk_overlap,
            id_salt=self.pipeline,
        )
        self.pending: dict[str, _Pending] = {}
        self.buffer: list[Chunk] = []
        self.flush_size = max(WRITE_CHUNKS, settings.embedding_batch_size)

    def run(
        self, jobs: list[_Job], progress: bool, on_progress: Callable[[int, int, str], None] | None = None
    ) -> None:
        """Parse a window of files (in parallel when worth it), then embed and write its chunks.

        Parsing and embedding alternate instead of overlapping: PyTorch already uses every core,
        and sharing them with a parser thread slowed the whole run down.
        """
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="file", desc="ingest", disable=not progress)
        pool = self._parse_pool(len(jobs))
        try:
            for start in range(0, len(jobs), PARSE_WINDOW):
                window = jobs[start : start + PARSE_WINDOW]
                if pool is not None:
                    results = list(pool.map(_parse_in_worker, window))
                else:
                    results = [parse_job(job, self.settings, self.root, self.chunker) for job in window]
                for job, parsed in zip(window, results, strict=True):
                    self._index(job, parsed)
                    bar.update(1)
                    if on_progress is not None:
                        on_progress(bar.n, len(jobs), job.source)
                bar.set_postfix(chunks=self.report.chunks_written)
            self._write(self.buffer)
            self.buffer = []
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            bar.close()

    def _parse_pool(self, files: int) -> ProcessPoolExecutor | None:
        workers = min(os.cpu_count() or 1, MAX_PARSE_WORKERS)
        if files < MIN_FILES_FOR_POOL or workers < 2 or "fork" not in mp.get_all_start_methods():
            return None
        return ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("fork"),
            initializer=_init_worker,
            initargs=(self.settings, self.root, self.chunker),
        )

    def _index(self, job: _Job, parsed: _Parsed) -> None:
        self.report.warnings.extend(FileProblem(job.source, w) for w in parsed.warnings)
        if parsed.failure is not None or not parsed.chunks:
            reason = parsed.failure or "no text found in the document"
            self.report.failed.append(FileProblem(job.source, reason))
            return
        chunks = parsed.chunks
        self.manifest.mark_pending(job.source, job.file_hash, self.pipeline)
        self.pending[job.source] = _Pending(job, {c.id for c in chunks}, len(chunks))
        self.buffer.extend(chunks)
        while len(self.buffer) >= self.flush_size:
            self._write(self.buffer[: self.flush_size])
            del self.buffer[: self.flush_size]

    def _write(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        vectors = self.embedder.embed([chunk.embed_text for chunk in chunks])
        self.store.upsert(chunks, vectors)
        self.report.chunks_written += len(chunks)
        for chunk in chunks:
            pending = self.pending[chunk.source]
            pending.remaining -= 1
            if pending.remaining == 0:
                self._finish(pending)

    def _finish(self, pending: _Pending) -> None:
        job = pending.job
        if job.change == "updated":  # an added file had no manifest row, hence no chunks stored
            self.report.chunks_deleted += self.store.delete_source(job.source, keep_ids=pending.ids)
        self.manifest.mark_done(job.source, len(pending.ids))
        (self.report.added if job.change == "added" else self.report.updated).append(job.source)
        del self.pending[job.source]


@dataclass(slots=True)
class _Parsed:
    chunks: list[Chunk] | None
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)


def parse_job(job: _Job, settings: Settings, root: Path, chunker: Chunker) -> _Parsed:
    """Check, parse and chunk one file; failures come back as reasons, never as exceptions."""
    try:
        check_file(job.path, root, settings)
        document = parse_file(job.path, settings)
        suffix = job.path.suffix.lower().lstrip(".")
        chunks = chunker.chunk(document, job.source, job.file_hash, suffix)
    except UnusableFile as problem:
        return _Parsed(None, problem.reason)
    except Exception as error:  # a parser bug must not stop the other files
        return _Parsed(None, f"could not be parsed: {type(error).__name__}: {error}")
    return _Parsed(chunks, None, list(document.warnings))


_worker_context: list[tuple[Settings, Path, Chunker]] = []  # set once in each parse worker


def _init_worker(settings: Settings, root: Path, chunker: Chunker) -> None:
    _worker_context[:] = [(settings, root, chunker)]
    _exit_with_parent(os.getppid())


def _exit_with_parent(parent: int) -> None:
    """A parse worker must not outlive an ingestion that was killed (kill -9 skips all clean-up)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _parse_in_worker(job: _Job) -> _Parsed:
    settings, root, chunker = _worker_context[0]
    return parse_job(job, settings, root, chunker)
