"""`python -m rag serve` as a real process with the bundled models, called by the official OpenAI
client: plain and streamed chat completions carry the answer and its citations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ROOT
from tests.helpers.processes import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def server(sample_assistant: Any) -> Iterator[str]:
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
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


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
