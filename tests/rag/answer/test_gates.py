"""Gates before generation. (unit: no models loaded)."""

from __future__ import annotations

from typing import Any

import pytest

from rag.answer.gates import GATES, first_refusal, unknown_names
from rag.answer.passages import Passage
from tests.helpers.hits import hit

pytestmark = pytest.mark.unit


def test_unknown_names_are_the_capitalised_words_no_hit_contains() -> None:
    hits = [hit("a", 1.0, "Chief Financial Officer: Ingrid Solberg. Leave is 27 days.")]
    assert unknown_names("How many days do contractors in Brazil get?", hits) == ["Brazil"]
    assert unknown_names("Who is the Chief Financial Officer?", hits) == []


def test_gates_run_in_order_and_the_first_reason_wins(make_settings: Any) -> None:
    settings = make_settings(min_evidence=0.99, names_gate=True)
    hits = [hit("b", 0.9, "Backups are retained for 35 days.")]
    shown = [Passage(1, "Backups are retained for 35 days.", hits[0], 0.5)]
    assert [gate.name for gate in GATES] == ["nothing_found", "names_gate", "min_evidence"]
    assert (
        first_refusal(settings, "How long are backups kept?", hits, [])
        == "nothing in the index matches the question"
    )
    assert "never mention 'Narnia'" in str(
        first_refusal(settings, "Are backups kept in Narnia?", hits, shown)
    )
    assert "weak evidence" in str(first_refusal(settings, "How long are backups kept?", hits, shown))
    assert first_refusal(make_settings(min_evidence=0.0), "How long are backups kept?", hits, shown) is None
