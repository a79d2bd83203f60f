"""The local model in a child process: a native crash in llama.cpp fails one question, not the service.

llama.cpp runs native code that can die outright: a segmentation fault (the AMX path of llama.cpp
0.3.36, ggml-org/llama.cpp #20824), an abort on a failed assertion, SIGILL from a build made for
another CPU, the kernel's out-of-memory killer. In process, any of those ends the chat, the HTTP
API and every user with it. :class:`ProcessLLM` runs :class:`~rag.answer.llm.LlamaCppLLM` in a
child process (``python -m rag.answer.isolated``, as Ollama runs a runner per model) and talks to it
over two pipes: one for generations, one for token counts (served by a thread of the child, so
prompts are sized while another question is generating). When the child dies, the question it was
answering gets an :class:`LLMError` naming the signal, and the next call starts a new child.

Messages are pickled tuples (``multiprocessing.connection``): ``("complete", prompt, options)`` or
``("chat", messages, options)`` answered by ``("piece", text)`` ... ``("done", span_outcome)`` or
``("error", text)``; ``("stop",)`` ends a generation early; ``("count", text)`` is answered by
``("count", n)`` on the second pipe. The child exits when the parent closes its end (or dies).

Example::

    llm = ProcessLLM(load_settings())          # what make_llm returns in local mode by default
    print("".join(llm.complete("The capital of France is", max_tokens=8)))
    llm.close()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rag.answer.extractive import SpanConstraint
from rag.answer.llm import BackendInfo, pump
from rag.core.errors import LLMError
from rag.core.settings import Settings

_WHY: dict[int, str] = {
    signal.SIGSEGV: "a segmentation fault inside llama.cpp",
    signal.SIGABRT: "an abort inside llama.cpp (a failed assertion, or memory it could not get)",
    signal.SIGILL: "an illegal instruction: this llama.cpp build was compiled for another CPU "
    "(rebuild it here with `make setup`)",
    signal.SIGBUS: "a bus error inside llama.cpp",
    signal.SIGFPE: "an arithmetic fault inside llama.cpp",
    signal.SIGKILL: "it was killed (SIGKILL: most often the out-of-memory killer)",
}


def exit_reason(returncode: int | None) -> str:
    """Why a child process ended, in words (``-11`` -> "signal SIGSEGV: a segmentation fault ...")."""
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        why = _WHY.get(number, "")
        return f"{name}{': ' + why if why else ''}"
    return f"exit status {returncode}"


@dataclass(slots=True)
class _Child:
    process: subprocess.Popen[bytes]
    work: _Pair  # generations
    counts: _Pair  # token counts

    def close(self) -> None:
        for connection in (self.work, self.counts):
            connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _duplex(pass_fds: list[int]) -> tuple[_Pair, int, int]:
    """The parent's end of a two-way channel, and the descriptors the child reads and writes
    (added to ``pass_fds``)."""
    down_read, down_write = os.pipe()
    up_read, up_write = os.pipe()
    pass_fds += [down_read, up_write]
    return _pair(up_read, down_write), down_read, up_write


def _pair(read: int, write: int) -> _Pair:
    return _Pair(Connection(read, writable=False), Connection(write, readable=False))


class _Pair:
    """Two one-way pipes used as one connection (``os.pipe`` ends pass to a child by number)."""

    def __init__(self, read: Connection, write: Connection) -> None:
        self.read, self.write = read, write

    def send(self, message: Any) -> None:
        self.write.send(message)

    def recv(self) -> Any:
        return self.read.recv()

    def close(self) -> None:
        self.write.close()
        self.read.close()


class ProcessLLM:
    """llama-cpp-python in a child process that may die without taking this one with it.

    The child loads the model when this is made (so a model that cannot load fails here, as in
    process) and again after it died. One generation runs at a time, as in process; token counts
    are answered meanwhile. A reader that stops reading early stops the generation.

    Example::

        llm = ProcessLLM(settings)
        try:
            answer = "".join(llm.complete(prompt, max_tokens=64, stop=["\\n"]))
        except LLMError as error:      # "the model process ended (SIGSEGV: ...) while answering ..."
            print(error)               # the next call loads the model again
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # one generation at a time
        self._count_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._child: _Child | None = None
        self._counted: dict[str, int] = {}
        self._holder: list[_Child | None] = [None]  # what the finalizer closes
        self._finalizer = weakref.finalize(self, _close_child, self._holder)
        self.restarts = 0
        self.info = BackendInfo(mode="local", model="")
        self.info = self._start().info

    # --- the child's lifetime ----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The child's process id (None when none runs)."""
        child = self._child
        return None if child is None else child.process.pid

    def _start(self) -> _Started:
        with self._start_lock:
            child = self._child
            if child is not None and child.process.poll() is None:
                return _Started(child, self.info)
            if child is not None:
                child.close()
                self.restarts += 1
            fds: list[int] = []
            work, work_in, work_out = _duplex(fds)
            counts, counts_in, counts_out = _duplex(fds)
            ends = (work_in, work_out, counts_in, counts_out)
            command = [sys.executable, "-m", "rag.answer.isolated", *map(str, ends)]
            try:
                process = subprocess.Popen(command, pass_fds=fds, stdin=subprocess.DEVNULL)
            finally:
                for fd in fds:
                    os.close(fd)
            child = _Child(process, work, counts)
            self._holder[0] = child
            try:
                child.work.send(("load", self.settings.model_dump()))
                reply = child.work.recv()
            except (EOFError, OSError):
                child.close()
                raise LLMError(
                    f"the model process ended while loading the model ({exit_reason(process.poll())}); "
                    "`make doctor` shows why"
                ) from None
            if reply[0] != "ready":
                child.close()
                raise LLMError(reply[1])
            self._child = child
            self.info = reply[1]
            return _Started(child, reply[1])

    def _died(self, child: _Child, doing: str) -> LLMError:
        try:
            child.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        with self._start_lock:
            if self._child is child:
                self._child = None
                child.close()
                self.restarts += 1
        return LLMError(
            f"the model process ended ({exit_reason(child.process.returncode)}) while {doing}; "
            "the model is loaded again for the next question"
        )

    def close(self) -> None:
        """End the child process (it also ends by itself when this process does)."""
        self._finalizer()

    # --- the LLM seam ------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        known = self._counted.get(text)
        if known is not None:
            return known
        child = self._start().child
        with self._count_lock:
            try:
                child.counts.send(("count", text))
                reply = child.counts.recv()
            except (EOFError, OSError):
                raise self._died(child, "preparing the answer (counting its tokens)") from None
        if reply[0] != "count":
            raise LLMError(reply[1])
        if len(self._counted) > 4096:
            self._counted.clear()
        self._counted[text] = reply[1]
        return int(reply[1])

    def reset(self) -> None:
        """Forget the evaluated prompt (the next call re-reads its whole prompt)."""
        with self._lock:
            child = self._start().child
            try:
                child.work.send(("reset",))
                child.work.recv()
            except (EOFError, OSError):
                raise self._died(child, "resetting the model") from None

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        spans: SpanConstraint | None = None,
    ) -> Iterator[str]:
        options = {"max_tokens": max_tokens, "stop": list(stop), "temperature": temperature, "spans": spans}
        return pump(lambda: self._generate(("complete", prompt, options), spans), lock=self._lock)

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
    ) -> Iterator[str]:
        options = {"max_tokens": max_tokens, "stop": list(stop), "temperature": temperature}
        return pump(lambda: self._generate(("chat", messages, options), None), lock=self._lock)

    def _generate(self, request: tuple[Any, ...], spans: SpanConstraint | None) -> Iterator[str]:
        child = self._start().child
        finished = False
        try:
            child.work.send(request)
            while True:
                kind, value = child.work.recv()
                if kind == "piece":
                    yield value
                    continue
                finished = True
                if kind == "error":
                    raise LLMError(value)
                if spans is not None and value is not None:
                    spans.adopt(value)
                return
        except (EOFError, OSError):
            finished = True
            raise self._died(child, "answering") from None
        finally:
            if not finished:  # the reader stopped early: end the generation, drop what is left
                try:
                    child.work.send(("stop",))
                    while child.work.recv()[0] == "piece":
                        pass
                except (EOFError, OSError):
                    self._died(child, "stopping")


