"""The engine as the chat page holds it: one embedder and one LLM per process, one Assistant per
collection (Streamlit's ``cache_resource``), all built from settings; or, with ``api_url`` set, a
:class:`rag.RemoteAssistant` calling the HTTP API (the engine runs elsewhere).

Example::

    settings = app_settings()
    assistant = assistant_for(settings, "sample")
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from rag import (
    LLM,
    Assistant,
    Embedder,
    RemoteAssistant,
    Settings,
    list_collections,
    load_settings,
    make_embedder,
    make_llm,
)

Engine = Assistant | RemoteAssistant


def app_settings() -> Settings:
    """settings.yaml + RAG_* variables, read on every run (cheap) so the page follows them."""
    return load_settings()


@st.cache_resource(show_spinner="Loading the embedding model ...")
def _embedder(settings_json: str) -> Embedder:
    return make_embedder(Settings.model_validate_json(settings_json))


@st.cache_resource(show_spinner="Loading the language model ...")
def _llm(settings_json: str) -> LLM:
    return make_llm(Settings.model_validate_json(settings_json))


def shared_embedder(settings: Settings) -> Embedder:
    return _embedder(settings.model_dump_json())


def shared_llm(settings: Settings) -> LLM:
    return _llm(settings.model_dump_json())


@st.cache_resource(show_spinner=False)
def _assistant(settings_json: str, collection: str) -> Assistant:
    settings = Settings.model_validate_json(settings_json).model_copy(update={"collection": collection})
    return Assistant(settings, embedder=shared_embedder(settings))


@st.cache_resource(show_spinner=False)
def _remote(settings_json: str) -> RemoteAssistant:
    return RemoteAssistant(Settings.model_validate_json(settings_json))


def assistant_for(settings: Settings, collection: str) -> Engine:
    """The cached Assistant of ``collection`` (its LLM is attached on first question), or the HTTP
    API's when ``api_url`` is set."""
    if settings.api_url:
        return _remote(settings.model_dump_json())
    return _assistant(settings.model_dump_json(), collection)


def attach_llm(assistant: Engine, settings: Settings) -> LLM | None:
    """Load (once per process) and attach the LLM; raises LLMError with a readable message. Nothing
    to load when the HTTP API answers."""
    if isinstance(assistant, RemoteAssistant):
        return None
    llm = shared_llm(settings)
    assistant.use_llm(llm)
    return llm


def corpus_folder(settings: Settings, collection: str) -> Path:
    """The folder a collection mirrors: ``corpus_dir`` for the configured one, else one per collection."""
    if collection == settings.collection:
        return settings.corpus_dir
    return settings.index_dir / "corpora" / collection


def collections(settings: Settings) -> list[str]:
    """Collections in the index folder, the configured one first (only the API's with ``api_url``)."""
    return [settings.collection] if settings.api_url else list_collections(settings)
