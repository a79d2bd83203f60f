"""Read a PDF's text layer page by page: lines rebuilt from character positions, table rows kept
whole with their column headers, two-column pages read column by column.

pdfplumber (pdfminer's characters, no layout analysis) gives every word with its position and font
size, text inside figures and bare lines included. A page is then read as lines (words on one
baseline), a line as cells (runs of words split at wide gaps), and runs of lines that end in
numbers as tables: each row keeps its label and its figures, one cell per column, and the header
lines above them are assigned to the columns they stand over. That is what a financial statement
needs: "Research and development | 2,294 | 1,945" with "Three Months Ended October 29, 2023" over
the first figure, in one chunk.

Every page degrades on its own: a page pdfplumber cannot read (a broken colour space, an unknown
font), or where it finds much less text than PDFium (fonts without a Unicode map, rotated or
vertical text), is read with PDFium's plain text, then with pypdf; the document keeps its other
pages and a warning names the pages and the reason. "damaged PDF" is said only when no reader can
open the file.

Example::

    document = parse_pdf(Path("reports/2023 Q3 NVDA.pdf"))
    tables = [block for block in document.blocks if block.kind == "table"]
    print(tables[0].page, tables[0].rows[:2])
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.checks import UnusableFile
from ingest.document import Block, ParsedDocument, title_from_name
from rag.core.text import UNSPACED_CHARS

CELL_GAP_EM = 1.0  # a gap wider than this many font sizes separates two cells of a line
COLUMN_TOLERANCE = 8.0  # points: right edges of figures in one column differ by less than this
MIN_TABLE_ROWS = 2
MAX_HEADER_LINES = 6
UNSPACED_BREAK = re.compile(
    f"(?<=[{UNSPACED_CHARS}]) (?=[{UNSPACED_CHARS}])"
)  # a line break in vertical text
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")  # Hebrew and Arabic
CURRENCY = {"$", "€", "£", "¥"}

NUMBER = re.compile(r"^[\s$€£¥(]*[-–—+]?[\d.,]*\d[\d.,]*\s*[)%]*\s*(?:[xX]|bps|pts)?$")
DASH = re.compile(r"^[\s$]*[-–—]+[\s)]*$")
LEADER = re.compile(r"^[.\s·…_]{4,}$")
YEAR_OR_DATE = re.compile(
    r"\b(19|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b|\b(Ended|Months|Weeks|Quarter|Year"
    r"|Q[1-4]|FY)\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Cell:
    text: str
    x0: float
    x1: float

    @property
    def numeric(self) -> bool:
        return bool(NUMBER.match(self.text) or DASH.match(self.text))


@dataclass(slots=True)
class Line:
    top: float
    bottom: float
    size: float
    cells: list[Cell] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(cell.text for cell in self.cells)

    @property
    def figures(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.numeric]

    @property
    def is_row(self) -> bool:
        """A table row: a label and figures, or several figures (years alone are a header)."""
        figures = self.figures
        if not figures or all(_is_year(cell.text) for cell in figures):
            return False
        return len(figures) >= 2 or (len(self.cells) >= 2 and not self.cells[0].numeric)


def _is_year(text: str) -> bool:
    return bool(re.fullmatch(r"\s*(19|20)\d\d\s*", text))


@dataclass(slots=True)
class PageRead:
    """How one page was read: ``how`` is layout, pdfium, pypdf or empty."""

    number: int
    blocks: list[Block]
    how: str
    reason: str = ""
    margins: list[Block] = field(default_factory=list)  # lines in the top and bottom margins


def parse_pdf(path: Path) -> ParsedDocument:
    """Read ``path`` page by page; raise :class:`UnusableFile` when no page has text or no reader
    can open it."""
    pypdf, meta_title, pypdf_error = _open_pypdf(path)
    pdfium, pdfium_error = _open_pdfium(path)
    plumber, plumber_error = _open_plumber(path)
    errors = f"PDFium: {pdfium_error}; pdfminer: {plumber_error}; pypdf: {pypdf_error}"
    if pdfium is None and plumber is None and pypdf_error:
        raise UnusableFile(f"damaged PDF: no reader can open it ({errors})")
    try:
        count = len(pdfium) if pdfium is not None else len((plumber if plumber is not None else pypdf).pages)
        pages = [_read_page(number, plumber, pdfium, pypdf) for number in range(1, count + 1)]
    finally:
        for document in (plumber, pdfium):
            if document is not None:
                with contextlib.suppress(Exception):
                    document.close()
    running = _drop_running_lines(pages)
    blocks = [block for page in pages for block in page.blocks]
    if not blocks and plumber is None and pypdf_error:
        raise UnusableFile(f"damaged PDF: no text, and its structure is broken ({errors})")
    if not blocks:
        raise UnusableFile("no text layer: scanned? enable OCR (pdf_strategy: hi_res, extra 'ocr')")
    _mark_headings(blocks)
    meta_title = meta_title if re.search(r"[^\W\d_]{3}", meta_title) else ""  # not "0001045810-23-000227"
    title = meta_title or next((b.text for b in blocks if b.kind == "title"), "")
    return ParsedDocument(
        title=_with_name(title, running, path), blocks=blocks, warnings=_page_warnings(pages)
    )


def _with_name(title: str, running: str, path: Path) -> str:
    """The title, led by the file's name where the title does not hold it, and followed by the
    running head or footer where there is one: a folder of filings titled "FORM 10-Q" each is
    told apart by "2023 Q2 AAPL: FORM 10-Q (Apple Inc. | Q2 2023 Form 10-Q)". The name is what
    people chose to call the document, the running line what the document calls itself, and
    every chunk's context carries the title."""
    name = " ".join(path.stem.replace("_", " ").replace("-", " ").split())
    title = title or title_from_name(path)
    if name.lower() not in " ".join(title.lower().split()):
        title = f"{name}: {title}"
    if running and running.lower() not in title.lower():
        title = f"{title} ({running[:80]})"
    return title


