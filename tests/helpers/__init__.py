"""Helpers shared by tests (not tests themselves): paths, hand-made hits, index checks, bad files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
