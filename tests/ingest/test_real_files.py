"""Real files nobody here made (``tests/data/real/``, sources and licences in its README): every one
is indexed whole or refused with a specific reason, never with a library's exception.

For each indexed file, a distinctive phrase from it is found in its chunks, and the share of its
words (as an independent reader sees them: pypdf, python-docx, openpyxl, python-pptx, the raw text)
found in its chunks is at least ``MIN_WORD_SHARE``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ingest import sync_folder
from rag.core.settings import load_settings
from rag.index.store import ChromaStore
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
MIN_WORD_SHARE = 0.9
REASONS = {  # the manifest's refusal kind -> words the reason must hold
    "encrypted": "password-protected",
    "no text layer": "no text",
    "unsupported": "unsupported file type",
    "empty": "empty",  # "empty file (0 bytes)", "no text found in the document (empty, ...)"
    "damaged": "damaged",
}
LIBRARY_EXCEPTION = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback|object is not")


def manifest() -> list[dict[str, Any]]:
    return list(json.loads((REAL / "manifest.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> tuple[Any, Any]:
    """The whole folder through the real pipeline (parse workers, chunking, embedding, Chroma)."""
    corpus = tmp_path_factory.mktemp("real")
    for entry in manifest():
        shutil.copy2(REAL / entry["file"], corpus / entry["file"])
    settings = load_settings(
        ROOT / "settings.yaml",
        index_dir=tmp_path_factory.mktemp("real-index"),
        models_dir=ROOT / "data" / "models",
        collection="real-files",
    )
    report = sync_folder(settings, corpus, embedder=embedder)
    return report, ChromaStore(settings.index_dir, settings.collection)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def _reference_texts(path: Path) -> list[str]:
    """The file's text as readers other than ours see it (for PDFs, pypdf's and pdfminer's: where
    one garbles a font, the other is the reference)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        import pdfplumber
        from pypdf import PdfReader

        texts = []
        for page in PdfReader(str(path)).pages:
            try:
                texts.append(page.extract_text() or "")
            except Exception:  # pypdf cannot read this page: it is not counted
                continue
        with pdfplumber.open(str(path)) as document:
            pdfminer = [page.extract_text() or "" for page in document.pages]
        return ["\n".join(texts), "\n".join(pdfminer)]
    if suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        return ["\n".join([*(p.text for p in document.paragraphs), *cells])]
    if suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        values = [str(v) for s in book.worksheets for row in s.iter_rows(values_only=True) for v in row if v]
        return ["\n".join(values)]
    if suffix == ".pptx":
        import pptx

        shapes = [shape for slide in pptx.Presentation(str(path)).slides for shape in slide.shapes]
        return ["\n".join(shape.text_frame.text for shape in shapes if shape.has_text_frame)]
    return []  # text types: the phrase check covers them


def _word_share(reference: list[str], chunks: str) -> float:
    """Share of the reference's words found in the chunks (or inside them, where the reference
    runs words together)."""
    found = set(_words(chunks))
    glued = "".join(_words(chunks))
    return sum(word in found or word in glued for word in reference) / len(reference)


def _indexed_entries() -> list[dict[str, Any]]:
    return [entry for entry in manifest() if entry["expect"] == "indexed"]


def _refused_entries() -> list[dict[str, Any]]:
    return [entry for entry in manifest() if entry["expect"] == "refused"]


def test_every_real_file_is_accounted_for(ingested: tuple[Any, Any]) -> None:
    report, _ = ingested
    indexed = set(report.added)
    refused = {p.source: p.reason for p in [*report.failed, *report.skipped]}
    for entry in manifest():
        name = entry["file"]
        assert (name in indexed) != (name in refused), (name, "neither or both indexed and refused")
    for reason in refused.values():
        assert not LIBRARY_EXCEPTION.search(reason), f"a library's exception shown as a reason: {reason}"


@pytest.mark.parametrize("entry", _refused_entries(), ids=lambda e: e["file"])
def test_refused_with_a_specific_reason(ingested: tuple[Any, Any], entry: dict[str, Any]) -> None:
    report, _ = ingested
    refused = {p.source: p.reason for p in [*report.failed, *report.skipped]}
    assert entry["file"] in refused, f"{entry['file']} was indexed, expected: {entry['refusal']}"
    assert REASONS[entry["refusal"]] in refused[entry["file"]].lower(), refused[entry["file"]]


@pytest.mark.parametrize("entry", _indexed_entries(), ids=lambda e: e["file"])
def test_indexed_whole(ingested: tuple[Any, Any], entry: dict[str, Any]) -> None:
    report, store = ingested
    name = entry["file"]
    failures = {p.source: p.reason for p in report.failed}
    assert name in report.added, f"{name} not indexed: {failures.get(name)}"
    chunks = "\n".join(store.get(where={"source": name})["documents"])
    flat = " ".join(_words(chunks))
    assert " ".join(_words(entry["phrase"])) in flat, f"phrase not found: {entry['phrase']!r}"
    references = [words for text in _reference_texts(REAL / name) if len(words := _words(text)) >= 20]
    if references:
        share = max(_word_share(reference, chunks) for reference in references)
        assert share >= MIN_WORD_SHARE, f"{name}: {share:.2f} of its words are in its chunks"


def test_known_phrases_on_known_pages(ingested: tuple[Any, Any]) -> None:
    """Page numbers of a real table-heavy PDF: each phrase is in a chunk cited to its page."""
    _, store = ingested
    for entry in manifest():
        for page, phrase in (entry.get("pages") or {}).items():
            hits = store.get(where={"source": entry["file"]})
            on_page = [
                text
                for text, meta in zip(hits["documents"], hits["metadatas"], strict=True)
                if meta.get("page") == int(page)
            ]
            joined = " ".join(_words("\n".join(on_page)))
            assert " ".join(_words(phrase)) in joined, (entry["file"], page, phrase)
