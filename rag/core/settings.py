"""Typed settings: ``settings.yaml`` plus ``RAG_*`` environment overrides plus keyword overrides.

Precedence, highest first: keyword arguments of :func:`load_settings`, environment variables
(``RAG_INDEX_DIR=/tmp/idx``), the YAML file, the defaults below. Relative paths are resolved
against the folder that holds the settings file, so commands work from any working directory.

Example::

    from rag import load_settings
    settings = load_settings()                      # ./settings.yaml or the project's one
    settings = load_settings(collection="handbooks", chunk_size=180)
    print(settings.index_dir, settings.collection)
"""

from __future__ import annotations

import difflib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from rag.core.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE_TYPES = [
    ".pdf",
    ".docx",
    ".pptx",
    ".xlsx",
    ".csv",
    ".html",
    ".htm",
    ".md",
    ".txt",
    ".eml",
]
EmbeddingBackend = Literal["torch", "onnx", "openvino-int8", "wordllama", "hash"]
TemplateName = Literal["plain", "cot", "few_shot"]
Decoding = Literal["auto", "extractive", "free"]
TEMPLATES: tuple[str, ...] = get_args(TemplateName)  # the answer templates, named here only
DECODINGS: tuple[str, ...] = get_args(Decoding)


class SettingsWarning(UserWarning):
    """A setting that is ignored (an unknown key, most likely misspelt)."""


