"""The bad-input corpus, generated (not committed as blobs): name -> expected reason fragment."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

SAMPLE_PDF = Path(__file__).resolve().parents[2] / "data" / "sample" / "it_security_policy.pdf"

# file name -> a fragment of the reason the report must give (None: indexed with a warning)
EXPECTED_FAILURES = {
    "corrupt.pdf": "damaged PDF",
    "empty.txt": "empty file (0 bytes)",
    "random.pdf": "not a valid PDF file",
    "random.docx": "not a valid DOCX file: it is not a zip archive",
    "locked.pdf": "password-protected PDF",
    "scanned.pdf": "no text layer: scanned? enable OCR",
    "binary.txt": "not text",
    "huge.txt": "file too large",
    "outside_link.md": "symlink points outside the corpus root",
    "loop_a.md": "symlink loop",
    "loop_b.md": "symlink loop",
    "bomb.docx": "zip bomb",
}
EXPECTED_WARNINGS = {"latin1.txt": "not UTF-8: read as"}
EXPECTED_SKIPS = {"notes.xyz": "unsupported file type .xyz"}
HUGE_LIMIT_MB = 0.5  # tests set max_file_size_mb to this; huge.txt is above it


def scanned_pdf() -> bytes:
    """A page with a drawing and no text layer, as a scanner without OCR produces."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for y in range(100, 700, 20):
        pdf.line(72, y, 500, y + 5)  # "scanned lines", but no text
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def locked_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(SAMPLE_PDF).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """A .docx-shaped archive whose document.xml inflates to 200 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(200):
                member.write(block)
    return buffer.getvalue()


def make_bad_corpus(root: Path, outside: Path) -> None:
    """Write every bad file into ``root``; ``outside`` is a folder outside it (symlink target)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = os.urandom
    good = SAMPLE_PDF.read_bytes()
    (root / "corrupt.pdf").write_bytes(good[:9] + rng(3000))
    (root / "empty.txt").write_bytes(b"")
    (root / "random.pdf").write_bytes(rng(4096))
    (root / "random.docx").write_bytes(rng(4096))
    (root / "locked.pdf").write_bytes(locked_pdf())
    (root / "scanned.pdf").write_bytes(scanned_pdf())
    (root / "binary.txt").write_bytes(b"\x00\x01\x02\xff\xfe" + rng(2000) + b"\x00")
    (root / "huge.txt").write_text("This line is padding. " * 30000)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.md").write_text("# Secret\nThe payroll password is hunter2.\n")
    (root / "outside_link.md").symlink_to(outside / "secret.md")
    (root / "loop_a.md").symlink_to(root / "loop_b.md")
    (root / "loop_b.md").symlink_to(root / "loop_a.md")
    (root / "bomb.docx").write_bytes(zip_bomb())
    (root / "latin1.txt").write_bytes("Café prices: crème brûlée costs £5 – cheap.".encode("cp1252"))
    (root / "notes.xyz").write_text("not a supported type")
