"""The remote path against a real OpenAI-compatible server: llama-cpp-python's server (run through
``python -m rag.answer.llama_server``, which loads the model as the engine does) serving the bundled
GGUF on 127.0.0.1, plus a server that is down and one that answers garbage."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, LLMError
from tests.helpers.processes import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from rag.answer.llm import bundled_gguf

    gguf = bundled_gguf(Path(__file__).resolve().parents[3] / "data" / "models")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rag.answer.llama_server",
                "--model",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--model_alias",
                "gemma-270m",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        if not wait_until_up(f"{url}/models", server, 120):
            raise RuntimeError(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def remote(sample_assistant: Any, **update: Any) -> Assistant:
    settings = sample_assistant.settings.model_copy(
        update={"llm_mode": "openai", "llm_model": "gemma-270m", **update}
    )
    return Assistant(settings, embedder=sample_assistant.embedder)


@pytest.mark.parametrize(
    ("question", "expected", "source"),
    [
        ("How long are backups retained?", "35 days", "it_security_policy.pdf"),
        ("Who is the Chief Financial Officer?", "Ingrid Solberg", "company_overview.pptx"),
        ("What is the learning budget per year?", "£1,200", "employee_handbook.md"),
    ],
)
def test_answers_through_a_real_llama_cpp_server(
    llama_server: str, sample_assistant: Any, question: str, expected: str, source: str
) -> None:
    assistant = remote(sample_assistant, llm_base_url=llama_server)
    answer = assistant.ask(question)
    assert assistant.info().mode == "openai"
    assert not answer.refused, (answer.refusal_reason, answer.raw_output)
    assert expected in answer.text
    assert answer.citations[0].source == source and answer.citations[0].supported


def test_remote_streaming_and_refusal(llama_server: str, sample_assistant: Any) -> None:
    assistant = remote(sample_assistant, llm_base_url=llama_server)
    pieces = list(assistant.stream("Within how many hours must critical security patches be installed?"))
    assert len(pieces) >= 3 and "72" in pieces[-1].text
    assert assistant.ask("Who won the 2022 football world cup?").refused


def test_server_down_is_a_clear_error_naming_the_url(sample_assistant: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    assistant = remote(sample_assistant, llm_base_url=url, llm_retries=0, llm_timeout=5)
    with pytest.raises(LLMError) as caught:
        assistant.ask("How long are backups retained?")
    assert url in str(caught.value) and "unreachable" in str(caught.value)


def test_garbage_reply_is_a_clear_error(sample_assistant: Any) -> None:
    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<html>this is not an API</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        assistant = remote(sample_assistant, llm_base_url=url, llm_retries=0, llm_timeout=5)
        with pytest.raises(LLMError) as caught:
            assistant.ask("How long are backups retained?")
        assert url in str(caught.value)
    finally:
        server.shutdown()


def test_the_refusal_model_is_fitted_for_a_remote_server_and_used(
    llama_server: str, sample_assistant: Any, tmp_path: Path
) -> None:
    """`python -m rag.eval --fit-refusal` against the configured backend (here a real llama.cpp
    server: free decoding only, no log-probabilities), saved where the engine then finds it."""
    from rag.answer.refusal import RefusalModel, fitted_path
    from rag.eval.runner import fit_refusal

    settings = sample_assistant.settings.model_copy(
        update={
            "llm_mode": "openai",
            "llm_model": "gemma-270m",
            "llm_base_url": llama_server,
            "refusal_dir": tmp_path / "fits",
            "reports_dir": tmp_path / "reports",
        }
    )
    fitted = list(fit_refusal(settings, ["squad2-dev"], limit=16))
    assert [decoding for decoding, _, _ in fitted] == ["free"]  # the OpenAI API cannot constrain decoding
    _, path, model = fitted[0]
    assert path == fitted_path(settings, "free") == tmp_path / "fits" / "refusal.openai-gemma-270m.free.json"
    assert "mean_logprob" not in model.features and "passage_score" in model.features
    assert "squad2-dev/qa_fit.jsonl (16 questions" in model.fitted_on
    assert (tmp_path / "reports" / "refusal-fit-openai-gemma-270m-free.json").is_file()

    answer = Assistant(settings, embedder=sample_assistant.embedder).ask("How long are backups retained?")
    assert answer.confidence is not None and answer.threshold == model.threshold
    assert answer.confidence == pytest.approx(RefusalModel.load(path).confidence(answer.signals))