class Settings(BaseSettings):
    """Every knob of the assistant, in one object that is passed down (never read from globals).

    Example::

        settings = Settings(corpus_dir=Path("docs"), index_dir=Path("/tmp/index"))
        assert settings.collection == "sample"
    """

    # enable_decoding=False: pydantic-settings hands list and mapping variables over as the text that
    # was typed (it would JSON-decode them and fail on RAG_TRUSTED_PROXIES=127.0.0.1); the "before"
    # validators below read them (_list_text, _mapping_text).
    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="ignore", validate_default=True, enable_decoding=False
    )

    # --- corpus and index -------------------------------------------------------------------
    corpus_dir: Path = Field(
        Path("data/sample"), description="Folder of documents that `make ingest` indexes."
    )
    index_dir: Path = Field(
        Path("data/index"), description="Folder of the persistent Chroma index and the sync manifest."
    )
    reports_dir: Path = Field(
        Path("reports"), description="Folder where `make eval` writes its reports (git-ignored)."
    )
    models_dir: Path = Field(
        Path("data/models"), description="Folder for model files made locally (GGUF, ONNX exports)."
    )
    collection: str = Field("sample", description="Chroma collection name (one per corpus; 3-63 characters).")
    file_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FILE_TYPES),
        description="File extensions that are indexed; others are skipped with a reason.",
    )
    max_file_size_mb: float = Field(
        50.0, gt=0, description="Files larger than this many MiB are refused (ingestion and uploads)."
    )
    parse_workers: int | None = Field(
        None,
        ge=0,
        description="Parse worker processes: empty = the fast path, one per core (at most 4); 0 = the "
        "plain serial path in this process (same chunks, slower; see ingest.fast).",
    )
    max_delete_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of the indexed documents one ingestion may delete because their "
        "files are missing (an unmounted share looks empty); more needs --allow-mass-delete.",
    )
    max_unzipped_mb: float = Field(
        500.0,
        gt=0,
        description="Office files (zip archives) that expand beyond this are refused as zip bombs.",
    )

    languages: list[str] = Field(
        default_factory=lambda: ["eng"],
        description="Document languages (ISO 639-3) for unstructured; [auto] detects them per document "
        "(about 40% more parse time).",
    )
    pdf_strategy: Literal["fast", "hi_res", "ocr_only"] = Field(
        "fast",
        description="fast reads the PDF text layer (default install); hi_res and ocr_only use "
        "unstructured's layout/OCR models (extra 'ocr').",
    )

    # --- chunking ---------------------------------------------------------------------------
    chunk_size: int = Field(
        200,
        ge=32,
        description="Target chunk size in embedder tokens (word pieces); capped by the embedder's "
        "maximum sequence length.",
    )
    chunk_overlap: int = Field(30, ge=0, description="Tokens shared by consecutive pieces of a long section.")

    # --- embeddings -------------------------------------------------------------------------
    embedding_model: str | None = Field(
        None,
        description="Path to a local sentence-transformers model folder; empty means the bundled "
        "all-MiniLM-L6-v2.",
    )
    embedding_backend: EmbeddingBackend = Field(
        "torch",
        description="torch (reference), onnx (exported locally, same vectors), openvino-int8 "
        "(int8, calibrated on your documents, about 2x faster; extra 'openvino'), wordllama "
        "(static multilingual token vectors for collections not in English; ignores "
        "embedding_model; extra 'wordllama': rag.index.static) or hash (deterministic hashed word "
        "counts, for tests: rag.index.fake).",
    )
    embedding_batch_size: int = Field(16, ge=1, description="Chunks per embedding batch.")

    # --- retrieval --------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=100, description="Chunks retrieved per question.")
    retrieval_mode: Literal["hybrid", "dense", "keyword"] = Field(
        "hybrid", description="hybrid fuses dense (Chroma) and keyword (BM25) results."
    )
    fusion: Literal["peak", "weighted", "rrf"] = Field(
        "weighted",
        description="peak: each question's dense weight from how peaked each list is (peak_scale); "
        "weighted: one dense_weight for every question; rrf: plain reciprocal rank fusion. Chosen by "
        "the worst case over the fit splits of many retrieval sets (scripts/fusion_fit.py; README "
        "'Retrieval fitted on many kinds of documents'); weighted stays the default until peak keeps "
        "the shown passages of languages the embedder cannot read (README).",
    )
    peak_scale: float = Field(
        1.0,
        ge=0.0,
        le=4.0,
        description="peak fusion: dense weight = peak_scale * dense_peak / (dense_peak + keyword_peak), "
        "a list's peak being how far its best score stands above its top 10. Fitted on the fit splits "
        "of scifact, cranfield, cisi (train qrels), squad2-dev and cmrc2018-dev (qa_fit.jsonl) with "
        "minmax scaling and 30 candidates: worst margin over the better input -0.001, mean +0.021 "
        "nDCG@10 (1.25: -0.005 / +0.022). Report splits: README.",
    )
    dense_weight: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Weight of the dense list in weighted fusion (keyword: 1 - this). Fitted on "
        "sample_beir, beir_tiny and the fit splits of squad2-dev and cmrc2018-dev; with only "
        "question-from-the-article sets it trusts keywords too much elsewhere (see fusion).",
    )
    score_normalisation: Literal["max", "minmax", "zscore"] = Field(
        "max",
        description="How each list's scores are scaled before peak or weighted fusion: max divides by "
        "the best score; minmax stretches every list over [0, 1]; zscore: standard deviations from "
        "the list's mean. Fitted with fusion.",
    )
    candidates: int = Field(
        30,
        ge=1,
        description="Candidates fetched from each retriever before fusion and reranking. Fitted with "
        "peak fusion on the same fit splits: mean hybrid nDCG@10 0.694 / 0.697 / 0.698 / 0.698 / 0.699 "
        "at 10 / 20 / 30 / 50 / 100.",
    )
    duplicate_threshold: float = Field(
        0.9, gt=0.0, le=1.0, description="Word-overlap (Jaccard) above which two hits count as duplicates."
    )
    reranker_model: str | None = Field(
        None, description="Path to a local sentence-transformers cross-encoder; empty = no reranking."
    )

    # --- answering --------------------------------------------------------------------------
    template: TemplateName = Field(
        "few_shot",
        description="plain (instruct models), cot (reasons, then answers) or few_shot (worked "
        "examples; the default for the bundled base model).",
    )
    decoding: Decoding = Field(
        "auto",
        description="extractive: the answer is a verbatim span of a shown passage (few_shot, local "
        "model); free: the model writes, the answer is verified afterwards; auto: extractive for "
        "few_shot when the backend can constrain decoding (llama.cpp in process), else free.",
    )
    templates_dir: Path | None = Field(
        None, description="Folder with your own plain.jinja / cot.jinja / few_shot.jinja; empty = built-in."
    )
    context_passages: int = Field(
        2,
        ge=1,
        le=20,
        description="Numbered passages [1]..[n] put before the model: the sentences or table rows of the "
        "retrieved chunks that best match the question.",
    )
    min_evidence: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="Refuse without asking the model when the best passage's similarity to the "
        "question is below this (0 = off). 0.55: the highest value that refused no right answer on "
        "the fit splits (squad2-dev 400 + cmrc2018-dev 200 qa_fit questions: 33 candidates "
        "below it, none right).",
    )
    names_gate: bool = Field(
        True,
        description="Refuse without asking the model when a capitalised name of the question is in "
        "no retrieved chunk (on the fit splits: 22 such candidates, 3 right, 16 unanswerable).",
    )
    min_confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Refuse when the estimated chance that the answer is right is below this "
        "(0.5: answer only when right is likelier than wrong; 0 = never refuse on confidence); "
        "empty = the operating point fitted with the refusal model.",
    )
    refusal_dir: Path | None = Field(
        None,
        description="Folder of refusal models fitted by python -m rag.eval --fit-refusal "
        "(refusal.<model>.<decoding>.json); empty = models_dir. With no fit for the configured "
        "model, the bundled model's fit is used.",
    )
    refusal_text: str = Field(
        "I don't know: the documents I have do not answer that.",
        description="Answer text of a refusal (the closest sources are listed with it).",
    )

    # --- LLM --------------------------------------------------------------------------------
    llm_mode: Literal["local", "openai", "fake"] = Field(
        "local",
        description="local: llama-cpp-python (in a child process, see llm_isolation); openai: an "
        "OpenAI-compatible server; fake: "
        "deterministic replies for tests that do not test the model (rag.answer.fake).",
    )
    llm_model_path: Path | None = Field(
        None, description="GGUF file for local mode; empty = the bundled Gemma 3 270M (a base model)."
    )
    llm_base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible server URL (openai mode)."
    )
    llm_model: str = Field("local-model", description="Model name sent to the server (openai mode).")
    llm_api_key: SecretStr = Field(
        SecretStr(""), description="API key for the server; set it with RAG_LLM_API_KEY, not in the file."
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the server (openai mode).")
    llm_retries: int = Field(2, ge=0, description="Retries on connection errors and 5xx (openai mode).")
    llm_chat: Literal["auto", "chat", "completion"] = Field(
        "auto",
        description="auto: chat API with the model's own chat template for plain/cot when the GGUF has "
        "one, plain completion otherwise (and always for few_shot).",
    )
    n_ctx: int = Field(2048, ge=256, description="Context window (tokens) the prompt must fit in.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp; empty = all cores.")
    n_gpu_layers: int = Field(
        0,
        ge=-1,
        description="Layers offloaded to the GPU (-1 = all); needs a GPU build (make setup GPU=cuda).",
    )
    llama_extra_buffers: Literal["auto", "on", "off"] = Field(
        "auto",
        description="llama.cpp's extra CPU buffer types (AMX/repack). auto: off where the CPU has AMX and "
        "the llama.cpp library was built with it (AMX_INT8 = 1: it crashes on the first token, "
        "ggml-org/llama.cpp #20824), on elsewhere (make setup's build has no AMX: repack stays).",
    )
    llm_isolation: Literal["process", "inline"] = Field(
        "process",
        description="local mode. process: the model runs in a child process, so a crash inside "
        "llama.cpp (segfault, abort, out of memory) fails one question with an LLMError and the model "
        "is reloaded for the next; inline: in this process (a crash there ends the process).",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 = greedy.")
    max_tokens: int = Field(64, ge=1, description="Most tokens generated per answer.")
    seed: int = Field(0, description="Sampling seed (reproducible answers).")
    prompt_cache: bool = Field(
        True, description="Reuse the KV state of the fixed prompt prefix across questions (local mode)."
    )

    # --- chat UI ----------------------------------------------------------------------------
    address: str = Field("127.0.0.1", description="Address the chat UI listens on.")
    port: int = Field(8501, ge=1, le=65535, description="Port of the chat UI (make run PORT=...).")
    api_url: str = Field(
        "", description="Empty: the chat answers in process. Else the HTTP API it calls (http://host:8800)."
    )

    # --- many users: the shared store, access control, identity -------------------------------
    store_mode: Literal["embedded", "server"] = Field(
        "embedded",
        description="embedded: Chroma files in index_dir (one machine); server: a `chroma run` server.",
    )
    chroma_url: str = Field(
        "http://127.0.0.1:8000", description="The Chroma server (store_mode: server), http(s)://host:port."
    )
    access_rules: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Path glob of the corpus -> groups that may read it (first match wins; no match = "
        'everyone). RAG_ACCESS_RULES as JSON: {"hr/**": ["hr"]}.',
    )
    writer_groups: list[str] = Field(
        ["writers"], description="Groups that may upload and delete documents (when users sign in)."
    )
    auth: Literal["none", "proxy", "oidc"] = Field(
        "none",
        description="none: no sign-in (single user; with access_rules, only open documents); proxy: "
        "X-Forwarded-User/-Groups from trusted_proxies; oidc: the chat's st.login.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) whose X-Forwarded-User/-Groups headers are believed.",
    )
    oidc_groups_claim: str = Field(
        "groups", description="The ID token claim holding the user's groups (oidc)."
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not 3 <= len(value) <= 63:
            raise ValueError(f"collection name {value!r} must have 3 to 63 characters (a Chroma rule)")
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.))*[A-Za-z0-9]", value) or _ipv4(value):
            raise ValueError(
                f"collection name {value!r} may hold only letters, digits, '.', '_' and '-', must start "
                "and end with a letter or digit, and must not be an IP address (Chroma's rules)"
            )
        return value

    @field_validator("chroma_url", "api_url")
    @classmethod
    def _url(cls, value: str, info: Any) -> str:
        from urllib.parse import urlsplit

        value = value.strip().rstrip("/")
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError(f"{info.field_name} must look like http://host:port, not {value!r}")
        return value

    @field_validator("file_types", "languages", "writer_groups", "trusted_proxies", mode="before")
    @classmethod
    def _list_text(cls, value: Any) -> Any:
        return parse_list(value) if isinstance(value, str) else value

    @field_validator("access_rules", mode="before")
    @classmethod
    def _mapping_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = parse_mapping(value)
        if isinstance(value, dict):  # {"hr/**": "hr, admins"}: the groups typed as a list setting
            value = {
                key: parse_list(groups) if isinstance(groups, str) else groups
                for key, groups in value.items()
            }
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (10.0.0.0/8)") from None
        return [item.strip() for item in value]

    @field_validator("access_rules")
    @classmethod
    def _rules(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for glob, groups in value.items():
            if not glob.strip() or not [g for g in groups if g.strip()]:
                raise ValueError(f"access rule {glob!r}: {groups!r} needs a glob and at least one group")
        return value

    @field_validator("file_types")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        return [v.lower() if v.startswith(".") else f".{v.lower()}" for v in value]

    @field_validator(
        "embedding_model",
        "reranker_model",
        "llm_model_path",
        "templates_dir",
        "refusal_dir",
        "min_confidence",
        "n_threads",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info: Any) -> int:
        size = info.data.get("chunk_size")
        if size is not None and value >= size:
            raise ValueError(f"chunk_overlap ({value}) must be smaller than chunk_size ({size})")
        return value

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)


MAPPING_EXAMPLE = '{"hr/**": ["hr"]}'


def parse_list(text: str) -> list[Any]:
    """A list setting as people type it: ``a``, ``a, b`` or a JSON list (``["a", "b"]``).

    Items are stripped, empty ones dropped (so an empty value is an empty list), and a pair of quotes
    around an item removed (``--env-file`` keeps them). ``[a, b]`` without quotes, the way the YAML
    file writes lists, is read as ``a, b``. Anything else that starts with ``[`` must be valid JSON.

    Example::

        parse_list(".pdf, .docx,")      # ['.pdf', '.docx']
        parse_list('["eng", "fra"]')    # ['eng', 'fra']
    """
    value = text.strip()
    items: list[Any]
    if value.startswith("["):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as error:
            if not value.endswith("]") or any(quote in value for quote in "\"'"):
                raise ValueError(
                    f'not a valid JSON list ({error.msg} at column {error.colno}): write a, b or ["a", "b"]'
                ) from None
            decoded = value[1:-1].split(",")  # [eng, fra]: a list written as in the YAML file
        items = decoded
    else:
        items = value.split(",")
    found = []
    for item in items:
        if isinstance(item, str):
            item = _unquote(item)
            if not item:
                continue
        found.append(item)  # a JSON number or null stays itself: validation names it
    return found


def parse_mapping(text: str) -> dict[str, Any]:
    """A mapping setting (``access_rules``) from its text: a JSON object; an empty value is ``{}``.

    JSON only: globs may hold the commas, colons and equals signs that a shorter syntax would need.

    Example::

        parse_mapping('{"hr/**": ["hr"]}')   # {'hr/**': ['hr']}
    """
    value = text.strip()
    if not value:
        return {}
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON ({error.msg} at column {error.colno}): expected a JSON object like "
            f"{MAPPING_EXAMPLE}"
        ) from None
    if not isinstance(decoded, dict):
        raise ValueError(f"expected a JSON object like {MAPPING_EXAMPLE}, not a JSON {_json_kind(decoded)}")
    return decoded


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
        item = item[1:-1].strip()
    return item