# --- opening -----------------------------------------------------------------------------------


def _open_pypdf(path: Path) -> tuple[Any, str, str]:
    """pypdf's reader (None when it cannot open the file), the document's title from its metadata,
    and why pypdf cannot open it ("" when it can); password-protected files are refused by name."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnusableFile("password-protected PDF: remove the password to index it")
        _ = len(reader.pages)
        metadata: Any = reader.metadata or {}
        return reader, str(metadata.get("/Title") or "").strip(), ""
    except UnusableFile:
        raise
    except Exception as error:  # the other readers decide whether it is readable
        return None, "", _said(error)


def _said(error: Exception) -> str:
    """An exception as a reason: its message, not its class."""
    return str(error).strip()[:120] or "unreadable"


def _open_pdfium(path: Path) -> tuple[Any, str]:
    try:
        import pypdfium2

        return pypdfium2.PdfDocument(str(path)), ""
    except Exception as error:
        if "password" in str(error).lower():
            raise UnusableFile("password-protected PDF: remove the password to index it") from error
        return None, _said(error)


def _open_plumber(path: Path) -> tuple[Any, str]:
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # repairs it makes are not the user's business
    try:
        import pdfplumber

        document = pdfplumber.open(str(path))
        _ = len(document.pages)
        return document, ""
    except Exception as error:
        return None, _said(error)


# --- one page ------------------------------------------------------------------------------------


def _read_page(number: int, plumber: Any, pdfium: Any, pypdf: Any) -> PageRead:
    """The page laid out from PDFium's characters; where PDFium fails, from pdfminer's (through
    pdfplumber); where the text is not upright, PDFium's plain text; then pypdf's."""
    reasons = []
    for name, reader in (("PDFium", pdfium), ("pdfminer", plumber)):
        if reader is None:
            continue
        try:
            page = reader[number - 1] if name == "PDFium" else reader.pages[number - 1]
            words = _pdfium_words(page) if name == "PDFium" else _plumber_words(page)
        except Exception as error:
            reasons.append(f"{name}: {type(error).__name__}: {str(error)[:100]}")
            continue
        upright = [w for w in words if w["upright"]]
        if sum(len(w["text"]) for w in upright) < 0.5 * sum(len(w["text"]) for w in words):
            reasons.append("rotated or vertical text")
            break
        letters = "".join(w["text"] for w in words)
        if len(RTL.findall(letters)) > 0.2 * len(letters):  # PDFium may give these in visual order
            reasons.append("right-to-left text")
            break
        body, margins = _split_margins(_lines(upright))
        blocks: list[Block] = []
        for run in _reading_order(body):
            blocks.extend(_blocks(run, number))
        read = PageRead(number, blocks, "layout" if blocks or margins else "empty", "; ".join(reasons))
        read.margins = [Block("text", line.text, number, size=line.size) for line in margins]
        return read
    reason = "; ".join(reasons)
    text = _pdfium_text(pdfium, number) or ""
    if RTL.search(text):  # PDFium's plain text leaves right-to-left scripts in visual order
        logical = _pypdf_text(pypdf, number)
        if logical.strip():
            return PageRead(number, _plain_blocks(logical, number), "pypdf", reason)
    if text.strip():
        return PageRead(number, _plain_blocks(text, number), "pdfium", reason)
    text = _pypdf_text(pypdf, number)
    if text.strip():
        return PageRead(number, _plain_blocks(text, number), "pypdf", reason)
    return PageRead(number, [], "empty", reason)


def _split_margins(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """Lines of the page's body, and the page's first line and last two (short ones only): where
    running heads, footers and page numbers sit, kept unless :func:`_drop_running_lines` finds
    them repeated on many pages."""
    if len(lines) < 4:
        return lines, []
    apart = [lines[0]] if lines[1].top - lines[0].bottom >= lines[0].size else []
    apart += [
        line
        for line, above in ((lines[-2], lines[-3]), (lines[-1], lines[-2]))
        if line.top - above.bottom >= line.size
    ]
    margins = [line for line in apart if len(line.text) <= 120]
    chosen = {id(line) for line in margins}
    return [line for line in lines if id(line) not in chosen], margins


def _drop_running_lines(pages: list[PageRead]) -> str:
    """Margin lines that repeat on many pages, digits aside ("Apple Inc. | Q2 2023 Form 10-Q | 13"),
    are running heads and footers: dropped from the pages, and the most frequent one that has
    words is returned (it names the document: the title carries it to every chunk). The other
    margin lines go back to their page."""

    def key(block: Block) -> str:
        return re.sub(r"\d+", "#", block.text.lower()).strip()

    seen = Counter(k for page in pages for k in {key(b) for b in page.margins})
    repeated = max(3, 0.3 * len(pages))
    running = ""
    for text, count in seen.most_common():
        if count < repeated:
            break
        sample = next(b.text for page in pages for b in page.margins if key(b) == text)
        if _names_something(sample):
            running = re.sub(r"^[\s\d|·–—-]+|[\s\d|·–—-]+$", "", sample)  # without the page number
            break
    for page in pages:
        kept = [b for b in page.margins if seen[key(b)] < repeated and not b.text.isdigit()]
        head = [b for b in kept[:1] if page.margins and b is page.margins[0]]
        page.blocks[:0] = head  # a first line that is not a running head opens the page again
        page.blocks.extend(b for b in kept if b not in head)
        if page.how == "empty" and page.blocks:
            page.how = "layout"
        elif page.how == "layout" and not page.blocks:
            page.how = "empty"
    return running


def _names_something(text: str) -> bool:
    """A running line that can name a document: four or more words, three of them words of letters,
    few bare numbers (not "Table of Contents", not a printer's "VerDate Sep<11>2014 16:21 Aug 05,
    2020 Jkt 250001 PO 00000 Frm 00001 ...")."""
    tokens = [t for t in text.split() if re.search(r"\w", t)]
    letters = [t for t in tokens if re.fullmatch(r"[^\W\d_]{2,}[.,:]?", t)]
    figures = [t for t in tokens if re.fullmatch(r"\d+[.,:]?", t)]
    return len(tokens) >= 4 and len(letters) >= 3 and len(figures) <= 0.3 * len(tokens)


def _pdfium_words(page: Any) -> list[dict[str, Any]]:
    """Words from PDFium's characters, split where PDFium puts a space (its own word breaks), where
    a line changes and at wide gaps. Boxes are PDFium's loose ones (the font's ascent to descent,
    advance width), in points from the top of the page as displayed; the size is that box's
    height, which stays right where the font size is 1 and a matrix scales it."""
    import pypdfium2.raw as raw

    width, height = page.get_size()
    rotation = page.get_rotation()
    textpage = page.get_textpage()  # kept referenced: the raw handle dies with it
    handle = textpage.raw
    box = raw.FS_RECTF()
    words: list[dict[str, Any]] = []
    word: dict[str, Any] | None = None
    steps = downward = 0  # characters following the last one, and those set just below it
    last: tuple[float, float] | None = None
    for k in range(raw.FPDFText_CountChars(handle)):
        code = raw.FPDFText_GetUnicode(handle, k)
        char = (
            "-" if code == 2 else chr(code) if 0 < code < 0x110000 and code != 0xFFFE else ""
        )  # 2: PDFium's hyphen
        if not char or char.isspace():
            word = None
            continue
        raw.FPDFText_GetLooseCharBox(handle, k, box)
        x0, x1, y0, y1 = _rotated(box.left, box.right, box.bottom, box.top, width, height, rotation)
        size = max(y1 - y0, 1.0)
        if last is not None:
            steps += 1
            downward += abs(x0 - last[0]) < 0.3 * size and 0.5 * size < y0 - last[1] < 1.6 * size
        last = (x0, y0)
        rtl = unicodedata.bidirectional(char) in {"R", "AL"}  # Arabic, Hebrew: set right to left
        same_line = word is not None and abs(y0 - word["top"]) <= 0.5 * size
        if (
            word is not None
            and same_line
            and (
                -0.5 * size <= x0 - word["x1"] <= 0.5 * size
                or (rtl and -0.5 * size <= word["x0"] - x1 <= 0.5 * size)
                or (x0, x1) == word["last"]  # characters sharing one box (a replacement text)
            )
        ):
            word["text"] += char
            word["x0"], word["x1"], word["last"] = min(word["x0"], x0), max(word["x1"], x1), (x0, x1)
        else:
            upright = _upright(raw.FPDFText_GetCharAngle(handle, k), rotation)
            word = {"text": char, "x0": x0, "x1": x1, "top": y0, "bottom": y1, "size": size}
            word.update(upright=upright, last=(x0, x1))
            words.append(word)
    if steps >= 4 and downward > 0.5 * steps:  # vertical writing: read as plain text
        for word in words:
            word["upright"] = False
    return words


def _upright(angle: float, rotation: int) -> bool:
    """Whether a character at ``angle`` (radians, PDF space; -1 unknown) reads left to right on a
    page displayed at ``rotation`` degrees."""
    if angle < 0:
        return True
    degrees = math.degrees(angle) % 360
    return any(min(abs(degrees - r), 360 - abs(degrees - r)) < 10 for r in (rotation % 360, -rotation % 360))


def _rotated(
    left: float, right: float, bottom: float, top: float, width: float, height: float, rotation: int
) -> tuple[float, float, float, float]:
    """A box in PDF space (origin bottom left) as x0, x1, top, bottom of the page as displayed."""
    if rotation == 90:
        return bottom, top, left, right
    if rotation == 180:
        return width - right, width - left, bottom, top
    if rotation == 270:
        return height - top, height - bottom, width - right, width - left
    return left, right, height - top, height - bottom


def _plumber_words(page: Any) -> list[dict[str, Any]]:
    words: list[dict[str, Any]] = page.extract_words(
        x_tolerance=1.5, y_tolerance=3, extra_attrs=["size", "upright"]
    )
    return words


def _pdfium_text(pdfium: Any, number: int) -> str | None:
    if pdfium is None:
        return None
    try:
        textpage = pdfium[number - 1].get_textpage()
        return str(textpage.get_text_range()).replace("\r\n", "\n").replace("\r", "\n")
    except Exception:
        return None


def _pypdf_text(pypdf: Any, number: int) -> str:
    try:
        return str(pypdf.pages[number - 1].extract_text() or "") if pypdf is not None else ""
    except Exception:
        return ""


def _plain_blocks(text: str, number: int) -> list[Block]:
    """Plain text in paragraphs (blank lines), one block each."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text.replace("\x02", "-")):
        joined = UNSPACED_BREAK.sub("", " ".join(paragraph.split()))
        if joined:
            blocks.append(Block("text", joined, number))
    return blocks


# --- layout: words -> lines -> cells -> tables and paragraphs -------------------------------------


def _lines(words: list[dict[str, Any]]) -> list[Line]:
    """Words grouped by baseline (tops within a third of the font size), left to right, each line
    cut into cells at gaps wider than ``CELL_GAP_EM`` font sizes."""
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (round(w["top"], 1), w["x0"])):
        if lines and abs(word["top"] - lines[-1][0]["top"]) <= max(2.0, 0.35 * word["size"]):
            lines[-1].append(word)
        else:
            lines.append([word])
    result = []
    for group in lines:
        text = "".join(w["text"] for w in group)
        rtl = sum(unicodedata.bidirectional(ch) in {"R", "AL"} for ch in text) > len(text) / 2
        group.sort(key=lambda w: -w["x1"] if rtl else w["x0"])
        size = max(w["size"] for w in group)
        line = Line(top=min(w["top"] for w in group), bottom=max(w["bottom"] for w in group), size=size)
        for word in group:
            text = word["text"]
            if LEADER.match(text) or text in CURRENCY:  # a lone "$" stands apart from its figure
                continue
            last = line.cells[-1] if line.cells else None
            gap = word["x0"] - last.x1 if last else 0.0
            if last and (gap <= CELL_GAP_EM * size or last.text == "("):
                last.text = f"{last.text}{text}" if last.text == "(" else f"{last.text} {text}"
                last.x1 = word["x1"]
            elif last and text in {")", "%", ")%"} and gap <= 2 * size:
                last.text += text
                last.x1 = word["x1"]
            else:
                line.cells.append(Cell(text, word["x0"], word["x1"]))
        if line.cells:
            result.append(line)
    return result


def _column_gutter(lines: list[Line]) -> float | None:
    """The x of an empty vertical gap between two columns of prose in ``lines``, if they have one:
    the x in the middle half of their width that most lines have words on both sides of and
    none across."""
    if len(lines) < 8:
        return None
    left_edge = min(c.x0 for line in lines for c in line.cells)
    right_edge = max(c.x1 for line in lines for c in line.cells)
    width = right_edge - left_edge
    best, best_x = 0, None
    for x in range(int(left_edge + width * 0.25), int(left_edge + width * 0.75), 3):
        both = 0
        for line in lines:
            if any(c.x0 < x < c.x1 for c in line.cells):
                continue
            if any(c.x1 <= x for c in line.cells) and any(c.x0 >= x for c in line.cells):
                both += 1
        if both > best:
            best, best_x = both, x
    if best_x is None or best < max(6, 0.4 * len(lines)):
        return None
    right = [c for line in lines for c in line.cells if c.x0 >= best_x]
    left = [c for line in lines for c in line.cells if c.x1 <= best_x]
    if not _prose(right) or not _prose(left):
        return None
    return float(best_x)


def _prose(cells: list[Cell]) -> bool:
    """Mostly words, in runs longer than table cells."""
    if not cells:
        return False
    text = " ".join(cell.text for cell in cells)
    letters = sum(ch.isalpha() for ch in text)
    return letters >= 0.6 * len(text.replace(" ", "")) and len(text) / len(cells) >= 25


def _reading_order(lines: list[Line], depth: int = 0) -> Iterator[list[Line]]:
    """Runs of lines in reading order. Where the lines have a column gutter, each stretch of lines
    that leave it empty is read left column first (each column split again, for three or more);
    lines crossing the gutter are read where they are."""
    gutter = _column_gutter(lines) if depth < 3 else None
    if gutter is None:
        yield lines
        return
    left: list[Line] = []
    right: list[Line] = []
    for line in lines:
        if any(c.x0 < gutter < c.x1 for c in line.cells):
            yield from _reading_order(left, depth + 1)
            yield from _reading_order(right, depth + 1)
            left, right = [], []
            yield [line]
            continue
        for side, cells in (
            (left, [c for c in line.cells if c.x1 <= gutter]),
            (right, [c for c in line.cells if c.x0 >= gutter]),
        ):
            if cells:
                side.append(Line(line.top, line.bottom, line.size, cells))
    yield from _reading_order(left, depth + 1)
    yield from _reading_order(right, depth + 1)


def _blocks(lines: list[Line], number: int) -> list[Block]:
    """Tables where runs of rows are, paragraphs elsewhere."""
    blocks: list[Block] = []
    i = 0
    prose: list[Line] = []
    while i < len(lines):
        end = _table_end(lines, i)
        if end - i >= MIN_TABLE_ROWS and sum(line.is_row for line in lines[i:end]) >= MIN_TABLE_ROWS:
            rows = lines[i:end]
            if prose and _row_label(prose[-1], rows):
                rows.insert(0, prose.pop())
            header = _header_lines(prose, rows[0])
            prose = prose[: len(prose) - len(header)]
            blocks.extend(_paragraphs(prose, number))
            prose = []
            blocks.append(_table(header, rows, number))
            i = end
        else:
            prose.append(lines[i])
            i += 1
    blocks.extend(_paragraphs(prose, number))
    return blocks


def _row_label(line: Line, rows: list[Line]) -> bool:
    """The line just above a table's first row is that row's label when it stands alone left of
    every figure ("Research and development" above "expenses  2,294")."""
    left_edge = min((cell.x0 for row in rows for cell in row.figures), default=0.0)
    return (
        len(line.cells) == 1
        and line.cells[0].x1 < left_edge
        and rows[0].top - line.bottom <= 1.0 * max(line.size, 1.0)
        and not YEAR_OR_DATE.search(line.text)
        and len(line.text) <= 60
    )


def _table_end(lines: list[Line], start: int) -> int:
    """End of the run of rows starting at ``start`` (label-only lines between rows belong to it)."""
    if not lines[start].is_row:
        return start
    end = start + 1
    i = start + 1
    while i < len(lines):
        if lines[i].is_row:
            end = i + 1
        elif (
            i - end >= 2 or len(lines[i].text) > 90 or lines[i].top - lines[i - 1].bottom > 3 * lines[i].size
        ):
            break
        i += 1
    return end


def _header_lines(before: list[Line], first_row: Line) -> list[Line]:
    """The lines just above a table that read as its column headers (short, close, dates or
    several cells)."""
    header: list[Line] = []
    below = first_row
    for line in reversed(before[-MAX_HEADER_LINES:]):
        close = below.top - line.bottom <= 2.5 * max(line.size, 1.0)
        headerish = len(line.cells) >= 2 or len(line.text) <= 40 or bool(YEAR_OR_DATE.search(line.text))
        if not close or not headerish or len(line.text) > 120:
            break
        header.insert(0, line)
        below = line
    return header


def _table(header: list[Line], rows: list[Line], number: int) -> Block:
    """Rows as [label, figure per column], the header lines spread over the columns they cover."""
    columns = _columns(rows)
    spans = [(min(x0 for x0, _ in members), max(x1 for _, x1 in members)) for members in columns]
    anchors = [span[1] for span in spans]

    def place(line: Line) -> list[str]:
        cells = [""] * (len(anchors) + 1)
        for cell in line.cells:
            if cell.numeric and anchors:
                index = min(range(len(anchors)), key=lambda k: abs(anchors[k] - cell.x1))
                if abs(anchors[index] - cell.x1) <= 3 * COLUMN_TOLERANCE and not cells[index + 1]:
                    cells[index + 1] = cell.text
                    continue
            cells[0] = f"{cells[0]} {cell.text}".strip()
        return cells

    head = [""] * (len(anchors) + 1)
    for line in header:
        for cell in line.cells:
            covered = [k for k, (x0, x1) in enumerate(spans) if cell.x0 <= x1 + 2 and cell.x1 >= x0 - 2]
            if not covered or cell.x1 < (spans[0][0] if spans else 0) - 2:
                head[0] = f"{head[0]} {cell.text}".strip()
            for k in covered:
                head[k + 1] = f"{head[k + 1]} {cell.text}".strip()
    body = _joined_labels([place(line) for line in rows])
    table_rows = ([head] if any(head) else [[""] + [f"column {k + 1}" for k in range(len(anchors))]]) + body
    text = "\n".join(" | ".join(cell for cell in row if cell) for row in table_rows)
    return Block("table", text, number, rows=table_rows)


def _joined_labels(rows: list[list[str]]) -> list[list[str]]:
    """A label wrapped over two lines ("Research and development" over "expenses  2,294") is one
    row: a label-only row followed by a row whose label starts in lower case joins it."""
    joined: list[list[str]] = []
    for row in rows:
        previous = joined[-1] if joined else None
        if previous and not any(previous[1:]) and row[0][:1].islower():
            row = [f"{previous[0]} {row[0]}", *row[1:]]
            joined.pop()
        joined.append(row)
    return joined


def _columns(rows: list[Line]) -> list[list[tuple[float, float]]]:
    """Columns of figures: right edges within ``COLUMN_TOLERANCE`` of each other, seen in at least
    two rows, left to right."""
    edges = sorted((cell.x1, cell.x0) for line in rows for cell in line.figures)
    groups: list[list[tuple[float, float]]] = []
    for x1, x0 in edges:
        if groups and x1 - groups[-1][-1][1] <= COLUMN_TOLERANCE:
            groups[-1].append((x0, x1))
        else:
            groups.append([(x0, x1)])
    kept = [group for group in groups if len(group) >= 2]
    return kept or groups


def _paragraphs(lines: list[Line], number: int) -> list[Block]:
    """Lines into paragraphs: a new one after a wide vertical gap or a change of font size."""
    blocks: list[Block] = []
    current: list[Line] = []

    def flush() -> None:
        if current:
            text = " ".join(line.text for line in current)
            text = re.sub(r"(\w)- (\w)", r"\1\2", text) if "- " in text else text
            text = UNSPACED_BREAK.sub("", text)
            blocks.append(Block("text", " ".join(text.split()), number, size=max(ln.size for ln in current)))
            current.clear()

    for line in lines:
        if current:
            previous = current[-1]
            gap = line.top - previous.bottom
            if gap > 0.9 * max(previous.size, 1.0) or abs(line.size - previous.size) > 0.6:
                flush()
        current.append(line)
    flush()
    return blocks


def _mark_headings(blocks: list[Block]) -> None:
    """Paragraphs in a font clearly larger than the body's, short and without a final full stop,
    become headings, one depth per size (largest first); bullets are marked as such."""
    from unstructured.cleaners.core import clean_bullets
    from unstructured.partition.text_type import is_bulleted_text

    sizes = Counter[int]()
    for block in blocks:
        if block.kind == "text" and block.size:
            sizes[round(block.size)] += len(block.text)
    if not sizes:
        return
    body = sizes.most_common(1)[0][0]
    heading_sizes = sorted({round(b.size) for b in blocks if _heading(b, body)}, reverse=True)
    for block in blocks:
        if _heading(block, body):
            block.kind = "title"
            block.depth = heading_sizes.index(round(block.size))
        elif block.kind == "text" and is_bulleted_text(block.text):
            block.text = f"- {clean_bullets(block.text)}"


def _heading(block: Block, body_size: float) -> bool:
    text = block.text
    return (
        block.kind == "text"
        and block.size >= body_size * 1.15
        and len(text) <= 120
        and not text.endswith(".")
    )


def _page_warnings(pages: list[PageRead]) -> list[str]:
    """One warning per way of reading other than the layout, naming the pages and the reason."""
    by_how: dict[tuple[str, str], list[int]] = {}
    for page in pages:
        if page.how in {"pdfium", "pypdf"}:
            reason = page.reason.split(":")[0] if page.reason.startswith(("PDF", "KeyError")) else page.reason
            by_how.setdefault((page.how, reason), []).append(page.number)
    warnings = []
    for (how, reason), numbers in by_how.items():
        reader = "PDFium" if how == "pdfium" else "pypdf"
        listed = ", ".join(str(n) for n in numbers[:10]) + (" ..." if len(numbers) > 10 else "")
        plural = "s" if len(numbers) > 1 else ""
        warnings.append(f"page{plural} {listed}: read as plain text with {reader} ({reason})")
    empty = [page.number for page in pages if page.how == "empty"]
    if empty and len(empty) < len(pages):
        listed = ", ".join(str(n) for n in empty[:10]) + (" ..." if len(empty) > 10 else "")
        warnings.append(
            f"{len(empty)} of {len(pages)} pages have no text: blank, or scanned (pages {listed})"
        )
    return warnings
