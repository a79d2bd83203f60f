"""The fast ingestion path: every trick that makes ingestion fast on a small machine, in one place.

Behind one switch, ``parse_workers`` (``RAG_PARSE_WORKERS``): empty (the default) = the fast path
with one parse worker per core (at most 4); a number = that many workers; ``0`` = the plain serial
path (each file parsed, chunked, embedded and written in this process, with the library's own
defaults), which reads top to bottom in :mod:`ingest.writer` and produces the same chunks.

What each trick buys (2 cores; the README's "Ingestion in detail" has the whole table):

* :mod:`ingest.fast.workers`: parse workers forked from one coordinator process that imported the
  parsers once (about 2 s of CPU for unstructured, spaCy, pdfminer, python-docx) while this process
  opens the index; files go in windows, parsed while the previous window's chunks are written.
  Together with the rest, the pipeline runs at 0.83-0.85 of the speed of raw embedding alone.
* ``malloc_trim`` before the fork: the first 600 chunks embedded after a fork took 0.9-1.2 s of
  system time (copy-on-write faults on shared heap pages) instead of 0.25-0.35 s.
* ``gc.freeze`` (:func:`ingest.fast.workers.objects_frozen`): full collections over the ~500,000
  objects PyTorch, transformers and the parsers leave behind cost 1.4 s in one ingestion of 170
  files, 0.25 s frozen.
* :mod:`ingest.fast.narrative`: unstructured's spaCy NarrativeText check is skipped where its
  answer cannot change a chunk: about 60% of Markdown/HTML and most of plain-text parse time. It
  patches ``is_possible_narrative_text`` inside five unstructured modules, so unstructured is
  pinned to the tested range in pyproject.toml, and tests/ingest/test_fast.py fails loudly when
  a patched function disappears or changes signature.

Example::

    from ingest import fast
    with fast.frozen_if_fast(settings):          # gc.freeze on the fast path only
        with fast.trimmed_if_fast(settings, ".md"):
            elements = partition_md(filename="handbook.md")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rag.core.settings import Settings

MAX_PARSE_WORKERS = 4  # more workers than this did not pay for their memory (565 MB each)

__all__ = ["enabled", "frozen_if_fast", "trimmed_if_fast", "worker_count"]


def enabled(settings: Settings) -> bool:
    """Whether ingestion takes the fast path (``parse_workers`` not 0)."""
    return settings.parse_workers != 0


def worker_count(settings: Settings) -> int:
    """How many parse workers the fast path starts (``parse_workers``, or one per core, at most 4)."""
    if settings.parse_workers is not None:
        return settings.parse_workers
    return min(os.cpu_count() or 1, MAX_PARSE_WORKERS)


@contextlib.contextmanager
def frozen_if_fast(settings: Settings) -> Iterator[None]:
    """:func:`ingest.fast.workers.objects_frozen` on the fast path; nothing on the serial one."""
    from ingest.fast.workers import objects_frozen

    with objects_frozen() if enabled(settings) else contextlib.nullcontext():
        yield


def trimmed_if_fast(settings: Settings, suffix: str) -> contextlib.AbstractContextManager[None]:
    """:func:`ingest.fast.narrative.narrative_check_trimmed` on the fast path; the library's own
    check on the serial one."""
    from ingest.fast.narrative import narrative_check_trimmed

    return narrative_check_trimmed(suffix) if enabled(settings) else contextlib.nullcontext()
