"""Retrieval: dense (Chroma) + keyword (BM25), fused, de-duplicated, optionally reranked.

Fusion (:mod:`rag.answer.fusion`) is weighted by default: each list divided by its best score
(``score_normalisation: max``) and combined with ``dense_weight``, so a list whose scores hardly
differ (an embedder that does not read the language) stays flat. ``fusion: peak`` takes each
question's dense weight from how peaked each list is; it has the best worst case over the fit splits
of many kinds of retrieval sets (``scripts/fusion_fit.py``, README) but is not yet the default.
Plain RRF is kept for comparison.

Example::

    retriever = Retriever(settings, Index.of(settings), embedder)
    hits = retriever.search("What does error SEC-4012 mean?", k=5)
    hits = retriever.search("laptop encryption", k=5, filters=Filters(sources="policies/*.pdf"))
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.answer.fusion import Scored, fuse_lists, peak_weight
from rag.core.access import User
from rag.core.schema import Hit
from rag.core.settings import Settings
from rag.core.text import words
from rag.index.collection import Index
from rag.index.embeddings import Embedder
from rag.index.state import View

READS = 3  # searches of one question while ingestion keeps changing the index; the last one stands


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrict retrieval to some documents.

    ``sources``: a glob on the path relative to the corpus root (``"policies/*.pdf"``) or a list of
    exact paths; ``file_types``: extensions such as ``[".pdf", ".docx"]``.

    Example::

        Filters(sources="hr/**", file_types=[".docx"])
    """

    sources: str | Sequence[str] | None = None
    file_types: Sequence[str] | None = None

    def matches(self, source: str) -> bool:
        if self.file_types is not None:
            suffix = Path(source).suffix.lower()
            if suffix not in {t.lower() if t.startswith(".") else f".{t.lower()}" for t in self.file_types}:
                return False
        if self.sources is None:
            return True
        if isinstance(self.sources, str):
            return fnmatch.fnmatchcase(source, self.sources)
        return source in set(self.sources)


class Reranker(Protocol):
    """Reorders hits by relevance to the query (a cross-encoder reads query and chunk together)."""

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]: ...


class CrossEncoderReranker:
    """sentence-transformers ``CrossEncoder`` from a local folder (``reranker_model``).

    Example::

        reranker = CrossEncoderReranker(Path("models/ms-marco-MiniLM-L-6-v2"))
        best_first = reranker.rerank("vpn lockout", hits)
    """

    def __init__(self, path: Path) -> None:
        from sentence_transformers import CrossEncoder

        if not Path(path).is_dir():
            raise FileNotFoundError(f"reranker_model {path} is not a folder with a cross-encoder model")
        self.model = CrossEncoder(str(path), local_files_only=True)
        self._lock = threading.Lock()  # one call at a time: the Rust tokenizer is not re-entrant

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return []
        with self._lock:
            scores = self.model.predict([(query, hit.text) for hit in hits], show_progress_bar=False)
        ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -float(pair[1]))
        return [
            replace(hit, score=float(score), metadata={**hit.metadata, "rerank_score": float(score)})
            for hit, score in ranked
        ]


