"""The chat page with Streamlit's AppTest: history, answers with sources, sidebar choices reaching
the API, error states; plus the page's helpers (upload names, sizes, the Markdown export)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from app.helpers import Message, conversation_markdown
from rag import Answer, Citation, UploadRejected, safe_filename, save_upload

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "chat.py")


def page(monkeypatch: pytest.MonkeyPatch, index: Path, **env: str) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAG_INDEX_DIR", str(index))
    monkeypatch.setenv("RAG_COLLECTION", "sample")
    monkeypatch.setenv("RAG_MODELS_DIR", str(ROOT / "data" / "models"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    assert not app.exception, app.exception
    return app


# --- helpers ---------------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\x\\Q3 report.pdf", "Q3 report.pdf"),
        ("a<b>|c.md", "a_b_c.md"),
    ],
)
def test_upload_names_are_sanitised(name: str, clean: str) -> None:
    assert safe_filename(name) == clean


@pytest.mark.unit
def test_uploads_are_checked_for_type_size_and_emptiness(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(corpus_dir=tmp_path / "corpus", max_file_size_mb=0.001)
    assert (
        save_upload(settings, "../notes.md", b"# Notes\n")
        == (tmp_path / "corpus" / "uploads" / "notes.md").resolve()
    )
    with pytest.raises(UploadRejected, match=r"unsupported file type \.exe"):
        save_upload(settings, "tool.exe", b"MZ")
    with pytest.raises(UploadRejected, match="over the"):
        save_upload(settings, "big.txt", b"x" * 5000)
    with pytest.raises(UploadRejected, match="empty"):
        save_upload(settings, "empty.txt", b"")
    with pytest.raises(UploadRejected):
        save_upload(settings, "..", b"x")


@pytest.mark.unit
def test_highlighting_escapes_document_text() -> None:
    from app.helpers import highlighted

    assert highlighted("a <b> 35 days.", (6, 13)) == "a &lt;b&gt; <mark>35 days</mark>."
    assert highlighted("<i>x</i>", None) == "&lt;i&gt;x&lt;/i&gt;"
    assert highlighted("short", (3, 99)) == "short"  # offsets out of range: no mark


@pytest.mark.unit
def test_conversation_exports_with_citations() -> None:
    cited = Answer("35 days [1]", [Citation(1, "it.pdf", 4, "c1", "Backups are retained for 35 days.")])
    refused = Answer(
        "I don't know.",
        [Citation(1, "hr.md", None, "c2", "Leave is 27 days.", supported=False)],
        refused=True,
        refusal_reason="weak evidence",
    )
    text = conversation_markdown([
        Message("user", "How long are backups kept?"), Message("assistant", cited.text, cited),
        Message("user", "Stock ticker?"), Message("assistant", refused.text, refused),
    ])  # fmt: skip
    assert "**Question:** How long are backups kept?" in text
    assert "- [1] it.pdf, page 4: \u201cBackups are retained for 35 days.\u201d" in text
    assert "_Refused: weak evidence_" in text and "Closest sources:" in text


# --- the page ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_empty_index_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = page(monkeypatch, tmp_path / "empty-index")
    assert any("make ingest" in info.value for info in app.info)
    assert app.chat_input[0].disabled


@pytest.mark.integration
@pytest.mark.slow
def test_questions_get_cited_answers_and_history_stays(
    monkeypatch: pytest.MonkeyPatch, sample_assistant: Any
) -> None:
    app = page(monkeypatch, sample_assistant.settings.index_dir)
    app.chat_input[0].set_value("How long are backups retained?").run()
    assert not app.exception, app.exception
    texts = [m.value for m in app.markdown]
    assert any("35 days" in t for t in texts), texts
    assert any("it_security_policy.pdf, page 4" in t for t in texts), texts
    assert app.expander and "in context" in app.expander[0].label
    # the copied answer is highlighted where it stands in its chunk (offsets from the engine)
    assert any("<mark>35 days</mark>" in t for t in texts), texts

    app.chat_input[0].set_value("Who won the 2022 football world cup?").run()
    assert any("I don't know" in w.value for w in app.warning)  # a refusal looks different
    assert len(app.session_state["messages"]) == 4
    assert len(app.chat_message) == 4
    assert "Last answer:" in " ".join(m.value for m in app.sidebar.markdown)

    app.sidebar.button(key="clear").click().run()
    assert app.session_state["messages"] == []


@pytest.mark.integration
def test_sidebar_choices_reach_the_api(monkeypatch: pytest.MonkeyPatch, sample_assistant: Any) -> None:
    import rag.api

    calls: list[dict[str, Any]] = []

    def recording_stream(
        self: Any, question: str, template: Any = None, history: Any = None, **options: Any
    ) -> Any:
        calls.append({"question": question, "template": template, "history": history, **options})
        yield "ok"
        yield Answer("recorded [1]", [Citation(1, "it.pdf", 4, "c", "quote")], question=question)

    monkeypatch.setattr(rag.api.Assistant, "stream", recording_stream)
    app = page(monkeypatch, sample_assistant.settings.index_dir)
    app.sidebar.selectbox(key="template").set_value("cot")
    app.sidebar.slider(key="top_k").set_value(3)
    app.sidebar.slider(key="temperature").set_value(0.5)
    app.run()
    app.chat_input[0].set_value("What is the VPN lockout code?").run()
    app.chat_input[0].set_value("And who unlocks it?").run()
    assert calls[0]["template"] == "cot" and calls[0]["k"] == 3 and calls[0]["temperature"] == 0.5
    assert calls[1]["history"] == [("What is the VPN lockout code?", "recorded [1]")]


@pytest.mark.integration
def test_unreachable_server_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, sample_assistant: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    app = page(monkeypatch, sample_assistant.settings.index_dir, RAG_LLM_MODE="openai", RAG_LLM_BASE_URL=url,
               RAG_LLM_RETRIES="0")  # fmt: skip
    app.chat_input[0].set_value("How long are backups retained?").run()
    assert not app.exception
    assert any(url in e.value and "unreachable" in e.value for e in app.error), [e.value for e in app.error]


@pytest.mark.integration
def test_missing_model_file_is_a_message(
    monkeypatch: pytest.MonkeyPatch, sample_assistant: Any, tmp_path: Path
) -> None:
    app = page(
        monkeypatch, sample_assistant.settings.index_dir, RAG_LLM_MODEL_PATH=str(tmp_path / "gone.gguf")
    )
    app.chat_input[0].set_value("How long are backups retained?").run()
    assert not app.exception
    assert any("model file not found" in e.value for e in app.error)


@pytest.mark.integration
@pytest.mark.slow
def test_resync_and_delete_from_the_sidebar(
    monkeypatch: pytest.MonkeyPatch, make_settings: Any, embedder: Any, sample_copy: Path, tmp_path: Path
) -> None:
    from rag import Assistant

    index = tmp_path / "app-index"
    Assistant(make_settings(index_dir=index, collection="sample"), embedder=embedder).ingest(sample_copy)
    (sample_copy / "uploads").mkdir()
    (sample_copy / "uploads" / "faq.md").write_text("# FAQ\n\nThe printer code for floor 3 is PRN-7781.\n")
    app = page(monkeypatch, index, RAG_CORPUS_DIR=str(sample_copy))
    app.sidebar.button(key="resync").click().run()
    assert not app.exception, app.exception
    assert any("Added 1, updated 0, unchanged 9" in s.value for s in app.sidebar.success)
    assert "10 documents" in app.caption[0].value

    app.sidebar.selectbox(key="doomed").set_value("uploads/faq.md").run()
    app.sidebar.button(key="delete").click().run()
    assert any(
        "Deleted uploads/faq.md" in s.value and "uploaded file" in s.value for s in app.sidebar.success
    )
    assert not (sample_copy / "uploads" / "faq.md").exists()
    assert "9 documents" in app.caption[0].value
