"""The HTTP API through FastAPI's test client, with the shipped fakes over real Chroma and BM25
(the real model behind a real server process is in test_serve.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag import Assistant, create_app

pytestmark = pytest.mark.integration

BACKUPS = "How long are backups retained?"


@pytest.fixture
def client(make_settings: Any, sample_copy: Path) -> TestClient:
    settings = make_settings(llm_mode="fake", embedding_backend="hash", corpus_dir=sample_copy)
    assistant = Assistant(settings)
    assistant.ingest(sample_copy)
    return TestClient(create_app(assistant))


def ask(client: TestClient, content: str, **extra: Any) -> Any:
    return client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": content}], **extra}
    )


def test_health_and_openapi_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["chunks"] > 0 and health["backend"] == "fake"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/chat/completions", "/v1/retrieve", "/v1/documents", "/health"} <= set(paths)


def test_chat_completion_is_openai_shaped_with_citations(client: TestClient) -> None:
    reply = ask(client, BACKUPS, model="anything")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "chat.completion" and body["model"] == "anything"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and "35 days" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop" and not body["refused"]
    cited = body["citations"][0]
    assert cited["source"] == "it_security_policy.pdf" and cited["page"] == 4 and cited["supported"]
    assert "35 days" in cited["quote"] and cited["location"] == "it_security_policy.pdf, page 4"


def test_streaming_sends_deltas_then_the_checked_answer_and_done(client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": BACKUPS}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and "35 days" in final["answer"]
    assert "35 days" in streamed and final["citations"][0]["source"] == "it_security_policy.pdf"


def test_history_comes_from_the_earlier_messages(client: TestClient) -> None:
    messages = [
        {"role": "system", "content": "You answer from the documents."},
        {"role": "user", "content": "Who owns the IT policy?"},
        {"role": "assistant", "content": "The IT team [1]"},
        {"role": "user", "content": BACKUPS},
    ]
    body = client.post("/v1/chat/completions", json={"messages": messages}).json()
    assert "35 days" in body["choices"][0]["message"]["content"]


def test_bad_requests_are_clear_errors(client: TestClient) -> None:
    unknown = ask(client, BACKUPS, template="poetry")
    assert unknown.status_code == 400 and "unknown template 'poetry'" in unknown.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 422
    last = client.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert last.status_code == 400 and "user's question" in last.json()["error"]["message"]
    streamed = ask(client, BACKUPS, template="poetry", stream=True)
    assert streamed.status_code == 400  # an error before the first piece is an HTTP error, not a stream


def test_retrieve_with_a_filter(client: TestClient) -> None:
    hits = client.post("/v1/retrieve", json={"query": "backups retained", "k": 3}).json()["hits"]
    assert 1 <= len(hits) <= 3 and hits[0]["source"] == "it_security_policy.pdf" and hits[0]["text"]
    only = client.post("/v1/retrieve", json={"query": "backups retained", "sources": "*.md"}).json()["hits"]
    assert only and all(hit["source"].endswith(".md") for hit in only)


def test_documents_upload_ask_delete(client: TestClient, sample_copy: Path) -> None:
    listed = client.get("/v1/documents").json()
    assert len(listed["documents"]) == 9 and listed["collection"] == "test-docs"
    files = [
        ("files", ("faq.md", b"# FAQ\n\nThe printer code for floor 3 is PRN-7781.\n", "text/markdown")),
        ("files", ("notes.exe", b"MZ", "application/octet-stream")),
    ]
    done = client.post("/v1/documents", files=files).json()
    assert done["added"] == ["uploads/faq.md"]
    assert [p["source"] for p in done["failed"]] == ["notes.exe"] and "unsupported file type" in done[
        "failed"
    ][0]["reason"]
    assert "uploads/faq.md" in {d["source"] for d in client.get("/v1/documents").json()["documents"]}
    answer = ask(client, "What is the printer code for floor 3?").json()
    assert "PRN-7781" in answer["choices"][0]["message"]["content"]
    assert answer["citations"][0]["source"] == "uploads/faq.md"

    gone = client.delete("/v1/documents/uploads/faq.md").json()
    assert gone["deleted"] == ["uploads/faq.md"] and gone["chunks_removed"] >= 1
    assert not (sample_copy / "uploads" / "faq.md").exists()
    assert client.delete("/v1/documents/uploads/faq.md").status_code == 404
    assert (
        "PRN-7781"
        not in ask(client, "What is the printer code for floor 3?").json()["choices"][0]["message"]["content"]
    )
