"""Parse a file into structural blocks (titles, text, tables) with page numbers, via unstructured.

unstructured does the partitioning and element classification for every other format; PDFs are
read page by page from their text layer by :mod:`ingest.pdf` (pdfplumber, with PDFium and pypdf
for pages it cannot read), so the default install needs no layout models, and ``pdf_strategy:
hi_res`` hands them to unstructured's layout/OCR pipeline when the ``ocr`` extra is installed.

Example::

    document = parse_file(Path("data/sample/it_security_policy.pdf"), settings)
    for block in document.blocks:
        print(block.page, block.kind, block.text[:60])
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ingest import fast, guards
from ingest.checks import UnusableFile, check_file
from ingest.document import Block, BlockKind, ParsedDocument, title_from_name
from ingest.fast.narrative import NLP_USERS
from ingest.pdf import parse_pdf
from rag.core.settings import Settings

__all__ = ["Block", "BlockKind", "ParsedDocument", "UnusableFile", "parse_file", "warm_up_parsers"]

TEXT_TYPES = {".txt", ".md", ".html", ".htm", ".csv"}
PAGED_TYPES = {".pdf", ".pptx"}
MAX_ATTACHMENT_DEPTH = 2  # an e-mail attached to an e-mail is read; one level deeper is not


def quiet_third_parties() -> None:
    """Keep libraries off the network: no telemetry pings, no hub look-ups."""
    for name in (
        "DO_NOT_TRACK",
        "SCARF_NO_ANALYTICS",
        "UNSTRUCTURED_DISABLE_NOTICE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "ANONYMIZED_TELEMETRY",
    ):
        os.environ.setdefault(name, "False" if name == "ANONYMIZED_TELEMETRY" else "1")


def parse_file(path: Path, settings: Settings, _depth: int = 0) -> ParsedDocument:
    """Read ``path`` into blocks; raise :class:`UnusableFile` with a specific reason on failure."""
    quiet_third_parties()
    suffix = path.suffix.lower()
    warnings: list[str] = []
    if suffix == ".pdf":
        document = (
            parse_pdf(path) if settings.pdf_strategy == "fast" else _parse_pdf_unstructured(path, settings)
        )
    elif suffix in TEXT_TYPES:
        text = _decode_text(path, warnings)
        read_as = suffix
        if suffix in (".html", ".htm") and (depth := guards.html_depth(text)) > guards.MAX_HTML_DEPTH:
            text, read_as = guards.html_text(text), ".txt"
            warnings.append(
                f"HTML nested {depth} levels deep (the HTML parser stops at about 256): "
                "read as plain text, headings and tables not recognised"
            )
        with fast.trimmed_if_fast(settings, read_as):
            elements = _partition_text_type(read_as, text, settings.languages)
        document = _from_elements(elements, read_as, path)
    elif suffix in {".docx", ".pptx", ".xlsx", ".eml"}:
        with _readable_copy(path, suffix, warnings) as readable, fast.trimmed_if_fast(settings, suffix):
            elements = _partition_binary(suffix, readable, settings.languages)
        document = _from_elements(elements, suffix, path)
        if suffix == ".xlsx":
            _keep_unsaved_formulas(path, document)
        if suffix == ".eml":
            with _readable_copy(path, suffix, []) as readable:
                _add_attachments(readable, settings, document, _depth)
    else:
        raise UnusableFile(f"unsupported file type {suffix or '(none)'}")
    document.warnings.extend(warnings)
    if not any(block.text.strip() for block in document.blocks):
        raise UnusableFile("no text found in the document (empty, or only whitespace)")
    return document


def warm_up_parsers(suffixes: list[str]) -> None:
    """Import the parsers ``suffixes`` need (and the spaCy model where it is still used), so a
    parse worker does it once while the index opens rather than inside its first file."""
    quiet_third_parties()
    for suffix in suffixes:
        if suffix == ".pdf":
            for module in ("pdfplumber", "pypdfium2", "pypdf"):
                importlib.import_module(module)
        elif suffix in PARTITIONERS:
            _partitioner(suffix)
    if set(suffixes) & NLP_USERS:
        from unstructured.nlp.tokenize import sent_tokenize

        sent_tokenize("Loads the model. Once per process.")


# --- text encodings --------------------------------------------------------------------------


BYTE_ORDER_MARKS = (  # longest first: UTF-32's little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_text(path: Path, warnings: list[str]) -> str:
    data = path.read_bytes()
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as error:
                raise UnusableFile(
                    f"not text: it starts with a {encoding.upper()} byte-order mark but "
                    f"does not decode as {encoding.upper()} ({error.reason})"
                ) from error
            warnings.append(f"not UTF-8: read as {encoding.upper()} (byte-order mark)")
            return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or b"\x00" in data:
        raise UnusableFile("not text: the bytes are not UTF-8 and match no text encoding")
    encoding, text = best.encoding, str(best)
    if _single_byte(encoding):  # short texts fit many code pages: Windows-1252 is the usual one
        with contextlib.suppress(UnicodeDecodeError):
            encoding, text = "cp1252", data.decode("cp1252")
    warnings.append(f"not UTF-8: read as {encoding}")
    return text


def _single_byte(encoding: str) -> bool:
    return encoding.startswith(("cp12", "iso8859", "latin", "mac_", "cp8"))


# --- unstructured partitioners ---------------------------------------------------------------


PARTITIONERS = {  # suffix -> unstructured module and function
    ".md": "md",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".txt": "text",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".eml": "email",
}


def _partitioner(suffix: str) -> Callable[..., Any]:
    name = PARTITIONERS[suffix]
    return getattr(importlib.import_module(f"unstructured.partition.{name}"), f"partition_{name}")


def _partition_text_type(suffix: str, text: str, languages: list[str]) -> list[Any]:
    partition = _partitioner(suffix)
    if suffix != ".csv":
        return list(partition(text=text, languages=languages))
    try:
        return list(
            partition(file=io.BytesIO(text.encode("utf-8")), include_header=True, languages=languages)
        )
    except Exception as error:  # pandas parser errors
        raise UnusableFile(f"unreadable CSV: {error}") from error


@contextlib.contextmanager
def _readable_copy(path: Path, suffix: str, warnings: list[str]) -> Iterator[Path]:
    """``path``, or a temporary copy the partitioner can read: a Strict Open XML file with the usual
    namespaces (:func:`guards.transitional_if_strict`), an e-mail saved as UTF-16/32 in UTF-8."""
    if suffix == ".eml":
        data = path.read_bytes()
        encoding = next((name for mark, name in BYTE_ORDER_MARKS if data.startswith(mark)), None)
        if encoding is None:
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="eml-") as folder:
            copy = Path(folder) / path.name
            copy.write_text(_decode_text(path, warnings), encoding="utf-8")
            yield copy
        return
    try:
        converted = guards.transitional_if_strict(path)
        readable, strict = converted.__enter__()
    except Exception:  # the partitioner reports what is wrong with the archive
        yield path
        return
    try:
        if strict:
            warnings.append("Strict Open XML: read after mapping its namespaces to the usual ones")
        yield readable
    finally:
        converted.__exit__(None, None, None)


def _partition_binary(suffix: str, path: Path, languages: list[str]) -> list[Any]:
    # e-mail attachments are read by _add_attachments, with the checks every file gets
    options = {"process_attachments": False} if suffix == ".eml" else {}
    try:
        return list(_partitioner(suffix)(filename=str(path), languages=languages, **options))
    except Exception as error:
        kind = suffix.lstrip(".").upper()
        raise UnusableFile(f"damaged {kind} file: {type(error).__name__}: {error}") from error


def _from_elements(elements: list[Any], suffix: str, path: Path) -> ParsedDocument:
    blocks: list[Block] = []
    title = ""
    seen_sheets: set[str] = set()
    if suffix == ".eml" and elements:
        meta = elements[0].metadata
        title = meta.subject or ""
        header = {
            "Subject": meta.subject or "",
            "From": ", ".join(meta.sent_from or []),
            "To": ", ".join(meta.sent_to or []),
            "Date": meta.last_modified or "",
        }
        lines = [f"{name}: {value}" for name, value in header.items() if value]
        if lines:
            blocks.append(Block("text", "\n".join(lines)))
    slide_titled: set[int | None] = set()
    for element in elements:
        text = (element.text or "").strip()
        category = element.category
        meta = element.metadata
        page = meta.page_number if suffix in PAGED_TYPES else None
        if suffix == ".xlsx" and meta.page_name and meta.page_name not in seen_sheets:
            seen_sheets.add(meta.page_name)
            blocks.append(Block("title", f"Sheet: {meta.page_name}"))
        if not text or category in {"PageBreak", "Image"}:
            continue
        if category == "Table":
            rows = _table_rows(meta.text_as_html) if meta.text_as_html else None
            if suffix == ".xlsx":  # pandas writes a line break inside a cell as a literal "\n"
                text = " ".join(text.replace("\\n", " ").split())
                rows = [[" ".join(c.replace("\\n", " ").split()) for c in row] for row in rows or []] or None
            blocks.append(Block("table", text, page, rows=rows))
        elif category == "Title" and suffix != ".eml" and not _is_bullet(suffix, page, meta, slide_titled):
            blocks.append(Block("title", text, page, depth=int(meta.category_depth or 0)))
            title = title or text
        else:
            blocks.append(Block("text", text, page))
    return ParsedDocument(title=title or title_from_name(path), blocks=blocks)


def _keep_unsaved_formulas(path: Path, document: ParsedDocument) -> None:
    """Formula cells with no saved value read as empty: keep their formulas as text, and warn."""
    try:
        missing = guards.unsaved_formulas(path)
    except Exception:  # openpyxl cannot read it; what unstructured read stands
        return
    if not missing:
        return
    by_sheet: dict[str, list[guards.Formula]] = {}
    for formula in missing:
        by_sheet.setdefault(formula.sheet, []).append(formula)
    for sheet, formulas in by_sheet.items():
        document.blocks.append(Block("title", f"Sheet: {sheet}: formulas without saved values"))
        lines = [f"{f.label or f.cell} ({f.cell}): {f.formula}" for f in formulas]
        document.blocks.append(Block("text", "\n".join(lines)))
    cells = ", ".join(f"{f.sheet}!{f.cell}" for f in missing[:5]) + (" ..." if len(missing) > 5 else "")
    document.warnings.append(
        f"{len(missing)} formula cells have no saved value ({cells}); their formulas were indexed as "
        "text: open and save the file in Excel or LibreOffice to index their results"
    )


def _add_attachments(path: Path, settings: Settings, document: ParsedDocument, depth: int) -> None:
    """Each attachment of an e-mail is checked (type, size, zip bomb) and parsed like a file of its
    own; a bad one is skipped with a warning naming it, and the body stays."""

    try:
        found = guards.attachments(path)
    except Exception as error:
        document.warnings.append(f"attachments not read: {type(error).__name__}: {error}")
        return
    if not found:
        return
    with tempfile.TemporaryDirectory(prefix="attachment-") as folder:
        for number, attachment in enumerate(found):
            name = Path(attachment.name.replace("\\", "/")).name or f"attachment-{number}"
            suffix = Path(name).suffix.lower()
            try:
                if suffix not in settings.file_types:
                    raise UnusableFile(f"unsupported file type {suffix or '(none)'}")
                if suffix == ".eml" and depth + 1 >= MAX_ATTACHMENT_DEPTH:
                    raise UnusableFile("an e-mail nested too deep in attachments")
                target = Path(folder) / f"{number}{suffix}"
                target.write_bytes(attachment.data)
                check_file(target, Path(folder), settings)
                attached = parse_file(target, settings, depth + 1)
            except UnusableFile as problem:
                document.warnings.append(f"attachment {name!r} skipped: {problem.reason}")
                continue
            except Exception as error:
                document.warnings.append(f"attachment {name!r} skipped: {type(error).__name__}: {error}")
                continue
            document.blocks.append(Block("title", f"Attachment: {name}"))
            # the e-mail has no pages: an attached PDF's page numbers would cite the wrong thing
            document.blocks.extend(replace(block, page=None) for block in attached.blocks)
            document.warnings.extend(f"attachment {name!r}: {w}" for w in attached.warnings)


def _is_bullet(suffix: str, page: int | None, meta: Any, slide_titled: set[int | None]) -> bool:
    """On a slide only its first title is a heading; unstructured calls short bullets titles too."""
    if suffix != ".pptx":
        return False
    if page in slide_titled or (meta.category_depth or 0) > 0:
        return True
    slide_titled.add(page)
    return False


def _table_rows(html: str) -> list[list[str]]:
    import lxml.html

    table = lxml.html.fromstring(html)
    rows = []
    for row in table.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in {"td", "th"}]
        if any(cells):
            rows.append(cells)
    return rows


# --- PDF through unstructured (hi_res / ocr_only) -----------------------------------------------


def _parse_pdf_unstructured(path: Path, settings: Settings) -> ParsedDocument:
    strategy = settings.pdf_strategy
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnusableFile("password-protected PDF: remove the password to index it")
    except UnusableFile:
        raise
    except Exception as error:
        raise UnusableFile(f"damaged PDF: {type(error).__name__}: {error}") from error
    try:
        from unstructured.partition.pdf import partition_pdf
    except ImportError as error:
        raise UnusableFile(
            f"pdf_strategy {strategy!r} needs the OCR extra: pip install -e '.[ocr]' ({error})"
        ) from error
    elements = list(partition_pdf(filename=str(path), strategy=strategy, languages=settings.languages))
    return _from_elements(elements, ".pdf", path)
