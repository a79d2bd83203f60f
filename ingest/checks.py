"""Cheap checks that run before a file is parsed, each failing with a reason a user can act on.

Example::

    try:
        check_file(Path("docs/scan.docx"), root=Path("docs"), settings=settings)
    except UnusableFile as problem:
        print(problem.reason)      # e.g. "not a valid DOCX file: it is not a zip archive"
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from rag.core.settings import Settings

OFFICE_TYPES = {".docx", ".pptx", ".xlsx"}
# An office file that inflates more than this many times its size is treated as a zip bomb;
# real documents stay far below (text XML compresses roughly 5-20x).
MAX_COMPRESSION_RATIO = 200
OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # a Compound File: old binary Office, or encrypted OOXML
ENCRYPTED_STREAM = "EncryptionInfo".encode("utf-16-le")  # the stream an encrypted OOXML package holds


class UnusableFile(Exception):
    """A file that cannot be indexed; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_location(path: Path, root: Path) -> None:
    """Refuse symlinks that loop or point outside the corpus root."""
    if not path.is_symlink():
        return
    try:
        target = path.resolve(strict=True)
    except RuntimeError as error:  # Python < 3.13 raises RuntimeError on loops
        raise UnusableFile("symlink loop: the link points back to itself") from error
    except OSError as error:
        if "loop" in str(error).lower() or getattr(error, "errno", None) == 40:
            raise UnusableFile("symlink loop: the link points back to itself") from error
        raise UnusableFile(f"broken symlink: target {os.readlink(path)!r} does not exist") from error
    if not target.is_relative_to(root.resolve()):
        raise UnusableFile(f"symlink points outside the corpus root (to {target})")


def check_file(path: Path, root: Path, settings: Settings) -> None:
    """Raise :class:`UnusableFile` unless ``path`` looks like a file of its claimed type."""
    check_location(path, root)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
    except PermissionError as error:
        raise UnusableFile("unreadable: permission denied") from error
    except OSError as error:
        raise UnusableFile(f"unreadable: {error.strerror or error}") from error
    if size == 0:
        raise UnusableFile("empty file (0 bytes)")
    if size > settings.max_file_bytes:
        raise UnusableFile(
            f"file too large: {size / 1024 / 1024:.1f} MiB is over the limit of "
            f"{settings.max_file_size_mb:g} MiB (setting max_file_size_mb)"
        )
    suffix = path.suffix.lower()
    if suffix == ".pdf" and not head.startswith(b"%PDF-"):
        raise UnusableFile("not a valid PDF file: it does not start with a PDF header")
    if suffix in OFFICE_TYPES:
        check_office_archive(path, size, settings)


def check_office_archive(path: Path, size: int, settings: Settings) -> None:
    """DOCX/PPTX/XLSX are zip archives: refuse non-archives and archives that expand too far."""
    kind = path.suffix.lower().lstrip(".").upper()
    if not zipfile.is_zipfile(path):
        raise UnusableFile(_not_zip_reason(path, kind))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise UnusableFile(f"not a valid {kind} file: damaged zip archive ({error})") from error
    expanded = sum(member.file_size for member in members)
    if expanded > settings.max_unzipped_bytes or expanded > MAX_COMPRESSION_RATIO * max(size, 1):
        raise UnusableFile(
            f"refused as a possible zip bomb: {size / 1024:.0f} KB expands to "
            f"{expanded / 1024 / 1024:.0f} MiB (limit {settings.max_unzipped_mb:g} MiB, "
            f"ratio {expanded / max(size, 1):.0f}:1)"
        )
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names:
        raise UnusableFile(f"not a valid {kind} file: zip archive without Office content types")


def _not_zip_reason(path: Path, kind: str) -> str:
    """Why an Office file is not a zip archive: password-protected (Office wraps the encrypted
    package in a Compound File with an ``EncryptionInfo`` stream), an old binary file renamed, or
    something else."""
    with path.open("rb") as handle:
        data = handle.read(4 * 1024 * 1024)
    if data.startswith(OLE_MAGIC):
        if ENCRYPTED_STREAM in data:
            return f"password-protected {kind} file: remove the password (save it without one) to index it"
        old = {"DOCX": ".doc", "PPTX": ".ppt", "XLSX": ".xls"}.get(kind, "binary")
        return (
            f"not a valid {kind} file: it is an old binary Office file ({old}) named {path.suffix}: "
            f"save it as {kind} to index it"
        )
    if data.startswith(b"PK\x03\x04"):
        return f"damaged {kind} file: its zip archive is truncated or broken (no central directory)"
    return f"not a valid {kind} file: it is not a zip archive"
