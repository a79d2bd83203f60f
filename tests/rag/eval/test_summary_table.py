"""The retrieval table across sets that `make eval` prints: one row per set, then mean and worst."""

from __future__ import annotations

import pytest

from rag.eval.beir import summary_table

pytestmark = pytest.mark.unit


def row(keyword: float, dense: float, hybrid: float, rrf: float) -> dict[str, dict[str, float]]:
    return {
        "keyword": {"ndcg_burges@10": keyword},
        "dense": {"ndcg_burges@10": dense},
        "hybrid (peak, minmax, scale 1.0)": {"ndcg_burges@10": hybrid},
        "hybrid (plain RRF)": {"ndcg_burges@10": rrf},
    }


def test_each_set_then_the_mean_and_the_worst_case() -> None:
    table = summary_table({"a": row(0.5, 0.6, 0.65, 0.62), "b": row(0.9, 0.3, 0.88, 0.7)})
    lines = table.splitlines()
    assert lines[2] == "| a | 0.500 | 0.600 | 0.650 | 0.620 | +0.050 |"
    assert lines[3] == "| b | 0.900 | 0.300 | 0.880 | 0.700 | -0.020 |"
    assert lines[4] == "| **mean** | 0.700 | 0.450 | 0.765 | 0.660 | +0.015 |"
    assert lines[5] == "| **worst** | 0.500 | 0.300 | 0.650 | 0.620 | -0.020 |"
    assert summary_table({}) == ""
