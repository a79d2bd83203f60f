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


# --- settings as people type them in the environment ----------------------------------------------

LIST_SETTINGS = {
    # variable: (plain value, comma-separated, JSON list, what the comma-separated one gives)
    "RAG_FILE_TYPES": (".pdf", " .pdf, DOCX ,, ", '[".pdf", "docx"]', [".pdf", ".docx"]),
    "RAG_LANGUAGES": ("eng", "eng, fra", '["eng", "fra"]', ["eng", "fra"]),
    "RAG_WRITER_GROUPS": ("admins", "admins,hr", '["admins", "hr"]', ["admins", "hr"]),
    "RAG_TRUSTED_PROXIES": ("127.0.0.1", "127.0.0.1, 10.0.0.0/8", '["127.0.0.1", "10.0.0.0/8"]',
                            ["127.0.0.1", "10.0.0.0/8"]),
}  # fmt: skip


def test_every_list_setting_is_covered() -> None:
    from typing import get_origin

    from rag.core.settings import Settings

    lists = {
        f"RAG_{name.upper()}" for name, f in Settings.model_fields.items() if get_origin(f.annotation) is list
    }
    assert lists == set(LIST_SETTINGS)


@pytest.mark.parametrize("variable", sorted(LIST_SETTINGS))
@pytest.mark.parametrize("form", ["plain", "comma-separated", "json"])
def test_list_settings_accept_a_plain_value_a_comma_separated_one_or_json(
    monkeypatch: pytest.MonkeyPatch, variable: str, form: str
) -> None:
    plain, commas, as_json, expected = LIST_SETTINGS[variable]
    monkeypatch.setenv(variable, {"plain": plain, "comma-separated": commas, "json": as_json}[form])
    got = getattr(load_settings(PROJECT_ROOT / "settings.yaml"), variable[4:].lower())
    assert got == (expected[:1] if form == "plain" else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("[.pdf, .MD]", [".pdf", ".md"]),  # the YAML file's way of writing a list
        ("'.pdf', \".md\"", [".pdf", ".md"]),  # quotes kept by docker --env-file
        ("[]", []),
    ],
)
def test_list_settings_other_forms(monkeypatch: pytest.MonkeyPatch, text: str, expected: list[str]) -> None:
    monkeypatch.setenv("RAG_FILE_TYPES", text)
    assert load_settings(PROJECT_ROOT / "settings.yaml").file_types == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[".pdf", ', "not a valid JSON list"),
        ('[".pdf", 3]', "file_types[1]=3"),
    ],
)
def test_a_broken_list_names_the_variable(monkeypatch: pytest.MonkeyPatch, text: str, expected: str) -> None:
    monkeypatch.setenv("RAG_FILE_TYPES", text)
    with pytest.raises(SettingsError) as caught:
        load_settings(PROJECT_ROOT / "settings.yaml")
    assert "RAG_FILE_TYPES" in str(caught.value) and expected in str(caught.value)


def test_the_yaml_file_takes_lists_as_before_and_plain_values_too(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("file_types: [.pdf, .MD]\nlanguages:\n  - eng\n  - fra\ntrusted_proxies: 127.0.0.1\n")
    settings = load_settings(path)
    assert settings.file_types == [".pdf", ".md"]
    assert settings.languages == ["eng", "fra"]
    assert settings.trusted_proxies == ["127.0.0.1"]


def test_access_rules_are_a_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ACCESS_RULES", '{"hr/**": ["hr"], "finance/*": "finance, board"}')
    rules = load_settings(PROJECT_ROOT / "settings.yaml").access_rules
    assert rules == {"hr/**": ["hr"], "finance/*": ["finance", "board"]}
    monkeypatch.setenv("RAG_ACCESS_RULES", "")
    assert load_settings(PROJECT_ROOT / "settings.yaml").access_rules == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{hr/**: [hr]}", "not valid JSON (Expecting property name"),
        ("hr/**=hr", "not valid JSON"),
        ('["hr"]', "not a JSON list"),
    ],
)
def test_access_rules_that_are_not_a_json_object_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.setenv("RAG_ACCESS_RULES", text)
    with pytest.raises(SettingsError) as caught:
        load_settings(PROJECT_ROOT / "settings.yaml")
    message = str(caught.value)
    assert "RAG_ACCESS_RULES" in message and expected in message and "\n" not in message
    assert 'expected a JSON object like {"hr/**": ["hr"]}' in message


def test_a_bad_scalar_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CHUNK_SIZE", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings(PROJECT_ROOT / "settings.yaml")
    message = str(caught.value)
    assert "RAG_CHUNK_SIZE" in message and "valid integer" in message and "\n" not in message


def test_a_value_the_source_cannot_read_is_our_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback for a pydantic-settings source error (none is expected with decoding off)."""
    from pydantic_settings import SettingsError as SourceError

    from rag.core.settings import Settings

    def fail(*args: object, **kwargs: object) -> None:
        raise SourceError('error parsing value for field "top_k" from source "EnvSettingsSource"') from (
            ValueError("Expecting value: line 1 column 1 (char 0)")
        )

    monkeypatch.setattr(Settings, "__init__", fail)
    with pytest.raises(SettingsError, match=r"environment variable RAG_TOP_K could not be read: Expecting"):
        load_settings(PROJECT_ROOT / "settings.yaml")


@pytest.mark.integration
@pytest.mark.parametrize(
    "command",
    [["rag", "ask", "x"], ["ingest", "--dry-run"], ["app", "--no-ingest"], ["rag.eval", "--beir", "x"]],
    ids=["rag-ask", "ingest", "app", "eval"],
)
def test_every_entry_point_prints_a_bad_variable_in_one_line(command: list[str]) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_ACCESS_RULES"] = "{hr/**: [hr]}"
    done = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "RAG_ACCESS_RULES" in done.stderr and "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