def _json_kind(value: Any) -> str:
    kinds = {list: "list", str: "string", bool: "true/false", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _ipv4(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def find_settings_file(path: str | Path | None = None) -> Path | None:
    """The settings file to read: the argument, ``$RAG_SETTINGS_FILE``, ./settings.yaml, the project's."""
    candidates = [
        path,
        os.environ.get("RAG_SETTINGS_FILE"),
        Path.cwd() / "settings.yaml",
        PROJECT_ROOT / "settings.yaml",
    ]
    for candidate in candidates:
        if candidate:
            found = Path(candidate)
            if found.is_file():
                return found.resolve()
            if candidate in (path, os.environ.get("RAG_SETTINGS_FILE")):
                raise FileNotFoundError(f"settings file not found: {found}")
    return None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from the YAML file, ``RAG_*`` variables and keyword overrides.

    Raises :class:`SettingsError` with one sentence naming the file or variable when the YAML is
    malformed or a value is invalid; unknown keys warn (:class:`SettingsWarning`) with the closest
    valid name.

    Example::

        settings = load_settings(index_dir="/tmp/index", collection="test-docs")
    """
    yaml_file = find_settings_file(path)
    settings_cls: type[Settings] = Settings
    values: dict[str, Any] = {}
    if yaml_file is not None:
        values = read_yaml(yaml_file)
        config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": yaml_file})
        settings_cls = type("Settings", (Settings,), {"model_config": config})
    _warn_unknown(yaml_file, values)
    try:
        settings = settings_cls(**overrides)
    except ValidationError as error:
        raise SettingsError(_explain(error, yaml_file, values, overrides)) from None
    except SourceError as error:  # a source that could not read a value (not expected: see model_config)
        raise SettingsError(_explain_source(error, yaml_file)) from None
    base = yaml_file.parent if yaml_file else Path.cwd()
    updates = {
        name: (base / value).resolve()
        for name in (
            "corpus_dir",
            "index_dir",
            "models_dir",
            "reports_dir",
            "llm_model_path",
            "templates_dir",
            "refusal_dir",
        )
        if (value := getattr(settings, name)) is not None and not value.is_absolute()
    }
    return settings.model_copy(update=updates)


def read_yaml(path: Path) -> dict[str, Any]:
    """The settings file as a mapping; :class:`SettingsError` naming the file, line and problem."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise SettingsError(f"settings file {path} is not UTF-8 text ({error.reason})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        hint = " (indent with spaces: YAML does not allow tabs)" if "\t" in str(error) else ""
        raise SettingsError(f"settings file {path} is not valid YAML{where}: {problem}{hint}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(
            f"settings file {path} must hold `key: value` lines (a mapping), not a {type(data).__name__}"
        )
    return {str(key): value for key, value in data.items()}


def _warn_unknown(yaml_file: Path | None, values: dict[str, Any]) -> None:
    known = set(Settings.model_fields)
    found = [(f"settings file {yaml_file}", key) for key in values]
    found += [
        (f"environment variable {name}", name[4:].lower())
        for name in os.environ
        if name.startswith("RAG_") and name != "RAG_SETTINGS_FILE"
    ]
    for where, key in found:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warnings.warn(f"{where}: unknown setting {key!r} ignored{hint}", SettingsWarning, stacklevel=3)


def _explain(
    error: ValidationError, yaml_file: Path | None, values: dict[str, Any], overrides: dict[str, Any]
) -> str:
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "settings"
        if name in overrides:
            where = "given as an argument"
        elif f"RAG_{name.upper()}" in os.environ:
            where = f"from environment variable RAG_{name.upper()}"
        elif name in values:
            where = f"in {yaml_file}"
        else:
            where = "default"
        message = str(item["msg"]).removeprefix("Value error, ")
        shown = name + "".join(f"[{part!r}]" for part in item["loc"][1:])  # file_types[1]: one item
        problems.append(f"{shown}={item.get('input')!r} ({where}): {message}")
    return "invalid setting " + "; ".join(problems)


def _explain_source(error: SourceError, yaml_file: Path | None) -> str:
    found = re.search(r'field "(\w+)" from source "(\w+)"', str(error))
    cause = error.__cause__
    reason = f": {str(cause).splitlines()[0]}" if cause is not None and str(cause) else ""
    if found is None:
        return f"settings could not be read: {str(error).splitlines()[0]}{reason}"
    name, source = found.groups()
    where = (
        f"environment variable RAG_{name.upper()}" if source.startswith("Env") else f"{name} in {yaml_file}"
    )
    return f"invalid setting: {where} could not be read{reason}"
