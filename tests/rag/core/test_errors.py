"""One base class for every error the product raises, and a missing extra named with its fix."""

from __future__ import annotations

import pytest

import rag
from rag.core import errors

pytestmark = pytest.mark.unit


def test_every_public_error_is_a_rag_error() -> None:
    for name in (
        "SettingsError",
        "IndexDamaged",
        "IngestError",
        "LLMError",
        "ContextOverflow",
        "MissingExtra",
    ):
        assert issubclass(getattr(rag, name), rag.RagError), name
    from ingest import IngestError
    from rag.index.keyword import KeywordIndexDamaged

    assert IngestError is rag.IngestError and issubclass(KeywordIndexDamaged, rag.RagError)
    assert issubclass(rag.SettingsError, ValueError) and issubclass(rag.LLMError, RuntimeError)  # as before


def test_a_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ranx", None)  # import ranx now raises ImportError
    with pytest.raises(errors.MissingExtra, match=r"brightdocs-rag\[eval\]"):
        errors.require("ranx", "eval")
    assert errors.require("json", "eval") is sys.modules["json"]
