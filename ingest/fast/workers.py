"""Parse workers: one process imports the parsers, then forks the workers from itself.

On a small machine the imports (unstructured, its spaCy model, pdfminer, python-docx: about 2 s of
CPU) cost as much as parsing a few dozen files. Importing them in every worker does that work once
per worker; importing them in the ingesting process leaves the other cores idle meanwhile. Here a
coordinator process, forked at the start, imports them once while the ingesting process opens the
index, and then forks the workers, which inherit them. The coordinator hands a window's files to
its workers one at a time, costliest first (estimated from the size: byte for byte a PDF's text
layer costs about ten times a Markdown file's parse), each to whichever worker is free, and sends
the results back in the window's order, so the ingesting process only sends a window and later
receives its results: nothing it does (Chroma's writes hold the GIL) can hold up the workers.

Before the fork the ingesting process hands its heap's free pages back to the system (glibc's
``malloc_trim``). A page still mapped at the fork is shared with the coordinator, and the ingesting
process's first write to it copies it: PyTorch reuses freed heap memory for every batch, and
measured, the first 600 chunks embedded after a fork took 0.9-1.2 s of system time instead of 0.15 s.
Freed pages that were handed back are not shared; they come back as fresh zero pages (0.25-0.35 s).
For the same reason an ingestion forks under :func:`objects_frozen`, and the coordinator freezes its
own objects before forking the workers (``gc.freeze``, as the Python documentation advises before a
fork): the garbage collector then never walks the ~500,000 objects that PyTorch, transformers and
the parsers leave behind, which cost each process 0.3-0.4 s per full collection (measured: 1.4 s of
collections in one ingestion of 170 files, 0.25 s with the freeze), and never writes to the pages
the processes share.

Example::

    service = ParseService(lambda job: parse_job(job, settings, root, chunker), [".pdf"], workers=2)
    service.submit(jobs)            # returns at once
    parsed = service.results()      # one Parsed per job, in order
    service.close()
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ingest.loaders import warm_up_parsers

_parse_one: list[Callable[[Any], Any]] = []  # set in the coordinator, inherited by its workers


class ParseService:
    """A coordinator process and its forked parse workers; windows in, results out, in order.

    Example::

        service = ParseService(parse, [".md", ".pdf"], workers=2)
        service.submit(window)
        for job, parsed in zip(window, service.results()):
            ...
        service.close()
    """

    def __init__(self, parse: Callable[[Any], Any], suffixes: list[str], workers: int) -> None:
        context = mp.get_context("fork")
        self._connection, theirs = context.Pipe()
        release_free_heap()
        self._process = context.Process(
            target=_coordinate,
            args=(theirs, parse, suffixes, workers, os.getpid()),
            name="ingest-parse",
            daemon=False,  # it has children of its own
        )
        self._process.start()
        theirs.close()

    def submit(self, jobs: list[Any]) -> None:
        """Start parsing ``jobs`` (call :meth:`results` before the next submit)."""
        self._connection.send(jobs)

    def results(self) -> list[Any]:
        """What the parse function returned for each submitted job, in order."""
        try:
            answer = self._connection.recv()
        except EOFError:
            raise RuntimeError("the parse workers stopped unexpectedly") from None
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    def close(self) -> None:
        """Stop the coordinator and its workers."""
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # it may have just exited
                self._connection.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


def _coordinate(
    connection: Any, parse: Callable[[Any], Any], suffixes: list[str], workers: int, parent: int
) -> None:
    # Ctrl-C is the ingesting process's to handle: it closes the service (so do the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent)
    warm_up_parsers(suffixes)
    _parse_one[:] = [parse]
    gc.freeze()  # the workers' collections skip what they inherit (see the module's docstring)
    context = mp.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        while (jobs := connection.recv()) is not None:
            try:
                ordered = sorted(range(len(jobs)), key=lambda i: _cost(jobs[i]), reverse=True)
                futures = {i: pool.submit(_parse_in_worker, jobs[i]) for i in ordered}
                connection.send([futures[i].result() for i in range(len(jobs))])
            except Exception as error:  # handed to the ingesting process, which raises it
                connection.send(error)


def _parse_in_worker(job: Any) -> Any:
    return _parse_one[0](job)


def _cost(job: Any) -> int:
    """Estimated parse cost. Measured per byte: 16 us for a PDF, 0.8-1.4 us for the other formats."""
    try:
        size = int(job.path.stat().st_size)
    except OSError:
        return 0  # the parse reports why
    return size * (10 if job.path.suffix.lower() == ".pdf" else 1)


@contextlib.contextmanager
def objects_frozen() -> Iterator[None]:
    """Keep the garbage collector off every object that exists now, until the block ends.

    Objects created inside the block are collected as usual. A caller's own earlier freeze is left
    in place (its objects, and those frozen here, then stay frozen).

    Example::

        with objects_frozen():
            service = ParseService(parse, [".md"], workers=2)
            ...
    """
    thaw = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if thaw:
            gc.unfreeze()


def release_free_heap() -> None:
    """Return the C heap's free pages to the system (glibc only; elsewhere nothing to do)."""
    process = ctypes.CDLL(None)  # the C library's symbols, as this process links them
    if hasattr(process, "malloc_trim"):
        process.malloc_trim(0)


def exit_with_parent(parent: int) -> None:
    """A worker must not outlive an ingestion that was killed (kill -9 skips all clean-up)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
