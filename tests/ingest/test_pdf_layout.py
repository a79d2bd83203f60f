"""The PDF reader's layout logic on lines built by hand: rows, columns, headers, two columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pdf import (
    Cell,
    Line,
    _blocks,
    _column_gutter,
    _names_something,
    _reading_order,
    _rotated,
    _upright,
    _with_name,
)

pytestmark = pytest.mark.unit


def line(top: float, *cells: tuple[str, float, float], size: float = 10.0) -> Line:
    return Line(top, top + size, size, [Cell(text, x0, x1) for text, x0, x1 in cells])


def test_a_statement_keeps_each_label_with_its_figures_and_the_headers_over_them() -> None:
    lines = [
        line(100, ("Three Months Ended", 300, 380), ("Nine Months Ended", 420, 500)),
        line(112, ("Oct 29, 2023", 320, 380), ("Oct 29, 2023", 440, 500)),
        line(130, ("Revenue", 50, 90), ("18,120", 350, 380), ("38,819", 470, 500)),
        line(142, ("Research and development", 50, 160), ("2,294", 355, 380), ("6,210", 475, 500)),
        line(154, ("Interest expense", 50, 120), ("(63)", 360, 381), ("(194)", 470, 501)),
    ]
    [table] = _blocks(lines, 3)
    assert table.kind == "table" and table.page == 3
    assert table.rows == [
        ["", "Three Months Ended Oct 29, 2023", "Nine Months Ended Oct 29, 2023"],
        ["Revenue", "18,120", "38,819"],
        ["Research and development", "2,294", "6,210"],
        ["Interest expense", "(63)", "(194)"],
    ]


def test_a_label_wrapped_over_two_lines_is_one_row() -> None:
    lines = [
        line(100, ("2023", 350, 380), ("2022", 470, 500)),
        line(112, ("Revenue", 50, 90), ("18,120", 350, 380), ("5,931", 475, 500)),
        line(124, ("Sales, general and", 50, 140)),
        line(136, ("administrative expenses", 50, 160), ("689", 365, 380), ("631", 485, 500)),
    ]
    [table] = _blocks(lines, 1)
    assert table.rows is not None
    assert ["Sales, general and administrative expenses", "689", "631"] in table.rows


def test_prose_stays_prose() -> None:
    lines = [
        line(100 + 12 * i, ("The committee met on 4 May and agreed the plan.", 50, 400)) for i in range(3)
    ]
    blocks = _blocks(lines, 2)
    assert [b.kind for b in blocks] == ["text"]
    assert blocks[0].text.count("committee") == 3


def test_two_columns_of_prose_are_read_left_column_first() -> None:
    words = "word " * 8
    lines = [
        line(100 + 12 * i, (f"left {i} {words}", 50, 280), (f"right {i} {words}", 320, 560))
        for i in range(10)
    ]
    gutter = _column_gutter(lines)
    assert gutter is not None and 280 <= gutter <= 320
    runs = list(_reading_order(lines))
    texts = [ln.text.split()[:2] for run in runs for ln in run]
    assert texts[:10] == [["left", str(i)] for i in range(10)]
    assert texts[10:] == [["right", str(i)] for i in range(10)]


def test_a_table_is_not_taken_for_two_columns() -> None:
    lines = [
        line(100 + 12 * i, (f"Item number {i} of the list", 50, 200), (f"{i},000", 400, 440))
        for i in range(10)
    ]
    assert _column_gutter(lines) is None


def test_three_columns_are_read_one_after_the_other() -> None:
    words = "word " * 6
    lines = [
        line(
            100 + 12 * i,
            (f"a {i} {words}", 50, 200),
            (f"b {i} {words}", 230, 380),
            (f"c {i} {words}", 410, 560),
        )
        for i in range(10)
    ]
    order = [ln.text.split()[0] for run in _reading_order(lines) for ln in run]
    assert order == ["a"] * 10 + ["b"] * 10 + ["c"] * 10


def test_rotated_pages_map_to_the_page_as_displayed() -> None:
    # a character near the top left of a page shown at 90 degrees sits at the bottom left in PDF space
    assert _rotated(10, 20, 30, 40, 612, 792, 0) == (10, 20, 752, 762)
    assert _rotated(10, 20, 30, 40, 612, 792, 90) == (30, 40, 10, 20)
    assert _upright(0.0, 0) and _upright(-1, 0) and not _upright(1.5708, 0)
    assert _upright(1.5708, 90) or _upright(1.5708 * 3, 90)


def test_a_running_footer_names_the_document_and_the_file_name_leads_the_title() -> None:
    assert _names_something("Apple Inc. | Q2 2023 Form 10-Q | 13")
    assert not _names_something("Table of Contents")
    assert not _names_something(
        "VerDate Sep<11>2014 16:21 Aug 05, 2020 Jkt 250001 PO 00000 Frm 00001 Fmt 4702"
    )
    title = _with_name("FORM 10-Q", "Apple Inc. | Q2 2023 Form 10-Q", Path("2023 Q2 AAPL.pdf"))
    assert title == "2023 Q2 AAPL: FORM 10-Q (Apple Inc. | Q2 2023 Form 10-Q)"
    assert _with_name("IT Security Policy", "", Path("it_security_policy.pdf")) == "IT Security Policy"
