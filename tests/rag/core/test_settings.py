from __future__ import annotations

from pathlib import Path

import pytest

from rag.core.settings import PROJECT_ROOT, SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_defaults_come_from_the_project_settings_file() -> None:
    settings = load_settings(PROJECT_ROOT / "settings.yaml")
    assert settings.corpus_dir == PROJECT_ROOT / "data" / "sample"
    assert settings.index_dir == PROJECT_ROOT / "data" / "index"
    assert settings.collection == "sample"
    assert settings.embedding_model is None
    assert ".pdf" in settings.file_types and ".eml" in settings.file_types


def test_documented_environment_variables_override_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAG_CORPUS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("RAG_COLLECTION", "handbooks")
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", str(tmp_path / "model"))
    monkeypatch.setenv("RAG_CHUNK_SIZE", "150")
    monkeypatch.setenv("RAG_FILE_TYPES", '["pdf", ".MD"]')
    settings = load_settings(PROJECT_ROOT / "settings.yaml")
    assert settings.corpus_dir == tmp_path / "docs"
    assert settings.index_dir == tmp_path / "idx"
    assert settings.collection == "handbooks"
    assert settings.embedding_model == str(tmp_path / "model")
    assert settings.chunk_size == 150
    assert settings.file_types == [".pdf", ".md"]


def test_documented_llm_variables_override_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_LLM_MODE", "openai")
    monkeypatch.setenv("RAG_LLM_MODEL_PATH", str(tmp_path / "model.gguf"))
    monkeypatch.setenv("RAG_LLM_BASE_URL", "http://10.0.0.5:8000/v1")
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("RAG_N_GPU_LAYERS", "-1")
    monkeypatch.setenv("RAG_TEMPLATE", "cot")
    monkeypatch.setenv("RAG_TOP_K", "8")
    settings = load_settings(PROJECT_ROOT / "settings.yaml")
    assert settings.llm_mode == "openai"
    assert settings.llm_model_path == tmp_path / "model.gguf"
    assert settings.llm_base_url == "http://10.0.0.5:8000/v1"
    assert settings.llm_api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)
    assert settings.n_gpu_layers == -1
    assert settings.template == "cot"
    assert settings.top_k == 8


def test_keyword_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_COLLECTION", "from-env")
    assert load_settings(PROJECT_ROOT / "settings.yaml", collection="from-kwargs").collection == "from-kwargs"


def test_relative_paths_resolve_against_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("corpus_dir: docs\nindex_dir: state/index\n")
    settings = load_settings(tmp_path / "settings.yaml")
    assert settings.corpus_dir == tmp_path / "docs"
    assert settings.index_dir == tmp_path / "state" / "index"


@pytest.mark.parametrize("name", ["ab", "x" * 64])
def test_collection_names_follow_chromas_rules(name: str) -> None:
    with pytest.raises(SettingsError, match="3 to 63 characters"):
        load_settings(PROJECT_ROOT / "settings.yaml", collection=name)


def test_overlap_must_be_smaller_than_chunk_size() -> None:
    with pytest.raises(SettingsError, match="chunk_overlap"):
        load_settings(PROJECT_ROOT / "settings.yaml", chunk_size=64, chunk_overlap=64)


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothere\.yaml"):
        load_settings(tmp_path / "nothere.yaml")
