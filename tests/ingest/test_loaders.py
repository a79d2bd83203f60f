"""Real unstructured on every format of the sample corpus (and the PDF path's details)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import parse_file
from rag.core.settings import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def settings() -> Any:
    return load_settings(PROJECT_ROOT / "settings.yaml")


def texts(path: Path, settings: Any) -> str:
    return "\n".join(block.text for block in parse_file(path, settings).blocks)


def test_pdf_keeps_page_numbers_and_headings(settings: Any) -> None:
    document = parse_file(SAMPLE / "it_security_policy.pdf", settings)
    assert document.title == "IT Security Policy"
    pages = {block.page for block in document.blocks}
    assert pages == {1, 2, 3, 4}
    by_text = {block.text: block for block in document.blocks}
    assert by_text["VPN"].kind == "title" and by_text["VPN"].page == 3
    code = next(b for b in document.blocks if "SEC-4012" in b.text)
    assert code.page == 3 and code.kind == "text"
    assert next(b for b in document.blocks if "35 days" in b.text).page == 4


def test_pptx_uses_slide_numbers_as_pages(settings: Any) -> None:
    document = parse_file(SAMPLE / "company_overview.pptx", settings)
    leadership = [b for b in document.blocks if b.page == 3]
    assert leadership[0].kind == "title" and leadership[0].text == "Leadership team"
    assert any("Dev Raman" in b.text and b.kind == "text" for b in leadership)
    assert any("£18.4 million" in b.text for b in document.blocks if b.page == 6)


def test_docx_headings_paragraphs_and_table(settings: Any) -> None:
    document = parse_file(SAMPLE / "benefits_guide.docx", settings)
    assert document.title == "Employee Benefits Guide 2026"
    table = next(b for b in document.blocks if b.kind == "table")
    assert table.rows is not None and table.rows[0] == ["Benefit", "Provider", "Employee cost"]
    assert ["Gym discount", "FitHub", "30% off membership"] in table.rows
    assert any(b.kind == "title" and b.text == "Pension" for b in document.blocks)


def test_xlsx_sheets_become_sections_with_header_rows(settings: Any) -> None:
    document = parse_file(SAMPLE / "expense_policy.xlsx", settings)
    titles = [b.text for b in document.blocks if b.kind == "title"]
    assert titles == ["Sheet: Limits", "Sheet: Approvals"]
    tables = [b for b in document.blocks if b.kind == "table"]
    assert tables[0].rows is not None and tables[0].rows[0][:2] == ["Category", "Limit"]
    assert ["Hotel in London", "£180 per night", "Yes", "Book through TravelDesk"] in tables[0].rows


def test_csv_is_one_table_with_its_header(settings: Any) -> None:
    document = parse_file(SAMPLE / "travel_per_diem.csv", settings)
    (table,) = document.blocks
    assert table.rows is not None and table.rows[0][0] == "City"
    assert ["Singapore", "Singapore", "95", "320", "SGD"] in table.rows


def test_html_markdown_text_and_email(settings: Any) -> None:
    html = parse_file(SAMPLE / "intranet_it_helpdesk.html", settings)
    assert html.title == "IT Helpdesk"
    assert any(
        b.kind == "table" and b.rows and ["P1", "Whole office cannot work", "15 minutes"] in b.rows
        for b in html.blocks
    )
    md = parse_file(SAMPLE / "employee_handbook.md", settings)
    assert [b.depth for b in md.blocks if b.kind == "title"][:2] == [0, 1]
    assert "27 days of annual leave" in texts(SAMPLE / "employee_handbook.md", settings)
    assert "arrive at 09:30" in texts(SAMPLE / "onboarding_checklist.txt", settings)
    email = parse_file(SAMPLE / "office_move_announcement.eml", settings)
    assert email.title == "Leeds office move on 3 March 2026"
    body = "\n".join(b.text for b in email.blocks)
    assert "From: Marta Okafor" in body and "21 Aire Street" in body and "40 parking spaces" in body


def test_an_email_without_subject_or_date_still_parses(settings: Any, tmp_path: Path) -> None:
    mail = tmp_path / "note.eml"
    mail.write_text(
        "From: Sam <sam@example.com>\nTo: all@example.com\n\nThe lift is out of order until Monday.\n"
    )
    document = parse_file(mail, settings)
    assert document.title == "Note"
    text = "\n".join(b.text for b in document.blocks)
    assert "From: Sam <sam@example.com>" in text and "Subject:" not in text and "lift is out of order" in text


def test_trimming_the_narrative_check_changes_no_block(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every format parses to the same blocks with unstructured's spaCy NarrativeText check
    trimmed (ingest.fast.narrative, the speed-up) as with it run everywhere (the library's default)."""

    import ingest.fast.narrative as heuristics
    from ingest.synthetic import generate

    generate(tmp_path, 24, 4)
    (tmp_path / "notes.txt").write_text(  # short lines: titles or not, decided by the real check
        "Quarterly Review\n\nThe review is due on 3 March.\n\nBudget Owners\n\n"
        "Maria Keller approves every request above 5,000 EUR before the quarter closes, "
        "and the finance team files it.\n\nSHORT NOTICE.\n"
    )
    paths = [p for p in sorted(SAMPLE.iterdir()) if p.suffix != ".pdf"]
    paths += [p for p in sorted(tmp_path.rglob("*")) if p.is_file() and p.suffix != ".pdf"]
    reached = {suffix for _, suffixes in heuristics.TRIMMED.values() for suffix in suffixes}
    assert reached - {".htm"} <= {p.suffix for p in paths}
    for name in heuristics.TRIMMED:  # the patched names exist in this unstructured
        assert callable(__import__(name, fromlist=["x"]).is_possible_narrative_text), name

    def blocks(path: Path) -> list[tuple[str, str, int | None, int]]:
        return [(b.kind, b.text, b.page, b.depth) for b in parse_file(path, settings).blocks]

    trimmed = {p: blocks(p) for p in paths}
    monkeypatch.setattr(heuristics, "TRIMMED", {})
    for path in paths:
        assert blocks(path) == trimmed[path], path.name
    assert any(kind == "title" for kind, *_ in trimmed[tmp_path / "notes.txt"])
    from unstructured.partition import text

    assert text.is_possible_narrative_text.__module__ == "unstructured.partition.text_type"  # restored
