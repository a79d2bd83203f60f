"""Fusion, duplicates and filters of hybrid retrieval. (unit: no models loaded)."""

from __future__ import annotations

import pytest

from rag.answer.retrieval import Filters, collapse_duplicates, rrf_fuse, weighted_fuse
from tests.helpers.hits import hit

pytestmark = pytest.mark.unit


def test_weighted_fusion_keeps_the_dense_order_at_weight_one() -> None:
    dense = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.1)]
    keyword = [hit("c", 12.0), hit("d", 3.0)]
    assert [h.chunk_id for h in weighted_fuse(dense, keyword, 1.0)][:3] == ["a", "b", "c"]
    assert [h.chunk_id for h in weighted_fuse(dense, keyword, 0.0)][:2] == ["c", "d"]


def test_weighted_fusion_lifts_a_chunk_both_lists_agree_on() -> None:
    dense = [hit("a", 0.80), hit("b", 0.79), hit("c", 0.50)]
    keyword = [hit("b", 9.0), hit("c", 1.0)]
    fused = weighted_fuse(dense, keyword, 0.7)
    assert fused[0].chunk_id == "b"
    assert fused[0].metadata["keyword_score"] == 9.0


def test_rrf_counts_ranks_only() -> None:
    fused = rrf_fuse([hit("a", 0.9), hit("b", 0.1)], [hit("b", 5.0), hit("a", 4.9)])
    assert fused[0].score == pytest.approx(fused[1].score)


def test_near_duplicates_collapse_to_the_better_hit() -> None:
    text = "Backups are retained for 35 days and tested every quarter"
    hits = [hit("a", 0.9, text), hit("b", 0.8, text + "."), hit("c", 0.7, "Something else entirely")]
    assert [h.chunk_id for h in collapse_duplicates(hits, 0.9)] == ["a", "c"]


def test_filters_match_globs_lists_and_types() -> None:
    assert Filters(sources="policies/*.pdf").matches("policies/it.pdf")
    assert not Filters(sources="policies/*.pdf").matches("hr/leave.pdf")
    assert Filters(sources=["hr/leave.pdf"]).matches("hr/leave.pdf")
    assert Filters(file_types=["pdf"]).matches("x/y.PDF")
    assert not Filters(file_types=[".docx"]).matches("x/y.pdf")


def test_max_normalisation_keeps_a_flat_list_from_overruling_a_sharp_one() -> None:
    # an embedder that does not know the language: its scores hardly differ
    dense = [hit("noise-1", 0.31), hit("noise-2", 0.30), hit("gold", 0.29)]
    keyword = [hit("gold", 14.0), hit("noise-2", 2.0)]
    assert weighted_fuse(dense, keyword, 0.6, "max")[0].chunk_id == "gold"
    assert weighted_fuse(dense, keyword, 0.6, "minmax")[0].chunk_id == "noise-1"  # stretched noise wins
