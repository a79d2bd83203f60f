"""Every error the product raises on purpose, under one base class, :class:`RagError`.

Each says in one sentence what went wrong, naming the file, folder, URL or setting, and the fix.
They live here, at the bottom layer, so that any layer can raise them and any caller (the CLI, the
chat, an embedding application) can catch them all with one ``except RagError``.

Example::

    from rag import RagError, Assistant
    try:
        Assistant().ask("How long are backups kept?")
    except RagError as error:
        print(f"cannot answer: {error}")
"""

from __future__ import annotations


class RagError(Exception):
    """The common base of the product's errors (their messages are meant for people)."""


class SettingsError(RagError, ValueError):
    """Settings that cannot be used: one sentence naming the file (or variable) and what is wrong."""


class IndexDamaged(RagError, RuntimeError):
    """The Chroma database file cannot be read; the message names it and the fix (``--reset``)."""


class StoreUnavailable(RagError, RuntimeError):
    """The Chroma server (``store_mode: server``) does not answer; the message names it and the fix."""


class AccessDenied(RagError, PermissionError):
    """The user may not do this (upload or delete without a writer group, read a document they
    may not see)."""


class KeywordIndexDamaged(RagError, RuntimeError):
    """The persisted keyword index cannot be read; ingestion rebuilds it."""


class IngestError(RagError):
    """Nothing could be done: bad corpus path, unusable index folder, incompatible index."""


class LLMError(RagError, RuntimeError):
    """The model could not answer: missing file, unreachable server, a reply that makes no sense."""


class ContextOverflow(RagError, ValueError):
    """The template and question alone do not fit the model's context window."""


class UploadRejected(RagError, ValueError):
    """An uploaded file that is not saved, with the reason to show the user."""


class MissingExtra(RagError, ImportError):
    """An optional part is not installed; the message says which extra to install."""


def require(module: str, extra: str) -> object:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that installs it.

    Example::

        ranx = require("ranx", "eval")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(
            f"{module} is not installed: it comes with the '{extra}' extra "
            f"(pip install 'brightdocs-rag[{extra}]', or `make setup`, which installs everything)"
        ) from error
