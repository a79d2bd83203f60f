"""Where a parser would drop text silently, read it another way or say so, by file.

- HTML nested deeper than libxml2 reads (about 256 levels; unstructured's HTML partitioner stops
  there and returns what came before) is read as plain text by Python's own HTML parser.
- XLSX formula cells that have no saved value (the file was written by a program, never opened
  and saved in Excel) read as empty; their formulas are kept as text and the file is warned about.
- E-mail attachments get the same type, size and zip-bomb checks as files; a bad one is skipped by
  name and the body is kept.

Example::

    depth = html_depth(text)
    if depth > MAX_HTML_DEPTH:
        text = html_text(text)
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

MAX_HTML_DEPTH = 250  # libxml2 stops at 256 nested elements; keep a margin
# elements that do not nest (void) or whose end tags HTML lets authors leave out
_FLAT = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "td",
        "th",
        "tr",
        "dt",
        "dd",
        "option",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
    ]
)
_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^>]*?(/?)>")
_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
        "td",
        "th",
    ]
)


def html_depth(text: str) -> int:
    """The deepest nesting of elements in ``text`` (a fast estimate: tags that HTML lets authors
    leave unclosed do not count)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(text):
        name = name.lower()
        if name in _FLAT or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(text: str) -> str:
    """The text of an HTML page, paragraphs on their own lines, at any depth of nesting."""
    reader = _TextOnly()
    reader.feed(text)
    reader.close()
    paragraphs = (" ".join(part.split()) for part in "".join(reader.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


@dataclass(frozen=True, slots=True)
class Formula:
    sheet: str
    cell: str
    label: str  # the first cell of its row, usually what the value is
    formula: str


def unsaved_formulas(path: Path) -> list[Formula]:
    """Formula cells of an XLSX file that have no saved (cached) value."""
    import openpyxl

    formulas: dict[tuple[str, str], Formula] = {}
    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                label = next(
                    (str(c.value) for c in row if c.value is not None and not _is_formula(c.value)), ""
                )
                for cell in row:
                    if _is_formula(cell.value) and getattr(cell, "coordinate", None):
                        key = (sheet.title, cell.coordinate)
                        formulas[key] = Formula(sheet.title, cell.coordinate, label, str(cell.value))
    finally:
        book.close()
    if not formulas:
        return []
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        saved = {
            (sheet.title, cell.coordinate)
            for sheet in values.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None and getattr(cell, "coordinate", None)
        }
    finally:
        values.close()
    return [formula for key, formula in formulas.items() if key not in saved]


def _is_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith("=") and len(value) > 1


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    data: bytes


def attachments(path: Path) -> list[Attachment]:
    """The attached files of an e-mail (name and decoded bytes), in order."""
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    found = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() not in ("attachment", "inline"):
            continue
        name = part.get_filename()
        if not name:
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            found.append(Attachment(name, data))
    return found


STRICT_NAMESPACE = re.compile(rb"http://purl\.oclc\.org/ooxml/(\w+)/(\w+)")


@contextlib.contextmanager
def transitional_if_strict(path: Path) -> Iterator[tuple[Path, bool]]:
    """An Office file in "Strict Open XML" (ISO/IEC 29500 strict namespaces, which python-docx and
    openpyxl do not know: a strict workbook reads as having no sheets) as a temporary copy with the
    transitional namespaces; other files as they are. Yields the path to read and whether it was
    converted."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
        main = next(
            (n for n in names if n.endswith(("workbook.xml", "document.xml", "presentation.xml"))), ""
        )
        strict = b"purl.oclc.org/ooxml" in types + (archive.read(main)[:4096] if main else b"")
        if not strict:
            yield path, False
            return
        with tempfile.TemporaryDirectory(prefix="strict-") as folder:
            target = Path(folder) / path.name
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
                for info in archive.infolist():
                    data = archive.read(info)
                    if info.filename.endswith((".xml", ".rels")):
                        data = STRICT_NAMESPACE.sub(rb"http://schemas.openxmlformats.org/\1/2006/\2", data)
                        data = data.replace(b' conformance="strict"', b"")
                    out.writestr(info, data)
            yield target, True
