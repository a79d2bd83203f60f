"""Passages: sentences and table rows of the retrieved chunks. (unit: no models loaded)."""

from __future__ import annotations

import pytest

from rag.answer.passages import units
from tests.helpers.hits import hit

pytestmark = pytest.mark.unit


def test_units_spell_table_rows_out_with_their_header() -> None:
    table = "Sheet: Limits\nCategory | Limit\nHotel in London | £180 per night\nTaxi | Actual cost"
    found = units(hit("t", 1.0, table, heading_path="Sheet: Limits", element_type="table"))
    assert found == ["Category: Hotel in London; Limit: £180 per night", "Category: Taxi; Limit: Actual cost"]


def test_a_bar_in_prose_is_not_a_table_row() -> None:
    """Only a chunk the chunker marked as a table (typed metadata) has rows."""
    prose = "Choose one of the plans below.\nGold plan | Silver plan cover dental care for every employee."
    found = units(hit("t", 1.0, prose, element_type="text"))
    assert "Gold plan | Silver plan cover dental care for every employee." in found
    assert not any(unit.startswith("Gold plan: ") for unit in found)


def test_units_split_sentences_and_skip_headings() -> None:
    text = "Backups\nServers are backed up every night. Backups are retained for 35 days."
    found = units(hit("b", 1.0, text, heading_path="Incidents > Backups"))
    assert found == ["Servers are backed up every night.", "Backups are retained for 35 days."]
