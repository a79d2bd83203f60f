"""Keyword search: BM25 over the same chunks as the vector index, via LlamaIndex's BM25 retriever.

Exact tokens a small embedder misses (error codes like ``SEC-4012``, product names, flags such as
``--prompt-cache``, words in other languages) are what BM25 finds. The index is built by ingestion
whenever the collection changes and persisted next to Chroma (``index_dir/keyword/<collection>``);
queries load it once and never rebuild it.

Each build goes to a new version folder (``keyword/<collection>/v-<n>``); the file ``CURRENT`` names
the live one and is switched by an atomic rename, so a reader always loads the old index or the new
one, never a half-written or half-deleted one. The previous version is kept for readers that read
the pointer just before the switch; older ones are removed.

Example::

    index = KeywordIndex.build(store, settings.index_dir)   # after ingestion changed the store
    index = KeywordIndex.load(settings.index_dir, "sample")  # at query time
    hits = index.search("SEC-4012", k=5)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Hashable, Mapping
from pathlib import Path
from typing import Any

from rag.core.errors import KeywordIndexDamaged
from rag.core.schema import Hit, embed_text
from rag.core.text import UNSPACED, bigrams
from rag.index import records

STAMP = "stamp.json"
FORM = 3  # how text and records are put before BM25 (3: with file hash and access groups); an index
# of another form is rebuilt
MASKS = 64  # filter masks kept per index (one per group set and pinned state)
POINTER = "CURRENT"
LOAD_TRIES = 3  # a reader that lost a race with two rebuilds in a row reads the pointer again


def keyword_form(text: str) -> str:
    """``text`` as BM25 reads it: each run of Chinese or Japanese characters becomes its overlapping
    character bigrams, set apart from the digits and Latin words around it ("默认512" -> "默认 512",
    "1.0即禁用" -> "1.0 即禁 禁用"). A word tokenizer sees such a run as one huge token, so no
    question ever matched one (every Chinese query scored 0). Other text is left as it is.

    Example::

        keyword_form("圣母小学的教学语言")   # "圣母 母小 小学 学的 的教 教学 学语 语言"
    """

    return UNSPACED.sub(lambda found: " " + " ".join(bigrams(found.group(0))) + " ", text)


def keyword_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / "keyword" / collection


def live_folder(index_dir: Path, collection: str) -> Path | None:
    """The version folder ``CURRENT`` names (or the pre-versioning layout), None when none is built."""
    root = keyword_dir(index_dir, collection)
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return root if (root / STAMP).is_file() else None
    except (OSError, UnicodeDecodeError):
        return None
    if not name or "/" in name or name.startswith("."):
        return None
    return root / name


class KeywordIndex:
    """A persisted BM25 index of a collection's chunks (title and headings included in the text).

    Example::

        index = KeywordIndex.load(Path("data/index"), "sample")
        if index is not None:
            print(index.search("YubiKey", k=3)[0].source)
    """

    def __init__(self, retriever: Any, chunks: int, fingerprint: str) -> None:
        self._retriever = retriever
        self._lock = threading.Lock()  # the shared retriever's top-k is set per search
        self._masks: dict[Any, list[int]] = {}
        self.chunks = chunks
        self.fingerprint = fingerprint

    @classmethod
    def from_store(cls, store: Any) -> KeywordIndex | None:
        """Index every chunk of ``store`` in memory (server mode: each process keeps its own copy)."""
        data = store.get()
        if not data["ids"]:
            return None
        return cls(_retriever_of(data), len(data["ids"]), store_fingerprint(data["ids"]))

    @classmethod
    def build(cls, store: Any, index_dir: Path) -> KeywordIndex | None:
        """Index every chunk of ``store`` (a :class:`rag.index.store.ChromaStore`) and persist it."""
        data = store.get()
        ids = data["ids"]
        root = keyword_dir(index_dir, store.name)
        if not ids:
            _switch(root, None)
            return None
        retriever = _retriever_of(data)
        fingerprint = store_fingerprint(ids)
        version = f"v-{time.time_ns()}-{os.getpid()}"
        scratch = root / f".{version}.tmp"
        scratch.mkdir(parents=True)
        with contextlib.redirect_stderr(io.StringIO()):  # bm25s prints a progress bar
            retriever.persist(str(scratch), show_progress=False)
        sizes = {file.name: file.stat().st_size for file in scratch.iterdir() if file.is_file()}
        stamp = {
            "chunks": len(ids),
            "fingerprint": fingerprint,
            "version": version,
            "form": FORM,
            "sizes": sizes,
        }
        (scratch / STAMP).write_text(json.dumps(stamp))
        scratch.rename(root / version)
        _switch(root, version)  # readers see the old index or the new one, never half of one
        return cls(retriever, len(ids), fingerprint)

    @classmethod
    def load(cls, index_dir: Path, collection: str) -> KeywordIndex | None:
        """The persisted index, or None when ingestion has not built one.

        Raises :class:`KeywordIndexDamaged` (naming the folder) when its files cannot be read."""
        import bm25s

        for attempt in range(LOAD_TRIES):
            folder = live_folder(index_dir, collection)
            if folder is None:
                return None
            try:
                stamp = json.loads((folder / STAMP).read_text())
                with contextlib.redirect_stderr(io.StringIO()):
                    bm25 = bm25s.BM25.load(str(folder), load_corpus=True)
                if getattr(bm25, "corpus", None) is None:  # bm25s skips a corpus file gone meanwhile
                    raise FileNotFoundError(folder / "corpus.jsonl")
                return cls(_bm25(existing=bm25), int(stamp["chunks"]), str(stamp["fingerprint"]))
            except FileNotFoundError:
                if attempt + 1 < LOAD_TRIES and live_folder(index_dir, collection) != folder:
                    continue  # switched and cleaned up while we read: read the new one
                raise KeywordIndexDamaged(f"keyword index {folder} is incomplete") from None
            except Exception as error:  # truncated, zeroed or garbled files
                raise KeywordIndexDamaged(
                    f"keyword index {folder} is damaged ({type(error).__name__}: {error})"
                ) from error
        return None

    def search(
        self,
        query: str,
        k: int,
        sources: Collection[str] | None = None,
        *,
        allowed: Callable[[Mapping[str, Any]], bool] | None = None,
        key: Hashable = None,
    ) -> list[Hit]:
        """Chunks ranked by BM25 among those of ``sources`` (when given) whose record ``allowed``
        accepts; zero scores dropped. The filter is a weight mask over the corpus applied before
        ranking (cached under ``key``, which must identify ``allowed``)."""
        retriever = self._retriever
        if sources is not None and not sources:
            return []
        if sources is not None or allowed is not None:
            mask = self._mask(sources, allowed, key)
            if not any(mask):
                return []
            corpus = retriever.corpus
            retriever = _bm25(existing=retriever.bm25, corpus_weight_mask=mask)
            retriever.corpus = corpus  # a retriever built from nodes keeps its corpus itself
        with self._lock:
            retriever.similarity_top_k = max(1, min(k, self.chunks))
            results = retriever.retrieve(keyword_form(query))
        return [
            records.hit(found.node.node_id, found.node.metadata, found.score, found.node.get_content())
            for found in results
            if found.score is not None and found.score > 0
        ]

    def _mask(
        self,
        sources: Collection[str] | None,
        allowed: Callable[[Mapping[str, Any]], bool] | None,
        key: Hashable,
    ) -> list[int]:
        wanted = frozenset(sources) if sources is not None else None
        cache_key = (wanted, key) if allowed is None or key is not None else None
        if cache_key is not None and cache_key in self._masks:
            return self._masks[cache_key]
        mask = [
            int((wanted is None or entry.get("source") in wanted) and (allowed is None or allowed(entry)))
            for entry in self._retriever.corpus
        ]
        if cache_key is not None:
            if len(self._masks) >= MASKS:
                self._masks.pop(next(iter(self._masks)))
            self._masks[cache_key] = mask
        return mask


def _retriever_of(data: dict[str, Any]) -> Any:
    """A BM25 retriever over the chunks of a store read (ids, documents, metadatas)."""
    from llama_index.core.schema import TextNode

    nodes = []
    for chunk_id, text, meta in zip(data["ids"], data["documents"], data["metadatas"], strict=True):
        node = TextNode(
            id_=chunk_id,
            text=keyword_form(
                embed_text(str(meta.get("title", "")), str(meta.get("heading_path", "")), text)
            ),
            metadata=dict(meta) | {records.TEXT_KEY: text},
        )
        node.excluded_embed_metadata_keys = list(node.metadata)  # BM25 reads the text only
        nodes.append(node)
    return _bm25(nodes=nodes)


def read_stamp(index_dir: Path, collection: str) -> dict[str, Any] | None:
    """What the persisted index was built from ({"chunks", "fingerprint", "version"}), without
    loading it; None when there is none or the stamp is unreadable (ingestion then rebuilds it)."""
    folder = live_folder(index_dir, collection)
    if folder is None:
        return None
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        return stamp if isinstance(stamp, dict) and isinstance(stamp.get("chunks"), int) else None
    except (OSError, ValueError):
        return None


def intact(index_dir: Path, collection: str) -> bool:
    """Whether the live index's files are all there at the sizes the build wrote (a stat each: a
    truncated or zeroed file is caught without loading the index)."""
    folder = live_folder(index_dir, collection)
    stamp = read_stamp(index_dir, collection)
    if folder is None or stamp is None or not isinstance(stamp.get("sizes"), dict):
        return False
    try:
        return all((folder / name).stat().st_size == size for name, size in stamp["sizes"].items())
    except OSError:
        return False


def _switch(root: Path, version: str | None) -> None:
    """Point ``CURRENT`` at ``version`` (None: no index) atomically; keep the previous version for
    readers that read the old pointer, remove older ones and the pre-versioning layout's files."""
    root.mkdir(parents=True, exist_ok=True)
    previous = live_folder(root.parent.parent, root.name)
    if version is None:
        (root / POINTER).unlink(missing_ok=True)
    else:
        pointer = root / f".{POINTER}.{os.getpid()}.tmp"
        pointer.write_text(version, encoding="utf-8")
        os.replace(pointer, root / POINTER)
    keep = {version, previous.name if previous is not None and previous != root else None, POINTER}
    for entry in root.iterdir():
        if entry.name in keep or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def store_fingerprint(ids: list[str]) -> str:
    import hashlib

    digest = hashlib.sha1()
    for chunk_id in sorted(ids):
        digest.update(chunk_id.encode())
    return digest.hexdigest()


def _bm25(
    nodes: list[Any] | None = None, existing: Any = None, corpus_weight_mask: list[int] | None = None
) -> Any:
    import logging

    from llama_index.retrievers.bm25 import BM25Retriever

    logging.getLogger("llama_index.retrievers.bm25.base").setLevel(logging.ERROR)
    # \w\w+ splits "SEC-4012" into "sec" and "4012" and keeps single digits out; allow single
    # characters so "P1" or "5" still count.
    return BM25Retriever(
        nodes=nodes,
        existing_bm25=existing,
        corpus_weight_mask=corpus_weight_mask,
        similarity_top_k=10,
        token_pattern=r"(?u)\b\w+\b",
    )