class Retriever:
    """Dense + keyword retrieval over one collection's :class:`Index`, fused per ``settings.fusion``.

    The keyword index is the one the :class:`Index` holds (reloaded there when ingestion rebuilt
    it), so one long-lived retriever always searches what is indexed now.

    Example::

        retriever = Retriever(settings, Index.of(settings), make_embedder(settings))
        for hit in retriever.search("annual leave days", k=3):
            print(round(hit.score, 3), hit.source, hit.page)
    """

    def __init__(
        self, settings: Settings, index: Index, embedder: Embedder, reranker: Reranker | None = None
    ) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.reranker = reranker

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        mode: str | None = None,
        vector: np.ndarray | None = None,
        user: User | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query`` (``mode``: hybrid, dense or keyword) among those
        ``user`` may read (None: all); ``vector`` is the query's embedding when the caller has it
        already (it is embedded here otherwise).

        Both searches run under one reading of the index's state (:mod:`rag.index.state`), read
        again afterwards: when ingestion changed what is visible meanwhile, they run again, so the
        hits never mix a document's old and new versions."""
        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        pool = max(self.settings.candidates, k)
        sources = self._allowed_sources(filters)
        if sources is not None and not sources:
            return []
        for attempt in range(READS):  # again when the index changed while we read it
            view = self.index.view()
            found = (
                self.index.keyword_search(query, pool, sources, user=user, view=view)
                if mode != "dense"
                else None
            )
            use_dense = mode != "keyword" or found is None  # keyword mode without a keyword index: dense
            if use_dense and vector is None:
                vector = self.embedder.embed([query])[0]
            dense = self._dense(pool, sources, vector, user, view) if use_dense else []
            lexical = found or []
            if attempt + 1 == READS or self.index.view().version == view.version:
                break
        if mode == "dense" or not lexical:
            fused = dense
        elif mode == "keyword" or not dense:
            fused = lexical
        elif self.settings.fusion == "rrf":
            fused = rrf_fuse(dense, lexical)
        elif self.settings.fusion == "peak":
            fused = peak_fuse(dense, lexical, self.settings.peak_scale, self.settings.score_normalisation)
        else:
            fused = weighted_fuse(
                dense, lexical, self.settings.dense_weight, self.settings.score_normalisation
            )
        hits = collapse_duplicates(fused, self.settings.duplicate_threshold)
        if self.reranker is not None:
            hits = self.reranker.rerank(query, hits[: max(k * 3, 20)])
        return hits[:k]

    def _dense(
        self, pool: int, sources: set[str] | None, vector: Any, user: User | None, view: View
    ) -> list[Hit]:
        count = self.index.count()
        if count == 0:
            return []
        where: dict[str, Any] | None = {"source": {"$in": sorted(sources)}} if sources is not None else None
        hits = self.index.dense(vector, min(pool, count), where=where, user=user, view=view)
        return [replace(h, metadata={**h.metadata, "dense_score": h.score}) for h in hits]

    def _allowed_sources(self, filters: Filters | None) -> set[str] | None:
        if filters is None or (filters.sources is None and filters.file_types is None):
            return None
        return {source for source in self.index.sources() if filters.matches(source)}


def fuse_hits(dense: list[Hit], keyword: list[Hit], rule: Callable[[Scored, Scored], Scored]) -> list[Hit]:
    """Hits of both lists ranked by ``rule`` over their ``(chunk_id, score)`` pairs (see
    :mod:`rag.answer.fusion`), scored with the fused score; each keeps its keyword score."""
    ranked = rule([(h.chunk_id, h.score) for h in dense], [(h.chunk_id, h.score) for h in keyword])
    by_id = {h.chunk_id: h for h in keyword} | {h.chunk_id: h for h in dense}
    keyword_raw = {h.chunk_id: h.score for h in keyword}
    fused = []
    for chunk_id, score in ranked:
        hit = by_id[chunk_id]
        meta = dict(hit.metadata)
        if chunk_id in keyword_raw:
            meta["keyword_score"] = keyword_raw[chunk_id]
        fused.append(replace(hit, score=float(score), metadata=meta))
    return fused


def weighted_fuse(
    dense: list[Hit], keyword: list[Hit], dense_weight: float, how: str = "minmax"
) -> list[Hit]:
    """Convex combination of normalised scores (``how``: max, minmax or zscore); a chunk missing
    from a list scores 0 there (zscore: the list's lowest)."""
    return fuse_hits(dense, keyword, lambda d, k: fuse_lists(d, k, how, dense_weight=dense_weight))


def peak_fuse(dense: list[Hit], keyword: list[Hit], scale: float, how: str = "minmax") -> list[Hit]:
    """Weighted fusion with this question's dense weight from how peaked each list is (see
    :func:`rag.answer.fusion.peak_weight`)."""
    return fuse_hits(
        dense, keyword, lambda d, k: fuse_lists(d, k, how, dense_weight=peak_weight(d, k, scale))
    )


def rrf_fuse(dense: list[Hit], keyword: list[Hit]) -> list[Hit]:
    """Plain reciprocal rank fusion (kept for comparison in the evaluation)."""
    return fuse_hits(dense, keyword, lambda d, k: fuse_lists(d, k, "rrf"))


def collapse_duplicates(hits: list[Hit], threshold: float) -> list[Hit]:
    """Drop hits whose words overlap a better hit's by at least ``threshold`` (Jaccard)."""
    kept: list[tuple[Hit, set[str]]] = []
    for hit in hits:
        found = set(words(hit.text))
        if any(_jaccard(found, other) >= threshold for _, other in kept):
            continue
        kept.append((hit, found))
    return [hit for hit, _ in kept]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
