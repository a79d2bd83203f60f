"""Process-level proofs: kill -9 mid-embedding then re-run; ingestion with the network unreachable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.synthetic import generate
from rag.core.settings import PROJECT_ROOT
from tests.helpers.index_checks import assert_consistent, stored

pytestmark = pytest.mark.slow


def ingest_command(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "ingest", str(corpus), "--quiet"]


def manifest_counts(index: Path) -> tuple[int, int]:
    path = index / "manifest.sqlite3"
    if not path.exists():
        return 0, 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as db:
            rows = dict(db.execute("SELECT status, count(*) FROM files GROUP BY status").fetchall())
    except sqlite3.OperationalError:
        return 0, 0
    return rows.get("done", 0), rows.get("pending", 0)


def assert_no_process_mentions(text: str, wait: float = 10.0) -> None:
    import psutil

    deadline = time.monotonic() + wait
    while True:
        alive = [p.pid for p in psutil.process_iter(["cmdline"]) if text in " ".join(p.info["cmdline"] or [])]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not alive, f"processes left behind: {alive}"


def test_kill_9_mid_embedding_then_rerun(make_settings: Any, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    generate(corpus, files=44, sections=12)
    settings = make_settings(collection="crash-test")
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_COLLECTION": settings.collection,
        "RAG_EMBEDDING_BATCH_SIZE": "16",
    }
    process = subprocess.Popen(
        ingest_command(corpus),
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    done = pending = 0
    while time.monotonic() < deadline and process.poll() is None:
        done, pending = manifest_counts(settings.index_dir)
        if done >= 3 and pending >= 1:
            break
        time.sleep(0.02)
    assert process.poll() is None, "ingestion finished before it could be killed: make the corpus bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert pending >= 1  # killed with a file half-written
    assert_no_process_mentions(str(corpus))  # its parse workers went down with it

    # the modified and deleted files make the re-run do every kind of work
    victims = sorted(corpus.rglob("*.md"))
    victims[0].write_text(victims[0].read_text() + "\n## Added later\n\nA brand new rule number 999.\n")
    victims[-1].unlink()
    rerun = subprocess.run(
        ingest_command(corpus), env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_consistent(settings, corpus)
    data = stored(settings)
    assert {m["source"] for m in data["metadatas"]} == {
        p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()
    }
    assert manifest_counts(settings.index_dir)[1] == 0  # nothing left pending
    third = subprocess.run(
        ingest_command(corpus), env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert "added 0, updated 0, unchanged 43" in third.stdout


NETWORK_GUARD = textwrap.dedent("""
    import socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network is unreachable (test guard)")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    import atexit
    atexit.register(lambda: open(sys.argv[-1] if False else __import__("os").environ["GUARD_LOG"], "w")
                    .write("\\n".join(attempts)))
""")


def test_ingestion_runs_with_the_network_unreachable(tmp_path: Path) -> None:
    """Every format, the spaCy model unstructured needs and the bundled embedder, all offline."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "attempts.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(guard),
        "GUARD_LOG": str(log),
        "RAG_INDEX_DIR": str(tmp_path / "idx"),
        "RAG_COLLECTION": "offline-test",
    }
    for name in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "DO_NOT_TRACK",
        "SCARF_NO_ANALYTICS",
        "UNSTRUCTURED_DISABLE_NOTICE",
    ):
        env.pop(name, None)  # the product must set what it needs itself
    result = subprocess.run(
        ingest_command(PROJECT_ROOT / "data" / "sample"),
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "added 9," in result.stdout and "failed 0" in result.stdout
    assert log.read_text() == "", f"network was attempted: {log.read_text()}"

    # unstructured's NLP (spaCy en_core_web_sm) loads from the installed alias, no download. Used
    # bare (without the product's opt-outs) unstructured tries its telemetry: the guard refuses it,
    # which also shows the guard is live.
    probe = (
        "from unstructured.nlp.tokenize import sent_tokenize, _get_nlp;"
        "print(len(sent_tokenize('One sentence here. Another one there.')), _get_nlp().meta['version'])"
    )
    nlp = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert nlp.returncode == 0, nlp.stderr
    assert nlp.stdout.split() == ["2", "3.8.0"]
    attempts = log.read_text()
    assert "packages.unstructured.io" in attempts  # telemetry, refused
    assert "github" not in attempts and "explosion" not in attempts  # no model download tried
