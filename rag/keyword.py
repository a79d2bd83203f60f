"""Keyword search: BM25 over the same chunks as the vector index, via LlamaIndex's BM25 retriever.

Exact tokens a small embedder misses (error codes like ``SEC-4012``, product names, flags such as
``--prompt-cache``, words in other languages) are what BM25 finds. The index is built by ingestion
whenever the collection changes and persisted next to Chroma (``index_dir/keyword/<collection>``);
queries load it once and never rebuild it.

Example::

    index = KeywordIndex.build(store, settings.index_dir)   # after ingestion changed the store
    index = KeywordIndex.load(settings.index_dir, "sample")  # at query time
    hits = index.search("SEC-4012", k=5)
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from rag.schema import Hit, embed_text

STAMP = "stamp.json"


def keyword_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / "keyword" / collection


class KeywordIndex:
    """A persisted BM25 index of a collection's chunks (title and headings included in the text).

    Example::

        index = KeywordIndex.load(Path("data/index"), "sample")
        if index is not None:
            print(index.search("YubiKey", k=3)[0].source)
    """

    def __init__(self, retriever: Any, chunks: int, fingerprint: str) -> None:
        self._retriever = retriever
        self.chunks = chunks
        self.fingerprint = fingerprint

    @classmethod
    def build(cls, store: Any, index_dir: Path) -> KeywordIndex | None:
        """Index every chunk of ``store`` (a :class:`rag.store.ChromaStore`) and persist it."""
        from llama_index.core.schema import TextNode

        data = store.get()
        ids, texts, metas = data["ids"], data["documents"], data["metadatas"]
        target = keyword_dir(index_dir, store.name)
        if not ids:
            shutil.rmtree(target, ignore_errors=True)
            return None
        nodes = []
        for chunk_id, text, meta in zip(ids, texts, metas, strict=True):
            node = TextNode(
                id_=chunk_id,
                text=embed_text(str(meta.get("title", "")), str(meta.get("heading_path", "")), text),
                metadata={k: v for k, v in meta.items() if k != "file_hash"} | {"chunk_text": text},
            )
            node.excluded_embed_metadata_keys = list(node.metadata)  # BM25 reads the text only
            nodes.append(node)
        retriever = _bm25(nodes=nodes)
        fingerprint = store_fingerprint(ids)
        scratch = target.with_name(target.name + ".new")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        with contextlib.redirect_stderr(io.StringIO()):  # bm25s prints a progress bar
            retriever.persist(str(scratch), show_progress=False)
        (scratch / STAMP).write_text(json.dumps({"chunks": len(ids), "fingerprint": fingerprint}))
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)  # readers see the old index or the new one, never half of one
        return cls(retriever, len(ids), fingerprint)

    @classmethod
    def load(cls, index_dir: Path, collection: str) -> KeywordIndex | None:
        """The persisted index, or None when ingestion has not built one."""
        import bm25s

        folder = keyword_dir(index_dir, collection)
        if not (folder / STAMP).is_file():
            return None
        stamp = json.loads((folder / STAMP).read_text())
        with contextlib.redirect_stderr(io.StringIO()):
            bm25 = bm25s.BM25.load(str(folder), load_corpus=True)
        return cls(_bm25(existing=bm25), int(stamp["chunks"]), str(stamp["fingerprint"]))

    def search(self, query: str, k: int, sources: Collection[str] | None = None) -> list[Hit]:
        """Chunks ranked by BM25 (only those of ``sources`` when given); zero scores dropped."""
        retriever = self._retriever
        if sources is not None:
            from llama_index.core.vector_stores.types import (
                FilterOperator,
                MetadataFilter,
                MetadataFilters,
            )

            if not sources:
                return []
            rule = MetadataFilter(key="source", value=sorted(sources), operator=FilterOperator.IN)
            retriever = _bm25(existing=retriever.bm25, filters=MetadataFilters(filters=[rule]))
        retriever.similarity_top_k = max(1, min(k, self.chunks))
        hits = []
        for found in retriever.retrieve(query):
            if found.score is None or found.score <= 0:
                continue
            meta = dict(found.node.metadata)
            text = str(meta.pop("chunk_text", found.node.get_content()))
            hits.append(
                Hit(
                    chunk_id=found.node.node_id,
                    text=text,
                    score=float(found.score),
                    source=str(meta.get("source", "")),
                    page=int(meta.get("page") or 0) or None,
                    metadata=meta,
                )
            )
        return hits


def read_stamp(index_dir: Path, collection: str) -> dict[str, Any] | None:
    """What the persisted index was built from ({"chunks", "fingerprint"}), without loading it."""
    stamp = keyword_dir(index_dir, collection) / STAMP
    return json.loads(stamp.read_text()) if stamp.is_file() else None


def store_fingerprint(ids: list[str]) -> str:
    import hashlib

    digest = hashlib.sha1()
    for chunk_id in sorted(ids):
        digest.update(chunk_id.encode())
    return digest.hexdigest()


def _bm25(nodes: list[Any] | None = None, existing: Any = None, filters: Any = None) -> Any:
    import logging

    from llama_index.retrievers.bm25 import BM25Retriever

    logging.getLogger("llama_index.retrievers.bm25.base").setLevel(logging.ERROR)
    # \w\w+ splits "SEC-4012" into "sec" and "4012" and keeps single digits out; allow single
    # characters so "P1" or "5" still count.
    return BM25Retriever(
        nodes=nodes,
        existing_bm25=existing,
        filters=filters,
        similarity_top_k=10,
        token_pattern=r"(?u)\b\w+\b",
    )
