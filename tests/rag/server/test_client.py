"""RemoteAssistant (the chat's ``api_url``) against the real FastAPI app over real Chroma with the
shipped fakes: documents, streamed answers with citations, uploads (good and refused), deletes, and
the user passed on as proxy headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag import AccessDenied, Answer, Assistant, RemoteAssistant, User, create_app

pytestmark = [pytest.mark.integration]


@pytest.fixture
def remote(make_settings: Any, sample_copy: Path) -> RemoteAssistant:
    settings = make_settings(llm_mode="fake", embedding_backend="hash", corpus_dir=sample_copy, auth="proxy",
                             trusted_proxies=["10.0.0.0/8"], writer_groups=["editors"],
                             access_rules={"it_security_policy.pdf": ["it"]})  # fmt: skip
    assistant = Assistant(settings)
    assistant.ingest()
    client = RemoteAssistant(settings.model_copy(update={"api_url": "http://api.test"}))
    app = TestClient(create_app(assistant), base_url="http://api.test", client=("10.0.0.9", 1))
    client._http = app  # type: ignore[assignment]  # the same calls, without a socket
    return client


def test_the_chat_sees_what_the_api_lets_its_user_see(remote: RemoteAssistant) -> None:
    it, staff = User.of("ivan", ["it", "editors"]), User.of("rita", ["staff"])
    assert "it_security_policy.pdf" in remote.sources(user=it)
    assert "it_security_policy.pdf" not in remote.sources(user=staff) and remote.sources(user=staff)
    assert remote.can_write(it) and not remote.can_write(staff)
    pieces = list(remote.stream("How long are backups retained?", user=it))
    answer = pieces[-1]
    assert isinstance(answer, Answer) and answer.citations and all(isinstance(p, str) for p in pieces[:-1])
    assert all(c.source != "it_security_policy.pdf" for c in remote.ask("How long are backups retained?",
                                                                       user=staff).citations)  # fmt: skip


def test_uploads_and_deletes_go_through_the_api(remote: RemoteAssistant) -> None:
    editor, reader = User.of("ed", ["editors", "it"]), User.of("rita", ["staff"])
    report = remote.upload([("parking.md", b"# Parking\n\nThe gate code is 4471.\n")], user=editor)
    assert report.added == ["uploads/parking.md"] and not report.failed
    refused = remote.upload([("tool.exe", b"MZ...")], user=editor)
    assert not refused.added and refused.failed and refused.failed[0].source == "tool.exe"
    with pytest.raises(AccessDenied, match="writer_groups"):
        remote.upload([("x.md", b"# X\n\ntext\n")], user=reader)
    assert remote.delete("uploads/parking.md", user=editor) > 0
    assert "uploads/parking.md" not in remote.sources(user=editor)
    assert remote.ingest(user=editor).unchanged


class _DiesMidAnswer:
    """The shipped fake that dies after its first piece, as a crashed model process does."""

    def __init__(self, llm: Any) -> None:
        self.llm, self.info = llm, llm.info

    def count_tokens(self, text: str) -> int:
        return int(self.llm.count_tokens(text))

    def complete(self, prompt: str, **options: Any) -> Any:
        from rag import LLMError

        pieces = self.llm.complete(prompt, **options)
        yield next(iter(pieces))
        raise LLMError("the model process ended (SIGSEGV: a segmentation fault inside llama.cpp)")

    chat = complete


def test_a_model_dying_mid_stream_is_an_error_event_then_an_llm_error(
    make_settings: Any, sample_copy: Path
) -> None:
    from rag import LLMError

    settings = make_settings(
        llm_mode="fake", embedding_backend="hash", corpus_dir=sample_copy, decoding="free"
    )
    assistant = Assistant(settings)
    assistant.ingest()
    assistant.use_llm(_DiesMidAnswer(assistant.llm))  # type: ignore[arg-type]
    app = TestClient(create_app(assistant), base_url="http://api.test")
    body = {"messages": [{"role": "user", "content": "How long are backups retained?"}], "stream": True}
    with app.stream("POST", "/v1/chat/completions", json=body) as reply:
        assert reply.status_code == 200  # the first piece was out: the headers were sent
        events = [line[6:] for line in reply.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    assert "SIGSEGV" in json.loads(events[-1])["error"]["message"]

    client = RemoteAssistant(settings.model_copy(update={"api_url": "http://api.test"}))
    client._http = app  # type: ignore[assignment]
    pieces: list[Any] = []
    with pytest.raises(LLMError, match="SIGSEGV"):
        for piece in client.stream("How long are backups retained?"):
            pieces.append(piece)
    assert pieces and all(isinstance(p, str) for p in pieces)
