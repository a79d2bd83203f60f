"""Server mode with real processes: a `chroma run` server, two `python -m rag serve` replicas
(each with its own empty local folder: nothing shared but Chroma), and ingestion run from a third
process. Both replicas answer from a new document as soon as it is ingested, and stop answering
from a deleted one at once; keyword search (rebuilt by each replica in the background) follows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT
from tests.helpers.processes import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COLLECTION = "server-mode"
ALPHA = "# Alpha project\n\nThe alpha project codeword is ZEBRA-4411. Alpha ships in March.\n"
BETA = "# Beta project\n\nThe beta project codeword is QUOKKA-9020. Beta ships in October.\n"
GAMMA = "# Gamma notes\n\nThe canteen opens at 8:00 and closes at 15:00 on weekdays.\n"


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def _sources(replica: str, query: str, mode_k: int = 5) -> list[str]:
    return [hit["source"] for hit in _post(f"{replica}/v1/retrieve", {"query": query, "k": mode_k})["hits"]]


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(tmp_path / "chroma")]
    log = tmp_path / "chroma.log"  # a file, not a pipe: the server logs every request and would block
    with log.open("w") as output:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(f"{url}/api/v2/heartbeat", process, 60):
            pytest.fail(f"chroma run did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _env(tmp_path: Path, chroma: str, name: str, corpus: Path) -> dict[str, str]:
    local = tmp_path / name  # each process has its own local folder: only Chroma is shared
    return {**os.environ, "RAG_STORE_MODE": "server", "RAG_CHROMA_URL": chroma, "RAG_COLLECTION": COLLECTION,
            "RAG_INDEX_DIR": str(local), "RAG_CORPUS_DIR": str(corpus),
            "RAG_MODELS_DIR": str(ROOT / "data" / "models")}  # fmt: skip


def _ingest(tmp_path: Path, chroma: str, corpus: Path) -> str:
    env = _env(tmp_path, chroma, "ingester", corpus)
    command = [sys.executable, "-m", "ingest", "--quiet"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_two_replicas_follow_ingestion_from_a_third_process(tmp_path: Path, chroma: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.md").write_text(ALPHA)
    (corpus / "gamma.md").write_text(GAMMA)
    assert chroma in _ingest(tmp_path, chroma, corpus)

    replicas, processes = [], []
    try:
        for name in ("replica-a", "replica-b"):
            port = free_port()
            env = _env(tmp_path, chroma, name, corpus)
            command = [sys.executable, "-m", "rag", "serve", "--port", str(port)]
            with (tmp_path / f"{name}.log").open("w") as output:
                processes.append(
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
                )
            replicas.append(f"http://127.0.0.1:{port}")
        for replica, process in zip(replicas, processes, strict=True):
            if not wait_until_up(f"{replica}/health", process, 180):
                pytest.fail(
                    f"{replica} did not start: {(process.stdout.read() if process.stdout else '')[-2000:]}"
                )
        for replica in replicas:
            assert _sources(replica, "What is the codeword ZEBRA-4411?")[0] == "alpha.md"
            assert {d["source"] for d in _get(f"{replica}/v1/documents")["documents"]} == {
                "alpha.md",
                "gamma.md",
            }
        assert not any(Path(tmp_path / name / "keyword").exists() for name in ("replica-a", "replica-b"))

        (corpus / "beta.md").write_text(BETA)
        (corpus / "alpha.md").unlink()
        _ingest(tmp_path, chroma, corpus)
        for replica in replicas:  # at once: nothing to wait for
            listed = {d["source"] for d in _get(f"{replica}/v1/documents")["documents"]}
            assert listed == {"beta.md", "gamma.md"}
            assert "alpha.md" not in _sources(replica, "What is the codeword ZEBRA-4411?", 10)
            assert _sources(replica, "When does the beta project ship?")[0] == "beta.md"
            question = {"role": "user", "content": "When does the beta project ship?"}
            reply = _post(f"{replica}/v1/chat/completions", {"messages": [question]})
            assert reply["citations"] and reply["citations"][0]["source"] == "beta.md"
            assert "alpha.md" not in {c["source"] for c in reply["citations"]}

        deadline = time.monotonic() + 90  # keyword copies are rebuilt in the background
        for replica in replicas:
            while True:
                hits = _post(f"{replica}/v1/retrieve", {"query": "QUOKKA-9020", "k": 3})["hits"]
                if hits and hits[0]["source"] == "beta.md" and hits[0]["keyword_score"]:
                    break
                assert time.monotonic() < deadline, f"{replica} never searched the new keyword index: {hits}"
                time.sleep(1)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
