"""The public API and CLI through real parts: Assistant.ingest/retrieve/delete keep Chroma and the
BM25 index in step; `python -m rag ask` and `doctor` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, Filters, IngestReport

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_ingest_delete_and_keyword_index_stay_in_step(
    make_settings: Any, embedder: Any, sample_copy: Path
) -> None:
    assistant = Assistant(make_settings(), embedder=embedder)
    report = assistant.ingest(sample_copy)
    assert isinstance(report, IngestReport) and len(report.added) == 9 and not report.failed
    assert assistant.retrieve("SEC-4012", k=1)[0].source == "it_security_policy.pdf"

    assert assistant.delete("it_security_policy.pdf") > 0
    assert "it_security_policy.pdf" not in assistant.sources()
    assert all(h.source != "it_security_policy.pdf" for h in assistant.retrieve("SEC-4012 VPN locked", k=10))
    keyword = assistant.index.keyword()
    assert keyword is not None
    assert all(h.source != "it_security_policy.pdf" for h in keyword.search("SEC-4012", 10))

    (sample_copy / "it_security_policy.pdf").unlink()
    (sample_copy / "faq.md").write_text("# FAQ\n\nThe printer code for floor 3 is PRN-7781.\n")
    report = assistant.ingest(sample_copy)
    assert report.added == ["faq.md"] and not report.deleted  # already deleted through the API
    hits = assistant.retrieve("PRN-7781", k=1)
    assert hits[0].source == "faq.md" and "keyword_score" in hits[0].metadata


def test_filters_restrict_both_retrievers(sample_assistant: Any) -> None:
    hits = sample_assistant.retrieve("laptop", k=10, filters=Filters(file_types=[".html"]))
    assert hits and {h.source for h in hits} == {"intranet_it_helpdesk.html"}
    hits = sample_assistant.retrieve("laptop", k=10, filters=Filters(sources="*.pdf"))
    assert hits and {h.source for h in hits} == {"it_security_policy.pdf"}
    assert sample_assistant.retrieve("laptop", filters=Filters(sources="nothing/*")) == []


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_ask_prints_answer_and_sources(sample_assistant: Any) -> None:
    env = {
        "RAG_INDEX_DIR": str(sample_assistant.settings.index_dir),
        "RAG_COLLECTION": "sample",
        "RAG_TOP_K": "4",
    }
    done = run_cli("ask", "How long are backups retained?", env=env)
    assert done.returncode == 0, done.stderr
    assert "35 days" in done.stdout and "it_security_policy.pdf, page 4" in done.stdout
    refused = run_cli("ask", "Who won the 2022 football world cup?", env=env)
    assert (
        refused.returncode == 0 and "I don't know" in refused.stdout and "Closest sources" in refused.stdout
    )


@pytest.mark.slow
def test_cli_ask_on_an_empty_index_says_what_to_do(tmp_path: Path) -> None:
    done = run_cli("ask", "anything?", env={"RAG_INDEX_DIR": str(tmp_path / "empty")})
    assert done.returncode == 1 and "make ingest" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_doctor_makes_cpu_fallback_impossible_to_miss(tmp_path: Path) -> None:
    done = run_cli("doctor", env={"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_N_GPU_LAYERS": "-1"})
    import llama_cpp

    assert "tokens/s" in done.stdout and "GPU layers: requested -1" in done.stdout
    if llama_cpp.llama_supports_gpu_offload():
        assert done.returncode == 0 and "runs on: GPU" in done.stdout
    else:
        assert done.returncode == 2 and "runs on: CPU" in done.stdout
        assert "no GPU support" in done.stderr and "make setup GPU=cuda" in done.stderr


@pytest.mark.slow
def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_LLM_MODEL_PATH": str(tmp_path / "nope.gguf")}
    done = run_cli("doctor", env=env)
    assert done.returncode == 1 and "model file not found" in done.stderr and "nope.gguf" in done.stderr


def test_store_reads_large_collections_in_pages(
    sample_assistant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.index.store

    everything = sample_assistant.index.get()
    monkeypatch.setattr(rag.index.store, "PAGE", 7)
    paged = sample_assistant.index.get()
    assert len(paged["ids"]) == len(everything["ids"]) > 7
    assert sorted(paged["ids"]) == sorted(everything["ids"])
    counts = sample_assistant.sources()  # read in pages too: every chunk counted once, every file there
    assert sum(counts.values()) == len(everything["ids"]) == sample_assistant.count()
    assert set(counts) == {p.name for p in (ROOT / "data" / "sample").iterdir() if p.is_file()}


def test_a_configured_cross_encoder_reranks(sample_assistant: Any, tmp_path: Path) -> None:
    """No cross-encoder ships with the project: one is built locally from the bundled MiniLM weights
    with an untrained head, which proves the wiring (scores come from the model, order follows them)."""
    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as hf_logging

    from rag.index.embeddings import bundled_model_path

    hf_logging.set_verbosity_error()
    CrossEncoder(str(bundled_model_path()), local_files_only=True, num_labels=1).save(str(tmp_path / "ce"))
    settings = sample_assistant.settings.model_copy(update={"reranker_model": str(tmp_path / "ce")})
    reranked = Assistant(settings, embedder=sample_assistant.embedder).retrieve("backups retained", k=4)
    scores = [h.metadata["rerank_score"] for h in reranked]
    assert len(reranked) == 4 and scores == sorted(scores, reverse=True)
    assert all(h.score == h.metadata["rerank_score"] for h in reranked)

    missing = sample_assistant.settings.model_copy(update={"reranker_model": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="reranker_model"):
        Assistant(missing, embedder=sample_assistant.embedder).retrieve("backups")


@pytest.mark.integration
def test_the_shipped_fakes_run_the_whole_engine(make_settings: Any, sample_copy: Path) -> None:
    """Settings alone select the deterministic parts: real Chroma and BM25, no model loaded."""
    settings = make_settings(llm_mode="fake", embedding_backend="hash")
    assistant = Assistant(settings)
    report = assistant.ingest(sample_copy)
    assert not report.failed and assistant.count() > 0
    answer = assistant.ask("How long are backups retained?")
    assert not answer.refused and "35 days" in answer.text
    assert answer.citations[0].source == "it_security_policy.pdf" and answer.citations[0].supported
    again = Assistant(settings).ask("How long are backups retained?")
    assert again.text == answer.text  # the same answer in a fresh engine


LEAN = """
import sys
from pathlib import Path
from rag import Assistant, load_settings
settings = load_settings(index_dir=sys.argv[1], collection="lean", llm_mode="fake", embedding_backend="hash")
assistant = Assistant(settings)
assistant.ingest(Path(sys.argv[2]))
answer = assistant.ask("How long are backups retained?")
assert not answer.refused, answer.refusal_reason
heavy = sorted(m for m in ("streamlit", "ranx", "matplotlib", "sklearn") if m in sys.modules)
print("LOADED", heavy)
"""


@pytest.mark.integration
def test_the_engine_runs_without_the_app_and_eval_extras(tmp_path: Path, sample_copy: Path) -> None:
    """Ingest and answer in a fresh process: none of the extras' packages is ever imported."""
    done = subprocess.run(
        [sys.executable, "-c", LEAN, str(tmp_path / "index"), str(sample_copy)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED []" in done.stdout
