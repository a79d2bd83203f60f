"""Fit the fusion of dense and keyword retrieval on the lists ``scripts/fusion_lists.py`` collected.

Every rule is scored (nDCG@10 by document, ranx) on each set's fit split; the table shows each
rule's margin over the better of dense and keyword alone per set, and the worst and mean margins:
rules are chosen by the worst case. ``--report`` scores the same rules on the report splits (read
them only once the choice is made). ``--candidates`` truncates both lists first.

Usage:
    python scripts/fusion_fit.py /work/fusion-lists
    python scripts/fusion_fit.py /work/fusion-lists --candidates 10 20 30 50 100
    python scripts/fusion_fit.py /work/fusion-lists --report
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.answer.fusion import FEATURES, LearnedFusion, features, fuse_lists, peak_weight

Lists = tuple[list[tuple[str, float]], list[tuple[str, float]]]
Rule = Callable[[list[tuple[str, float]], list[tuple[str, float]]], list[tuple[str, float]]]


def load(folder: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def lists_of(data: dict[str, Any], query: str, candidates: int) -> Lists:
    found = data["lists"][query]
    return (
        [(c, s) for c, s in found["dense"][:candidates]],
        [(c, s) for c, s in found["keyword"][:candidates]],
    )


def ndcg(data: dict[str, Any], split: str, rule: Rule, candidates: int) -> float:
    from ranx import Qrels, Run, evaluate

    judged = {q: docs for q, docs in data["splits"][split].items() if q in data["lists"]}
    if not judged:  # no such split (arcd-beir has no fit half), or no query text for its judgements
        return float("nan")
    run: dict[str, dict[str, float]] = {}
    for query in judged:
        ranked = rule(*lists_of(data, query, candidates))
        scores: dict[str, float] = {}
        for rank, (chunk, _) in enumerate(ranked):
            doc = data["chunk_doc"][chunk]
            if doc not in scores:
                scores[doc] = float(len(ranked) - rank)
        run[query] = scores or {"__none__": 0.0}
    return float(evaluate(Qrels(judged), Run(run), "ndcg_burges@10", make_comparable=True))


def rules(learned: dict[str, LearnedFusion]) -> dict[str, Rule]:
    found: dict[str, Rule] = {
        "dense": lambda d, k: d,
        "keyword": lambda d, k: k,
        "rrf": lambda d, k: fuse_lists(d, k, "rrf"),
    }
    for how in ("max", "minmax", "zscore"):
        for weight in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            found[f"{how} {weight}"] = lambda d, k, w=weight, h=how: fuse_lists(d, k, h, dense_weight=w)
    for how in ("max", "minmax"):
        for scale in (0.75, 1.0, 1.25, 1.5, 2.0):
            found[f"peak {how} {scale}"] = lambda d, k, s=scale, h=how: fuse_lists(
                d, k, h, dense_weight=peak_weight(d, k, s)
            )
    for name, model in learned.items():
        found[name] = lambda d, k, m=model: m.fuse(d, k)
    return found


def training_rows(sets: dict[str, dict[str, Any]], candidates: int) -> tuple[Any, Any, Any]:
    """Features and labels of every candidate of every fit query; each set weighs the same."""
    import numpy as np

    rows, labels, weights = [], [], []
    for data in sets.values():
        judged = {q: docs for q, docs in data["splits"]["fit"].items() if q in data["lists"]}
        if not judged:
            continue
        start = len(rows)
        for query, relevant in judged.items():
            dense, keyword = lists_of(data, query, candidates)
            for chunk, vector in features(dense, keyword).items():
                rows.append(vector)
                labels.append(1 if data["chunk_doc"][chunk] in relevant else 0)
        weights += [1.0 / max(len(rows) - start, 1)] * (len(rows) - start)
    return np.array(rows), np.array(labels), np.array(weights) * len(rows) / len(sets)


def fit_learned(sets: dict[str, dict[str, Any]], candidates: int, c: float) -> LearnedFusion:
    from sklearn.linear_model import LogisticRegression

    x, y, w = training_rows(sets, candidates)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y, sample_weight=w)
    return LearnedFusion(dict(zip(FEATURES, (float(v) for v in model.coef_[0]), strict=True)))


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lists", type=Path)
    parser.add_argument("--candidates", type=int, nargs="+", default=[30])
    parser.add_argument("--report", action="store_true", help="score the report splits")
    parser.add_argument("--leave-one-out", action="store_true", help="learned rule fitted without each set")
    parser.add_argument("--only", nargs="*", help="rules to show")
    args = parser.parse_args()
    sets = load(args.lists)
    split = "report" if args.report else "fit"
    for candidates in args.candidates:
        fit_sets = {n: d for n, d in sets.items() if d["splits"]["fit"]}
        learned = {f"learned C={c}": fit_learned(fit_sets, candidates, c) for c in (0.1, 1.0)}
        table = {}
        for name, data in sets.items():
            scores: dict[str, float] = {}
            for rule_name, rule in rules(learned).items():
                if args.only and rule_name not in args.only and rule_name not in ("dense", "keyword"):
                    continue
                scores[rule_name] = ndcg(data, split, rule, candidates)
            if args.leave_one_out and name in fit_sets:
                others = {n: d for n, d in fit_sets.items() if n != name}
                held = fit_learned(others, candidates, 1.0)
                scores["learned, this set left out"] = ndcg(
                    data, split, lambda d, k, m=held: m.fuse(d, k), candidates
                )
            table[name] = scores
        names = [n for n in table if table[n]["dense"] == table[n]["dense"]]  # scored (not nan)
        print(f"\n## {split} splits, {candidates} candidates: nDCG@10 (margin over the better input)")
        print("| rule | " + " | ".join(names) + " | worst margin | mean margin |")
        print("|---" * (len(names) + 3) + "|")
        for rule_name in table[names[0]]:
            margins = [table[n][rule_name] - max(table[n]["dense"], table[n]["keyword"]) for n in names]
            cells = [f"{table[n][rule_name]:.3f} ({m:+.3f})" for n, m in zip(names, margins, strict=True)]
            print(
                f"| {rule_name} | "
                + " | ".join(cells)
                + f" | {min(margins):+.3f} | {sum(margins) / len(margins):+.3f} |"
            )
        for name, model in learned.items():
            print(f"{name}: " + ", ".join(f"{k} {v:+.3f}" for k, v in model.weights.items()))


if __name__ == "__main__":
    main()
