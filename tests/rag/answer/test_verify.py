"""Verification: support, completed codes, citations. (unit: no models loaded)."""

from __future__ import annotations

import pytest

from rag.answer.verify import check_citations, cited_numbers, snap_to_passage, support
from tests.helpers.hits import passages

pytestmark = pytest.mark.unit


def test_support_needs_every_number_and_most_words() -> None:
    passage = "Passwords must be at least 14 characters long."
    assert support("14 characters [1]", passage) == 1.0
    assert support("12 characters", passage) == 0.0
    assert support("The passwords are 14 characters", passage, "How long are passwords?") == 1.0
    assert support("unicorns", passage) == 0.0


def test_snap_completes_a_code_cut_short() -> None:
    assert snap_to_passage("4012 [1]", "the client shows error code SEC-4012; call") == "SEC-4012 [1]"
    assert snap_to_passage("35 days", "kept for 35 days") == "35 days"


def test_citations_parse_and_verify() -> None:
    assert cited_numbers("a [2] b [1] c [2]") == [2, 1]
    checked = check_citations("35 days [1]", passages(), "How long are backups kept?")
    assert checked.supported and checked.citations[0].page == 4 and checked.citations[0].supported


def test_a_wrong_citation_is_replaced_by_the_supporting_passage() -> None:
    checked = check_citations("35 days [2]", passages(), "How long are backups kept?")
    assert checked.supported and checked.text == "35 days [1]"
    assert [c.number for c in checked.citations] == [1]


def test_an_answer_without_citation_gets_one_and_unsupported_is_refused() -> None:
    assert check_citations("35 days", passages(), "q").text == "35 days [1]"
    assert not check_citations("90 days [1]", passages(), "q").supported
    assert check_citations("I don't know.", passages(), "q").model_refused
