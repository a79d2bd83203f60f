"""The answering engine's public API: the only names entry points (CLI, chat, HTTP) import.

Names load on first use (PEP 562), so ``import rag`` is cheap and the lower layers (``rag.core``,
``rag.index``, ``ingest``) can import each other's modules without loading the facade.

Example::

    from rag import Assistant, load_settings
    assistant = Assistant(load_settings())
    answer = assistant.ask("How long are backups kept?")
    print(answer.text, [c.location for c in answer.citations])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS = {
    "Assistant": "rag.api",
    "HistoryTurn": "rag.answer.answering",
    "Answer": "rag.core.schema",
    "Chunk": "rag.core.schema",
    "Citation": "rag.core.schema",
    "FileProblem": "rag.core.schema",
    "Hit": "rag.core.schema",
    "IngestReport": "rag.core.schema",
    "printable": "rag.core.schema",
    "Settings": "rag.core.settings",
    "load_settings": "rag.core.settings",
    "TEMPLATES": "rag.core.settings",
    "DECODINGS": "rag.core.settings",
    "PROJECT_ROOT": "rag.core.settings",
    "RagError": "rag.core.errors",
    "SettingsError": "rag.core.errors",
    "IndexDamaged": "rag.core.errors",
    "IngestError": "rag.core.errors",
    "LLMError": "rag.core.errors",
    "ContextOverflow": "rag.core.errors",
    "MissingExtra": "rag.core.errors",
    "UploadRejected": "rag.core.errors",
    "AccessDenied": "rag.core.errors",
    "StoreUnavailable": "rag.core.errors",
    "User": "rag.core.access",
    "AccessRules": "rag.core.access",
    "identify": "rag.core.identity",
    "RemoteAssistant": "rag.client",
    "from_claims": "rag.core.identity",
    "NotSignedIn": "rag.core.identity",
    "UPLOADS": "ingest.uploads",
    "MAX_NAME": "ingest.uploads",
    "safe_filename": "ingest.uploads",
    "save_upload": "ingest.uploads",
    "discard_failed_uploads": "ingest.uploads",
    "require": "rag.core.errors",
    "Filters": "rag.answer.retrieval",
    "BackendInfo": "rag.answer.llm",
    "LLM": "rag.answer.llm",
    "make_llm": "rag.answer.llm",
    "bundled_gguf": "rag.answer.llm",
    "probe": "rag.answer.probe",
    "ProbeReport": "rag.answer.probe",
    "Embedder": "rag.index.embeddings",
    "make_embedder": "rag.index.embeddings",
    "list_collections": "rag.index.store",
    "create_app": "rag.server.app",
    "serve": "rag.server.app",
    "latest_report": "rag.eval.report",
    "qa_table": "rag.eval.report",
    "misses": "rag.eval.report",
    "beir_table": "rag.eval.report",
}

__all__ = [
    "DECODINGS",
    "LLM",
    "MAX_NAME",
    "PROJECT_ROOT",
    "TEMPLATES",
    "UPLOADS",
    "AccessDenied",
    "AccessRules",
    "Answer",
    "Assistant",
    "BackendInfo",
    "Chunk",
    "Citation",
    "ContextOverflow",
    "Embedder",
    "FileProblem",
    "Filters",
    "HistoryTurn",
    "Hit",
    "IndexDamaged",
    "IngestError",
    "IngestReport",
    "LLMError",
    "MissingExtra",
    "NotSignedIn",
    "ProbeReport",
    "RagError",
    "RemoteAssistant",
    "Settings",
    "SettingsError",
    "StoreUnavailable",
    "UploadRejected",
    "User",
    "beir_table",
    "bundled_gguf",
    "create_app",
    "discard_failed_uploads",
    "from_claims",
    "identify",
    "latest_report",
    "list_collections",
    "load_settings",
    "make_embedder",
    "make_llm",
    "misses",
    "printable",
    "probe",
    "qa_table",
    "require",
    "safe_filename",
    "save_upload",
    "serve",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and editors see
    from ingest.uploads import MAX_NAME, UPLOADS, discard_failed_uploads, safe_filename, save_upload
    from rag.answer.answering import HistoryTurn
    from rag.answer.llm import LLM, BackendInfo, bundled_gguf, make_llm
    from rag.answer.probe import ProbeReport, probe
    from rag.answer.retrieval import Filters
    from rag.api import Assistant
    from rag.client import RemoteAssistant
    from rag.core.access import AccessRules, User
    from rag.core.errors import (
        AccessDenied,
        ContextOverflow,
        IndexDamaged,
        IngestError,
        LLMError,
        MissingExtra,
        RagError,
        SettingsError,
        StoreUnavailable,
        UploadRejected,
        require,
    )
    from rag.core.identity import NotSignedIn, from_claims, identify
    from rag.core.schema import Answer, Chunk, Citation, FileProblem, Hit, IngestReport, printable
    from rag.core.settings import DECODINGS, PROJECT_ROOT, TEMPLATES, Settings, load_settings
    from rag.eval.report import beir_table, latest_report, misses, qa_table
    from rag.index.embeddings import Embedder, make_embedder
    from rag.index.store import list_collections
    from rag.server.app import create_app, serve
