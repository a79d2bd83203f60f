"""`python -m rag serve` as a real process with the bundled models, called by the official OpenAI
client: plain and streamed chat completions carry the answer and its citations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import pytest

from tests.helpers import ROOT
from tests.helpers.processes import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def served(sample_assistant: Any) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    settings = sample_assistant.settings
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_COLLECTION": settings.collection,
           "RAG_MODELS_DIR": str(settings.models_dir)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(f"{url}/health", process, 180):
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the API did not start: {output[-2000:]}")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def server(served: tuple[str, subprocess.Popen[str]]) -> str:
    return served[0]


def test_the_openai_client_gets_answers_with_citations(server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="not-needed", max_retries=0, timeout=120)
    messages: Any = [{"role": "user", "content": "How long are backups retained?"}]
    reply = client.chat.completions.create(model="brightdocs", messages=messages)
    assert "35 days" in (reply.choices[0].message.content or "")
    extra = reply.model_extra or {}
    assert extra["citations"][0]["source"] == "it_security_policy.pdf" and extra["citations"][0]["page"] == 4
    assert extra["refused"] is False

    pieces, last = [], None
    for chunk in client.chat.completions.create(model="brightdocs", messages=messages, stream=True):
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert "35 days" in "".join(pieces) and "35 days" in (last.model_extra or {})["answer"]
    assert (last.model_extra or {})["citations"][0]["source"] == "it_security_policy.pdf"

    refused = client.chat.completions.create(
        model="brightdocs", messages=[{"role": "user", "content": "Who won the 2022 football world cup?"}]
    )
    assert (refused.model_extra or {})["refused"] is True


def test_concurrent_requests_all_answer(server: str) -> None:
    """Eight clients at once, half of them streaming: one llama.cpp context serves them in turn
    (the model is serialized, the rest of the engine is shared), and every answer is right."""
    from concurrent.futures import ThreadPoolExecutor

    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="not-needed", max_retries=0, timeout=300)
    questions = {
        "How long are backups retained?": "35 days",
        "What is the learning budget per year?": "1,200",
    }

    def ask(number: int) -> tuple[str, str, str]:
        question = list(questions)[number % 2]
        messages: Any = [{"role": "user", "content": question}]
        if number % 4 < 2:
            reply = client.chat.completions.create(model="brightdocs", messages=messages)
            return question, reply.choices[0].message.content or "", "plain"
        chunks = list(client.chat.completions.create(model="brightdocs", messages=messages, stream=True))
        return question, str((chunks[-1].model_extra or {})["answer"]), "stream"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len(answers) == 8 and {how for *_, how in answers} == {"plain", "stream"}
    for question, text, _ in answers:
        assert questions[question] in text, (question, text)


def text_of(reply: Any) -> str:
    return str(reply.json()["choices"][0]["message"]["content"])


def model_process(server: subprocess.Popen[str]) -> psutil.Process:
    """The server's model process (``python -m rag.answer.isolated``)."""
    children = psutil.Process(server.pid).children(recursive=True)
    found = [c for c in children if "rag.answer.isolated" in " ".join(c.cmdline())]
    assert len(found) == 1, [c.cmdline() for c in children]
    return found[0]


def test_the_server_survives_its_model_dying_mid_question(served: tuple[str, subprocess.Popen[str]]) -> None:
    """The model process segfaults while a question waits on it: that question gets a 503 naming
    the signal, the server keeps serving (health, documents), and the next question is answered by
    a reloaded model."""
    import httpx

    url, process = served
    question = {"messages": [{"role": "user", "content": "How long are backups retained?"}]}
    with httpx.Client(base_url=url, timeout=180) as http:
        assert "35 days" in text_of(http.post("/v1/chat/completions", json=question))
        model = model_process(process)
        model.suspend()  # frozen: the next question reaches it and waits

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(http.post, "/v1/chat/completions", json=question)
            time.sleep(2.0)
            assert not pending.done()
            assert http.get("/health").status_code == 200  # the server answers meanwhile
            os.kill(model.pid, signal.SIGSEGV)
            model.resume()  # it wakes only to die of the pending SIGSEGV
            failed = pending.result(timeout=120)
        assert failed.status_code == 503, failed.text
        assert "SIGSEGV" in failed.json()["error"]["message"]

        assert process.poll() is None
        assert http.get("/v1/documents").status_code == 200
        again = http.post("/v1/chat/completions", json=question)
        assert again.status_code == 200 and "35 days" in text_of(again)
        assert model_process(process).pid != model.pid
    assert process.poll() is None
