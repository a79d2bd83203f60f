"""Parse workers: one process imports the parsers, then forks the workers from itself.

On a small machine the imports (unstructured, its spaCy model, pdfminer, python-docx: about 2 s of
CPU) cost as much as parsing a few dozen files. Importing them in every worker does that work once
per worker; importing them in the ingesting process leaves the other cores idle meanwhile. Here a
coordinator process, forked at the start, imports them once while the ingesting process opens the
index, and then forks the workers, which inherit them. The coordinator hands each window of files
to its workers (largest files dealt first) and sends the results back in the window's order, so the
ingesting process only sends a window and later receives its results: nothing it does (Chroma's
writes hold the GIL) can hold up the workers.

Example::

    service = ParseService(lambda job: parse_job(job, settings, root, chunker), [".pdf"], workers=2)
    service.submit(jobs)            # returns at once
    parsed = service.results()      # one Parsed per job, in order
    service.close()
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
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
    context = mp.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        while (jobs := connection.recv()) is not None:
            try:
                ordered = sorted(range(len(jobs)), key=lambda i: _size(jobs[i]), reverse=True)
                shares = [share for w in range(workers) if (share := ordered[w::workers])]
                futures = [pool.submit(_parse_share, [jobs[i] for i in share]) for share in shares]
                parsed: list[Any] = [None] * len(jobs)
                for share, future in zip(shares, futures, strict=True):
                    for index, result in zip(share, future.result(), strict=True):
                        parsed[index] = result
                connection.send(parsed)
            except Exception as error:  # handed to the ingesting process, which raises it
                connection.send(error)


def _parse_share(jobs: list[Any]) -> list[Any]:
    return [_parse_one[0](job) for job in jobs]


def _size(job: Any) -> int:
    try:
        return int(job.path.stat().st_size)
    except OSError:
        return 0  # the parse reports why


def exit_with_parent(parent: int) -> None:
    """A worker must not outlive an ingestion that was killed (kill -9 skips all clean-up)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
