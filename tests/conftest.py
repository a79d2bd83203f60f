"""Shared fixtures: settings on temp folders, the real bundled embedder (loaded once), fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

from tests.helpers import ROOT, SAMPLE


@pytest.fixture(autouse=True)
def _no_rag_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from settings.yaml only: a developer's RAG_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Any]:
    from rag.core.settings import load_settings

    def build(**overrides: Any) -> Any:
        overrides.setdefault("index_dir", tmp_path / "index")
        overrides.setdefault("models_dir", ROOT / "data" / "models")
        overrides.setdefault("collection", "test-docs")
        return load_settings(ROOT / "settings.yaml", **overrides)

    return build


@pytest.fixture(scope="session")
def embedder() -> Any:
    from rag.index.embeddings import SentenceTransformerEmbedder, bundled_model_path

    return SentenceTransformerEmbedder(bundled_model_path(), batch_size=64)


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from rag.index.embeddings import bundled_model_path

    return AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture(scope="session")
def sample_settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Settings on a session-wide index of the sample corpus (read-only for the tests using it)."""
    from rag.core.settings import load_settings

    return load_settings(
        ROOT / "settings.yaml",
        index_dir=tmp_path_factory.mktemp("sample-index"),
        models_dir=ROOT / "data" / "models",
        collection="sample",
    )


@pytest.fixture(scope="session")
def sample_assistant(sample_settings: Any, embedder: Any) -> Any:
    """An Assistant with the bundled GGUF over the ingested sample corpus (built once)."""
    from rag import Assistant

    assistant = Assistant(sample_settings, embedder=embedder)
    report = assistant.ingest(SAMPLE)
    assert not report.failed, report.summary()
    return assistant
