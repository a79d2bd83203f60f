"""Checks shared by ingestion tests: what the index holds, and that it holds exactly the corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest import sync as sync_module
from rag.index.collection import Index


def stored(settings: Any) -> dict[str, Any]:
    return Index.of(settings).get(include=("documents", "metadatas"))


def assert_consistent(settings: Any, corpus: Path) -> None:
    """No duplicates, no orphans: the store holds exactly the current version of each file."""
    data = stored(settings)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for meta in data["metadatas"]:
        by_source.setdefault(meta["source"], []).append(meta)
    on_disk = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}
    assert set(by_source) <= on_disk, f"orphans: {set(by_source) - on_disk}"
    for source, metas in by_source.items():
        digest = sync_module.file_hash(corpus / source)
        assert {m["file_hash"] for m in metas} == {digest}, f"stale chunks of {source}"
        assert sorted(m["chunk_index"] for m in metas) == list(range(len(metas))), f"duplicates in {source}"
