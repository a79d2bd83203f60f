"""Nothing stuck: streams hold no lock across a yield, LLM servers that stall or trickle time out
within llm_timeout, replies of the wrong shape are named as such (issue 12, points 8, 10, 12)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rag import Answer, Assistant, LLMError
from rag.answer.llm import pump

QUESTION = "How long are backups retained?"


# --- pump: the generation thread behind every model call ----------------------------------------


@pytest.mark.unit
def test_pump_releases_the_lock_in_the_thread_that_took_it_whoever_reads() -> None:
    lock = threading.Lock()

    def pieces() -> Iterator[str]:
        yield from ("a", "b", "c")

    stream = pump(pieces, lock=lock)
    with ThreadPoolExecutor(3) as pool:  # every next() on another thread, as Starlette does
        read = [pool.submit(next, stream).result(timeout=10) for _ in range(3)]
        with pytest.raises(StopIteration):
            pool.submit(next, stream).result(timeout=10)
    assert read == ["a", "b", "c"]
    assert lock.acquire(timeout=5)  # released, not left held by a reader thread


@pytest.mark.unit
def test_pump_a_stalled_reader_does_not_hold_the_model() -> None:
    lock = threading.Lock()
    stalled = pump(lambda: iter(["x"] * 5), lock=lock)
    assert next(stalled) == "x"  # then never read again
    other = pump(lambda: iter(["y"]), lock=lock)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: list(other)).result(timeout=10) == ["y"]


@pytest.mark.unit
def test_pump_errors_reach_the_reader_and_deadline_is_enforced() -> None:
    def broken() -> Iterator[str]:
        yield "a"
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(pump(broken))
    closed = threading.Event()

    def slow() -> Iterator[str]:
        time.sleep(30)
        yield "late"

    with pytest.raises(LLMError, match="too slow"):  # without the deadline: "late", no error
        list(pump(slow, deadline=time.monotonic() + 0.5, on_timeout=closed.set, timeout_message="too slow"))
    assert closed.is_set()


# --- the real bundled model: streams consumed from a thread pool, slow readers -------------------


@pytest.mark.integration
def test_stream_read_from_a_thread_pool_leaves_the_assistant_usable(sample_assistant: Any) -> None:
    stream = sample_assistant.stream(QUESTION)
    pieces: list[Any] = []
    with ThreadPoolExecutor(4) as pool:
        while True:
            try:
                pieces.append(pool.submit(next, stream).result(timeout=120))
            except StopIteration:
                break
        assert isinstance(pieces[-1], Answer) and "35" in pieces[-1].text
        later = pool.submit(sample_assistant.ask, "Who is the Chief Financial Officer?")
        assert "Ingrid" in later.result(timeout=120).text  # hung forever before


@pytest.mark.integration
def test_a_stalled_stream_does_not_block_another_question(sample_assistant: Any) -> None:
    stalled = sample_assistant.stream(QUESTION)
    first = next(stalled)  # a reader that reads one piece and goes quiet
    assert isinstance(first, str)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(sample_assistant.ask, "What is the learning budget per year?")
        assert "1,200" in other.result(timeout=120).text
    rest = list(stalled)  # the stalled stream still finishes when read again
    assert isinstance(rest[-1], Answer)


@pytest.mark.integration
def test_concurrent_questions_all_answer(sample_assistant: Any) -> None:
    questions = [QUESTION, "Who is the Chief Financial Officer?", "What is the learning budget per year?"] * 2
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(sample_assistant.ask, questions, timeout=300))
    assert all(isinstance(a, Answer) for a in answers)
    assert "35" in answers[0].text and "35" in answers[3].text


# --- remote servers that stall, trickle, or speak another shape ----------------------------------


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(handler: Callable[[http.server.BaseHTTPRequestHandler], None]) -> tuple[_Server, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            handler(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def sse(request: http.server.BaseHTTPRequestHandler, events: list[str], pause: float = 0.0) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "text/event-stream")
    request.end_headers()
    for event in events:
        request.wfile.write(event.encode())
        request.wfile.flush()
        time.sleep(pause)


def remote(sample_assistant: Any, url: str, **update: Any) -> Assistant:
    settings = sample_assistant.settings.model_copy(
        update={"llm_mode": "openai", "llm_base_url": url, "llm_model": "m", **update}
    )
    return Assistant(settings, embedder=sample_assistant.embedder)


def failed_ask(assistant: Assistant) -> BaseException | None:
    """The error asking raised (None when it answered)."""
    try:
        assistant.ask(QUESTION)
    except BaseException as error:
        return error
    return None


@pytest.mark.integration
def test_a_server_trickling_keep_alives_times_out_within_llm_timeout(sample_assistant: Any) -> None:
    def trickle(request: http.server.BaseHTTPRequestHandler) -> None:
        with contextlib.suppress(OSError):  # a comment a second, never a token
            sse(request, [": keep-alive\n\n"] * 40, pause=1.0)

    server, url = serve(trickle)
    try:
        with ThreadPoolExecutor(1) as pool:  # the test itself must not hang if the bound fails
            error = pool.submit(failed_ask, remote(sample_assistant, url, llm_timeout=3)).result(timeout=120)
        # the deadline fired (before the fix the trickle ran its 40 comments, then "no events")
        assert isinstance(error, LLMError), error
        assert url in str(error) and "did not complete the answer within llm_timeout=3" in str(error)
    finally:
        server.shutdown()


@pytest.mark.integration
def test_a_server_that_accepts_and_never_answers_fits_the_budget_with_retries(sample_assistant: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    held: list[socket.socket] = []  # accepted, never read or answered
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        with ThreadPoolExecutor(1) as pool:
            assistant = remote(sample_assistant, url, llm_timeout=2, llm_retries=5)
            error = pool.submit(failed_ask, assistant).result(timeout=120)
        assert isinstance(error, LLMError) and url in str(error)
        time.sleep(3)  # let a retry that ignored the budget show itself
        # 6 connections (1 + 5 retries of a full timeout each) before the fix; the budget holds one
        assert 1 <= len(held) <= 2, len(held)
    finally:
        stop.set()
        acceptor.join()
        listener.close()
        for connection in held:
            connection.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "events",
    [
        ['data: {"id": "x", "object": "text_completion", "result": "35 days"}\n\n', "data: [DONE]\n\n"],
        ['data: {"choices": [{"index": 0, "message": "35 days"}]}\n\n', "data: [DONE]\n\n"],
        ['data: {"choices": [{"index": 0, "text": {"value": "35"}}]}\n\n', "data: [DONE]\n\n"],
    ],
    ids=["no-choices", "choice-without-text", "text-not-a-string"],
)
def test_sse_chunks_of_the_wrong_shape_are_named(sample_assistant: Any, events: list[str]) -> None:
    server, url = serve(lambda request: sse(request, events))
    try:
        error = failed_ask(remote(sample_assistant, url, llm_timeout=10, llm_retries=0))
        assert isinstance(error, LLMError), f"expected an LLMError, got {error!r}"
        message = str(error)
        assert url in message and ("none an OpenAI completion chunk" in message or "is not text" in message)
        assert "does not know" not in message
    finally:
        server.shutdown()


@pytest.mark.integration
def test_a_well_formed_stream_still_answers(sample_assistant: Any) -> None:
    chunk = {"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": "35 days [1]"}]}
    done = {
        "id": "c",
        "object": "text_completion",
        "choices": [{"index": 0, "text": "", "finish_reason": "stop"}],
    }
    events = [f"data: {json.dumps(chunk)}\n\n", f"data: {json.dumps(done)}\n\n", "data: [DONE]\n\n"]
    server, url = serve(lambda request: sse(request, events))
    try:
        answer = remote(sample_assistant, url, llm_timeout=10).ask(QUESTION)
        assert not answer.refused and "35 days" in answer.text
    finally:
        server.shutdown()
