"""Fusion of the dense and keyword candidate lists of one query.

Lists are ``(chunk_id, score)`` pairs, best first. The rules:

- ``max``: each list divided by its best score, then ``dense_weight * dense + (1 - dense_weight) *
  keyword`` (a chunk missing from a list scores 0 there). A list whose scores hardly differ (an
  embedder that does not read the language) stays flat instead of being stretched.
- ``minmax``: the same with each list stretched over [0, 1].
- ``zscore``: the same with each list's scores in standard deviations from its mean.
- ``rrf``: plain reciprocal rank fusion (k = 60).
- :class:`LearnedFusion`: a logistic-regression score over per-candidate features (:data:`FEATURES`),
  some of them weighted by how peaked each list is and how much the two lists agree, so the
  weight of each list adapts per query.

Example::

    ranked = fuse_lists([("a", 0.61), ("b", 0.55)], [("b", 12.0), ("c", 7.5)], "max", dense_weight=0.5)
    [chunk for chunk, _ in ranked]       # ['b', 'a', 'c']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Scored = Sequence[tuple[str, float]]

FEATURES = (
    "dense_max",  # score / the list's best (0: not in the list)
    "keyword_max",
    "dense_minmax",  # stretched over [0, 1]
    "keyword_minmax",
    "dense_rank",  # 1 / (1 + rank): 1 for the first, 0 when absent
    "keyword_rank",
    "both",  # in both lists
    "dense_max_x_dense_peak",  # the dense score where the dense list is peaked (its best stands out)
    "keyword_max_x_keyword_peak",
    "dense_max_x_agreement",  # share of each list's top 10 in the other's
    "keyword_max_x_agreement",
)


def _scaled(scored: Scored, how: str) -> dict[str, float]:
    if not scored:
        return {}
    values = [s for _, s in scored]
    if how == "max":
        best = max(values)
        return {c: max(s, 0.0) / best if best > 0 else 0.0 for c, s in scored}
    if how == "zscore":
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        return {c: (s - mean) / spread for c, s in scored}
    low, high = min(values), max(values)
    return {c: (s - low) / (high - low) if high > low else 1.0 for c, s in scored}


def fuse_lists(
    dense: Scored, keyword: Scored, how: str, *, dense_weight: float = 0.5
) -> list[tuple[str, float]]:
    """Both lists fused by rule ``how`` (max, minmax, zscore or rrf), best first."""
    if how == "rrf":
        scores: dict[str, float] = {}
        for ranked in (dense, keyword):
            for rank, (chunk, _) in enumerate(ranked, start=1):
                scores[chunk] = scores.get(chunk, 0.0) + 1.0 / (60 + rank)
        return sorted(scores.items(), key=lambda pair: -pair[1])
    d, k = _scaled(dense, how), _scaled(keyword, how)
    floor_d = min(d.values(), default=0.0) if how == "zscore" else 0.0
    floor_k = min(k.values(), default=0.0) if how == "zscore" else 0.0
    fused = {
        chunk: dense_weight * d.get(chunk, floor_d) + (1 - dense_weight) * k.get(chunk, floor_k)
        for chunk in {**k, **d}
    }
    return sorted(fused.items(), key=lambda pair: -pair[1])


def _peak(scored: Scored) -> float:
    """How far the best score stands above the list's top 10, relative to it (0: flat)."""
    top = [s for _, s in scored[:10]]
    if len(top) < 2 or top[0] <= 0:
        return 0.0
    return (top[0] - sum(top[1:]) / (len(top) - 1)) / top[0]


def peak_weight(dense: Scored, keyword: Scored, scale: float) -> float:
    """A dense weight for this query from how peaked each list is: ``scale * dense_peak /
    (dense_peak + keyword_peak)``, within [0, 1] (0.5 when both lists are flat). A keyword list
    with one clear best match, or a dense list that hardly varies (an embedder that does not read
    the language), moves the weight towards keywords."""
    d, k = _peak(dense), _peak(keyword)
    if d + k <= 0:
        return 0.5
    return min(1.0, max(0.0, scale * d / (d + k)))


def features(dense: Scored, keyword: Scored) -> dict[str, list[float]]:
    """The :data:`FEATURES` of every candidate of either list."""
    d_max, k_max = _scaled(dense, "max"), _scaled(keyword, "max")
    d_mm, k_mm = _scaled(dense, "minmax"), _scaled(keyword, "minmax")
    d_rank = {c: 1.0 / (1 + r) for r, (c, _) in enumerate(dense)}
    k_rank = {c: 1.0 / (1 + r) for r, (c, _) in enumerate(keyword)}
    top_d, top_k = {c for c, _ in dense[:10]}, {c for c, _ in keyword[:10]}
    agreement = len(top_d & top_k) / 10
    d_peak, k_peak = _peak(dense), _peak(keyword)
    found = {}
    for chunk in {**k_max, **d_max}:
        dm, km = d_max.get(chunk, 0.0), k_max.get(chunk, 0.0)
        found[chunk] = [
            dm,
            km,
            d_mm.get(chunk, 0.0),
            k_mm.get(chunk, 0.0),
            d_rank.get(chunk, 0.0),
            k_rank.get(chunk, 0.0),
            float(chunk in d_max and chunk in k_max),
            dm * d_peak,
            km * k_peak,
            dm * agreement,
            km * agreement,
        ]
    return found


@dataclass(frozen=True, slots=True)
class LearnedFusion:
    """A linear score over :data:`FEATURES` (weights fitted by logistic regression on the fit
    splits of many retrieval sets: ``scripts/fusion_fit.py``).

    Example::

        fusion = LearnedFusion({"dense_max": 1.2, "keyword_max": 2.0})
        ranked = fusion.fuse(dense, keyword)
    """

    weights: dict[str, float]

    def fuse(self, dense: Scored, keyword: Scored) -> list[tuple[str, float]]:
        w = [self.weights.get(name, 0.0) for name in FEATURES]
        scored = {
            c: sum(a * b for a, b in zip(w, v, strict=True)) for c, v in features(dense, keyword).items()
        }
        return sorted(scored.items(), key=lambda pair: -pair[1])
