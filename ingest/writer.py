"""Parse, chunk, embed and write the files of a sync plan, with every core kept busy.

The schedule on a small machine (measured on 2 cores, see README): files are parsed a window at
a time in worker processes, then their chunks are embedded in the main process, which uses every
core for PyTorch. The two must not overlap (PyTorch's threads spin-wait for each other, and a
competing process slows it down threefold), but Chroma's writes are single-threaded, so the
window's embedded batches are written while the workers parse the next window. At the start the
parsers are imported (once, see :mod:`ingest.fast.workers`) while this process opens the index and
imports the keyword index's library; a window's chunks are embedded in one call (sorted by length,
so little padding).

Example::

    writer = Writer(settings, root, manifest, report, jobs)   # forks and warms the parse workers
    writer.run(store)                                          # parse, embed, write; report filled
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest import fast
from ingest.checks import UnusableFile, check_file
from ingest.chunking import Chunker
from ingest.fast.workers import ParseService
from ingest.loaders import parse_file
from ingest.manifest import Manifest
from rag.core.access import AccessRules
from rag.core.schema import Chunk, FileProblem, IngestReport
from rag.core.settings import Settings
from rag.index.collection import Index
from rag.index.embeddings import Embedder, make_embedder

WRITE_CHUNKS = 1024  # most chunks per embedding call and Chroma write
FIRST_WINDOW = 16  # files parsed (in parallel) before the first chunks are embedded
PARSE_WINDOW = 48  # files parsed per later window. One embedding call sorts a window's chunks by
# length, and a longer call pads less (2,010 chunks in calls of ~190: 4.0% more word pieces than
# in one call; of ~570: 1.3%; of ~1,140: 0.5%), but a window's parse hides behind the previous
# window's Chroma writes only where the two are of a size: 96 files exposed more than it saved.
MIN_FILES_FOR_POOL = 8  # for fewer files, starting parse workers costs more than it saves
KEYWORD_MODULE = "llama_index.retrievers.bm25"  # imported ahead, while the workers parse


@dataclass(slots=True)
class Job:
    """One file to (re)index."""

    path: Path
    source: str
    file_hash: str
    change: str  # "added" or "updated"
    previous: str = ""  # the file hash indexed before (an update), "" for none


@dataclass(slots=True)
class Parsed:
    chunks: list[Chunk] | None
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    job: Job
    ids: set[str]
    remaining: int
    pinned: bool = False


class Writer:
    """Indexes a plan's files into a store, batching chunks across files.

    Crash safety: a file is marked pending in the manifest before any of its chunks is written and
    done only once all are; an updated file's old chunks are deleted after that, so a run killed at
    any point re-runs into no duplicates and no orphans.

    Readers never see half a file: each file is pinned (:meth:`Index.pin`) to the version readers
    saw before (its old file hash, or nothing for a new file) before its chunks are written, and
    pinned to the new one only once all are; its old chunks are deleted after that switch. Pins
    are written once per window of files, not per file. Each chunk is labelled with the groups
    that may read it (``access_rules``).

    Example::

        writer = Writer(settings, Path("data/sample"), manifest, report, plan.jobs)
        try:
            writer.run(Index.of(settings))
        finally:
            writer.close()
    """

    def __init__(
        self,
        settings: Settings,
        root: Path,
        manifest: Manifest,
        report: IngestReport,
        jobs: list[Job],
        embedder: Embedder | None = None,
        pipeline: str = "",
    ) -> None:
        self.settings = settings
        self.root = root
        self.manifest = manifest
        self.report = report
        self.jobs = jobs
        self.embedder = embedder or make_embedder(settings)
        self.pipeline = pipeline
        self.chunker = Chunker(
            self.embedder.tokenizer,
            self.embedder.max_tokens,
            settings.chunk_size,
            settings.chunk_overlap,
            id_salt=pipeline,
        )
        self.rules = AccessRules(settings.access_rules)
        self.pending: dict[str, _Pending] = {}
        self.buffer: list[Chunk] = []  # parsed, not yet embedded
        self.embedded: list[tuple[list[Chunk], Any]] = []  # embedded, not yet written
        self.flush_size = max(WRITE_CHUNKS, settings.embedding_batch_size)
        self.store: Index | None = None
        self._workers = fast.worker_count(settings)
        self._service = self._start_service()
        self._windows = [jobs[:FIRST_WINDOW]] + [
            jobs[start : start + PARSE_WINDOW] for start in range(FIRST_WINDOW, len(jobs), PARSE_WINDOW)
        ]
        self._parsing = self._dispatch(self._windows[0])  # parsed while the caller opens the index

    def _start_service(self) -> ParseService | None:
        if (
            not fast.enabled(self.settings)
            or len(self.jobs) < MIN_FILES_FOR_POOL
            or self._workers < 2
            or "fork" not in mp.get_all_start_methods()
        ):
            return None
        settings, root, chunker = self.settings, self.root, self.chunker
        suffixes = sorted({job.path.suffix.lower() for job in self.jobs})
        return ParseService(lambda job: parse_job(job, settings, root, chunker), suffixes, self._workers)

    def run(
        self,
        store: Index,
        progress: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        """Parse the files a window at a time, embed their chunks, write them while the next
        window parses. ``progress`` draws a terminal bar; ``on_progress(done, total, source)``
        follows each file."""
        from tqdm import tqdm

        self.store = store
        jobs, windows, parsing = self.jobs, self._windows, self._parsing
        bar = tqdm(total=len(jobs), unit="file", desc="ingest", disable=not progress)
        try:
            if self._service is not None:  # nothing to do but wait for the workers: import meanwhile
                importlib.import_module(KEYWORD_MODULE)
            for number in range(len(windows)):
                for job, parsed in parsing():
                    self._index(job, parsed)
                    bar.update(1)
                    if on_progress is not None:
                        on_progress(bar.n, len(jobs), job.source)
                if number + 1 == len(windows):
                    self.close()  # all parsed: stop sharing memory with the workers (see close)
                self._embed_buffer()  # the workers are idle: PyTorch gets every core
                if number + 1 < len(windows):
                    parsing = self._dispatch(windows[number + 1])
                self._write_embedded()  # Chroma writes while the workers parse the next window
                bar.set_postfix(chunks=self.report.chunks_written)
        finally:
            bar.close()

    def close(self) -> None:
        """Stop the parse workers. While forked workers live, this process's first write to any
        page it still shares with them is a copy-on-write fault: measured, the same embedding
        calls took 1-2 core-seconds more system time per 2,000 chunks with them alive."""
        if self._service is not None:
            self._service.close()
            self._service = None

    def _dispatch(self, window: list[Job]) -> Callable[[], list[tuple[Job, Parsed]]]:
        """Start parsing ``window``; the returned call waits for (job, parsed) pairs."""
        service = self._service
        if service is None:
            return lambda: [(job, parse_job(job, self.settings, self.root, self.chunker)) for job in window]
        service.submit(window)
        return lambda: list(zip(window, service.results(), strict=True))

    def _index(self, job: Job, parsed: Parsed) -> None:
        self.report.warnings.extend(FileProblem(job.source, w) for w in parsed.warnings)
        if parsed.failure is not None or not parsed.chunks:
            reason = parsed.failure or "no text found in the document"
            self.report.failed.append(FileProblem(job.source, reason))
            return
        labels = tuple(self.rules.labels(job.source))
        chunks = [
            chunk if chunk.access == labels else replace(chunk, access=labels) for chunk in parsed.chunks
        ]
        self.manifest.mark_pending(job.source, job.file_hash, self.pipeline)
        self.pending[job.source] = _Pending(job, {c.id for c in chunks}, len(chunks))
        self.buffer.extend(chunks)

    def _embed_buffer(self) -> None:
        """Embed the parsed window now, in near-equal batches of at most ``flush_size`` chunks;
        write them later."""
        chunks, self.buffer = self.buffer, []
        batches = -(-len(chunks) // self.flush_size)
        for number in range(batches):
            batch = chunks[number * len(chunks) // batches : (number + 1) * len(chunks) // batches]
            self.embedded.append((batch, self.embedder.embed([chunk.embed_text for chunk in batch])))

    def _write_embedded(self) -> None:
        """Write the embedded batches; then the files they complete are marked done."""
        store = self.store
        assert store is not None
        if not self.embedded:
            return
        fresh = [pending for pending in self.pending.values() if not pending.pinned]
        store.pin({pending.job.source: pending.job.previous for pending in fresh})  # old version only
        for pending in fresh:
            pending.pinned = True
        complete: list[_Pending] = []
        while self.embedded:
            chunks, vectors = self.embedded.pop(0)
            store.upsert(chunks, vectors)
            self.report.chunks_written += len(chunks)
            for chunk in chunks:
                pending = self.pending[chunk.source]
                pending.remaining -= 1
                if pending.remaining == 0:
                    complete.append(pending)
        store.pin({pending.job.source: pending.job.file_hash for pending in complete})  # the switch
        for pending in complete:
            self._finish(pending)
        store.unpin(pending.job.source for pending in complete)

    def _finish(self, pending: _Pending) -> None:
        job = pending.job
        assert self.store is not None
        if job.change == "updated":  # an added file had no manifest row, hence no chunks stored
            self.report.chunks_deleted += self.store.delete_source(job.source, keep_ids=pending.ids)
        self.manifest.mark_done(job.source, len(pending.ids))
        (self.report.added if job.change == "added" else self.report.updated).append(job.source)
        del self.pending[job.source]


def parse_job(job: Job, settings: Settings, root: Path, chunker: Chunker) -> Parsed:
    """Check, parse and chunk one file; failures come back as reasons, never as exceptions."""
    try:
        check_file(job.path, root, settings)
        document = parse_file(job.path, settings)
        suffix = job.path.suffix.lower().lstrip(".")
        chunks = chunker.chunk(document, job.source, job.file_hash, suffix)
    except UnusableFile as problem:
        return Parsed(None, problem.reason)
    except Exception as error:  # a parser bug must not stop the other files
        return Parsed(None, f"could not be parsed: {type(error).__name__}: {error}")
    return Parsed(chunks, None, list(document.warnings))