@dataclass(slots=True)
class _Started:
    child: _Child
    info: BackendInfo


def _close_child(holder: list[_Child | None]) -> None:
    child = holder[0]
    if child is not None:
        holder[0] = None
        child.close()


# --- the child -------------------------------------------------------------------------------


def _serve_counts(llm: Any, counts: _Pair) -> None:
    while True:
        try:
            _, text = counts.recv()
        except (EOFError, OSError):
            return
        try:
            counts.send(("count", llm.count_tokens(text)))
        except (EOFError, OSError):
            return
        except Exception as error:  # a text the tokenizer refuses: the parent raises it
            counts.send(("error", f"could not count tokens: {error}"))


def _run(llm: Any, work: _Pair, request: tuple[Any, ...]) -> None:
    kind, payload, options = request
    spans: SpanConstraint | None = options.pop("spans", None)
    stop_early = False
    try:
        pieces: Iterator[str] = (
            llm.complete(payload, spans=spans, **options)
            if kind == "complete"
            else llm.chat(payload, **options)
        )
        for piece in pieces:
            if work.read.poll():  # the only message that comes mid-generation is ("stop",)
                work.recv()
                stop_early = True
                break
            work.send(("piece", piece))
        if stop_early:
            pieces.close()  # type: ignore[attr-defined]
    except LLMError as error:
        work.send(("error", str(error)))
        return
    except Exception as error:
        work.send(("error", f"the model failed: {type(error).__name__}: {error}"))
        return
    work.send(("done", None if spans is None else spans.outcome()))


def serve(work: _Pair, counts: _Pair) -> None:
    """The child's loop: load the model, then answer requests until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which closes us
    from rag.answer.llm import LlamaCppLLM

    _, values = work.recv()
    try:
        llm = LlamaCppLLM(Settings.model_validate(values), own_thread=False)
    except LLMError as error:
        work.send(("failed", str(error)))
        return
    work.send(("ready", llm.info))
    threading.Thread(target=_serve_counts, args=(llm, counts), name="token-counts", daemon=True).start()
    while True:
        try:
            request = work.recv()
        except (EOFError, OSError):
            return
        if request[0] == "stop":  # a stop that crossed the end of its generation
            continue
        if request[0] == "reset":
            llm.reset()
            work.send(("ok", None))
            continue
        _run(llm, work, request)


def main(argv: Sequence[str] | None = None) -> None:
    work_in, work_out, counts_in, counts_out = (int(a) for a in (argv or sys.argv[1:]))
    with contextlib.suppress(EOFError, BrokenPipeError):  # the parent went away
        serve(_pair(work_in, work_out), _pair(counts_in, counts_out))


if __name__ == "__main__":
    main()
