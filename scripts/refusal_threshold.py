"""Recompute a refusal model's operating point from the rows its fit dumped, with the current gate
settings (what ``python -m rag.eval --fit-refusal`` does at the end of a fit).

Example::

    python scripts/refusal_threshold.py reports/refusal-fit-bundled-extractive.json \\
        rag/calibration/gemma-3-270m.extractive.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.answer.refusal import RefusalModel
from rag.core.settings import load_settings
from rag.eval.qa import ItemResult
from rag.eval.runner import operating_point


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rows", type=Path, help="reports/refusal-fit-<model>-<decoding>.json")
    parser.add_argument("model", type=Path, help="the refusal model JSON to update")
    args = parser.parse_args()
    rows = [ItemResult(**row) for row in json.loads(args.rows.read_text(encoding="utf-8"))]
    model = RefusalModel.load(args.model)
    before = model.threshold
    model.threshold = operating_point(model, rows, load_settings())
    model.save(args.model)
    print(f"{args.model}: threshold {before} -> {model.threshold} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
