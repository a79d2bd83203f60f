"""The HTTP API behind a signing-in proxy: identity only from trusted addresses, every route
filtered by the user's groups, writes only for writers, 0 leaks under concurrent requests."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from rag import AccessRules, Assistant, User, create_app
from rag.core.access import can_read
from tests.helpers.access_corpus import RULES, codeword, forbidden_codes, random_question, random_user

pytestmark = [pytest.mark.integration]
PROXY = ("10.0.0.2", 40000)


@pytest.fixture(scope="module")
def proxied(guarded: tuple[Assistant, dict[str, str]]) -> tuple[TestClient, dict[str, str]]:
    assistant, written = guarded
    settings = assistant.settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": ["10.0.0.0/24"], "writer_groups": ["editors"]}
    )
    behind = Assistant(settings, embedder=assistant.embedder, llm=assistant.llm)
    return TestClient(create_app(behind), client=PROXY), written


def _as(user: User) -> dict[str, str]:
    return {"X-Forwarded-User": user.id, "X-Forwarded-Groups": ",".join(sorted(user.groups))}


def test_identity_comes_only_from_the_trusted_proxy(proxied: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = proxied
    assert client.get("/v1/documents").status_code == 401  # no headers
    elsewhere = TestClient(client.app, client=("192.168.7.7", 5000))
    forged = elsewhere.get("/v1/documents", headers=_as(User.of("mallory", ["board"])))
    assert forged.status_code == 401 and "trusted_proxies" in forged.json()["error"]["message"]
    assert elsewhere.get("/health").status_code == 200
    me = client.get("/v1/me", headers=_as(User.of("ann", ["hr", "editors"]))).json()
    assert me == {"user": "ann", "groups": ["editors", "hr"], "restricted": True, "can_write": True}


def test_every_route_is_filtered(proxied: tuple[TestClient, dict[str, str]]) -> None:
    client, written = proxied
    rules = AccessRules(RULES)
    rng = random.Random(11)
    asks = [(random_user(rng, n), random_question(rng)) for n in range(120)]

    def leaks(pair: tuple[User, str]) -> list[str]:
        user, question = pair
        found = []
        body = {"messages": [{"role": "user", "content": question}]}
        reply = client.post("/v1/chat/completions", json=body, headers=_as(user)).json()
        text = reply["choices"][0]["message"]["content"]
        found += forbidden_codes(text, user, rules)
        for citation in reply["citations"]:
            if not can_read(user, rules.labels(citation["source"])):
                found.append(citation["source"])
            found += forbidden_codes(citation["quote"], user, rules)
        hits = client.post("/v1/retrieve", json={"query": question, "k": 20}, headers=_as(user)).json()[
            "hits"
        ]
        for hit in hits:
            if not can_read(user, rules.labels(hit["source"])):
                found.append(hit["source"])
            found += forbidden_codes(hit["text"], user, rules)
        listed = {d["source"] for d in client.get("/v1/documents", headers=_as(user)).json()["documents"]}
        if listed != {s for s in written if can_read(user, rules.labels(s))}:
            found.append(f"document list {sorted(listed)}")
        return [f"{user}: {question}: {leak}" for leak in found]

    with ThreadPoolExecutor(8) as pool:
        found = [leak for result in pool.map(leaks, asks) for leak in result]
    assert found == []
    board = User.of("bo", ["board"])
    hits = client.post("/v1/retrieve", json={"query": f"codeword {codeword('board', 0)}", "k": 1},
                       headers=_as(board)).json()["hits"]  # fmt: skip
    assert hits[0]["source"] == "board/board-0.md"


def test_writes_need_a_writer_group_and_hidden_documents_do_not_exist(
    proxied: tuple[TestClient, dict[str, str]], guarded: tuple[Assistant, dict[str, str]]
) -> None:
    client, _ = proxied
    reader = User.of("rita", ["hr"])
    refused = client.delete("/v1/documents/hr/hr-0.md", headers=_as(reader))
    assert refused.status_code == 403 and "writer_groups" in refused.json()["error"]["message"]
    note = ("files", ("note.md", b"# Note\n\nHello.", "text/markdown"))
    upload = client.post("/v1/documents", files=[note], headers=_as(reader))
    assert upload.status_code == 403
    editor = User.of("ed", ["editors"])  # a writer who may not read the board's documents
    missing = client.delete("/v1/documents/board/board-0.md", headers=_as(editor))
    assert missing.status_code == 404
    assert "board/board-0.md" in guarded[0].sources()  # still there: only hidden from the editor
    assert "not in collection" in missing.json()["detail"]
