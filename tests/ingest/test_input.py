"""One file must not break the product, nor lose text silently (issue 12, points 4-7)."""

from __future__ import annotations

import io
import resource
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from ingest import sync_folder
from ingest.chunking import CHARS_PER_TOKEN, Chunker
from ingest.loaders import Block, ParsedDocument, parse_file
from rag import Assistant
from rag.answer.passages import select_passages, units
from rag.core.schema import Hit
from rag.index.store import ChromaStore
from tests.helpers.badfiles import zip_bomb

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings()


def texts(document: ParsedDocument) -> str:
    return "\n".join(block.text for block in document.blocks)


# --- 4. deep HTML ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [260, 300, 2000])
def test_deeply_nested_html_keeps_every_paragraph(settings: Any, tmp_path: Path, depth: int) -> None:
    page = tmp_path / "deep.html"
    page.write_text(
        "<html><body><p>The opening paragraph.</p>"
        + "<div>" * depth
        + "The buried clause says refunds take 14 days."
        + "</div>" * depth
        + "<p>The closing paragraph.</p></body></html>"
    )
    document = parse_file(page, settings)
    text = texts(document)
    assert "opening paragraph" in text and "refunds take 14 days" in text and "closing paragraph" in text
    assert any("nested" in warning for warning in document.warnings)


def test_ordinary_html_is_still_read_with_its_structure(settings: Any, tmp_path: Path) -> None:
    page = tmp_path / "plain.html"
    page.write_text(
        "<html><body><h1>Travel</h1><div><div><p>Trains are booked early.</p></div></div></body></html>"
    )
    document = parse_file(page, settings)
    assert not document.warnings
    assert [b.kind for b in document.blocks][:1] == ["title"] and "Trains are booked" in texts(document)


# --- 5. XLSX formulas without saved values ---------------------------------------------------------


def test_formula_cells_without_saved_values_are_kept_and_warned(settings: Any, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Budget"
    for row in (["Item", "Cost"], ["Laptops", 1200], ["Phones", 300], ["Total", "=SUM(B2:B3)"]):
        sheet.append(row)
    path = tmp_path / "budget.xlsx"
    book.save(path)  # openpyxl writes formulas without cached values, as many generators do
    document = parse_file(path, settings)
    assert "Total (B4): =SUM(B2:B3)" in texts(document)
    assert any("1 formula cells have no saved value (Budget!B4)" in w for w in document.warnings)


def test_formulas_with_saved_values_are_read_as_values(settings: Any) -> None:
    from tests.helpers import SAMPLE

    document = parse_file(SAMPLE / "expense_policy.xlsx", settings)
    assert not [w for w in document.warnings if "formula" in w]


# --- 6. text without whitespace --------------------------------------------------------------------


def test_a_megabyte_without_whitespace_is_cut_into_bounded_chunks_and_answering_works(
    make_settings: Any, tmp_path: Path, embedder: Any, sample_assistant: Any
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "blob.txt").write_text("QmFja3Vwcw" * 120_000)  # 1.2 MB, one "word"
    (corpus / "backup.md").write_text("# Backups\n\nBackups are retained for 35 days.\n")
    settings = make_settings(collection="blob-test")
    report = sync_folder(settings, corpus, embedder=embedder)
    assert not report.failed, report.summary()
    data = ChromaStore(settings.index_dir, settings.collection).get()
    longest = max(len(text) for text in data["documents"])
    assert longest <= settings.chunk_size * CHARS_PER_TOKEN
    blob_chunks = [m for m in data["metadatas"] if m["source"] == "blob.txt"]
    assert len(blob_chunks) >= 1_200_000 // (settings.chunk_size * CHARS_PER_TOKEN)
    assistant = Assistant(settings, embedder=embedder, llm=sample_assistant.llm)
    for question in ("What is QmFja3Vwcw?", "How long are backups retained?"):
        answer = assistant.ask(question)  # spaCy's E088 on every question before
        assert answer.text
    assert "35" in assistant.ask("How long are backups retained?").text


def test_passage_selection_bounds_what_it_hands_to_spacy(embedder: Any) -> None:
    hit = Hit(
        chunk_id="x",
        text="A" * 1_500_000 + ". Backups are kept 35 days.",
        score=1.0,
        source="old.txt",
        page=None,
    )
    found = units(hit)  # an older index can hold such a chunk
    assert found and max(len(unit) for unit in found) <= 1000
    passages = select_passages("How long are backups kept?", [hit], embedder, n=1)
    assert "35 days" in passages[0].text


def test_the_chunker_bounds_characters_for_any_text(tokenizer: Any) -> None:
    chunker = Chunker(tokenizer, max_tokens=256, chunk_size=200, chunk_overlap=30)
    document = ParsedDocument("Blob", [Block("text", "x" * 50_000), Block("text", "word " * 3000)])
    chunks = chunker.chunk(document, "blob.txt", "h", "txt")
    assert all(len(chunk.text) <= 200 * CHARS_PER_TOKEN for chunk in chunks)
    assert sum(len(c.text) for c in chunks if c.text.startswith("x")) == 50_000  # nothing dropped


# --- 7. e-mail attachments -------------------------------------------------------------------------


def email_with(attachments: list[tuple[str, bytes, str]]) -> bytes:
    message = EmailMessage()
    message["Subject"] = "Quarterly figures"
    message["From"] = "Finance <finance@example.com>"
    message["To"] = "all@example.com"
    message.set_content("The board meets on 12 May. The budget is attached.")
    for name, data, subtype in attachments:
        message.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return message.as_bytes()


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_a_zip_bomb_attached_to_an_email_is_refused_and_the_body_kept(settings: Any, tmp_path: Path) -> None:
    bomb = zip_bomb()
    assert zipfile.is_zipfile(io.BytesIO(bomb))
    mail = tmp_path / "figures.eml"
    mail.write_bytes(
        email_with(
            [
                ("bomb.docx", bomb, "vnd.openxmlformats-officedocument.wordprocessingml.document"),
                ("notes.docx", docx_bytes("Travel spend fell by 8 percent."), "octet-stream"),
                ("tool.exe", b"MZ\x90\x00", "octet-stream"),
            ]
        )
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    document = parse_file(mail, settings)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    text = texts(document)
    assert "The board meets on 12 May" in text  # the body is kept
    assert "Travel spend fell by 8 percent" in text  # a good attachment is read
    assert any("'bomb.docx' skipped: refused as a possible zip bomb" in w for w in document.warnings)
    assert any("'tool.exe' skipped: unsupported file type .exe" in w for w in document.warnings)
    assert grown_mb < 150  # the 200 MB inside the bomb was never inflated


def test_an_email_with_a_bad_attachment_is_indexed_with_a_warning(
    make_settings: Any, tmp_path: Path, embedder: Any
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "figures.eml").write_bytes(email_with([("bomb.docx", zip_bomb(), "octet-stream")]))
    settings = make_settings(collection="mail-test")
    report = sync_folder(settings, corpus, embedder=embedder)
    assert report.added == ["figures.eml"] and not report.failed
    assert any(w.source == "figures.eml" and "bomb.docx" in w.reason for w in report.warnings)
