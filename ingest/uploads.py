"""Files uploaded through the chat or the HTTP API: safe names, checked type and size, kept in
``corpus_dir/uploads`` and indexed from there like any other file of the corpus.

Example::

    path = save_upload(settings, "Q3 report.pdf", data)      # corpus_dir/uploads/Q3 report.pdf
    report = assistant.ingest(settings.corpus_dir)
    messages = discard_failed_uploads(settings.corpus_dir, [path], report)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from rag.core.errors import UploadRejected
from rag.core.schema import IngestReport
from rag.core.settings import Settings

UPLOADS = "uploads"  # subfolder of the corpus folder where uploaded files are kept
MAX_NAME = 150  # characters of an uploaded file's name, extension included
MIB = 1024 * 1024

__all__ = ["MAX_NAME", "UPLOADS", "UploadRejected", "discard_failed_uploads", "safe_filename", "save_upload"]


def safe_filename(name: str) -> str:
    """A file name with no folders, no traversal, no control or odd characters; a long one is
    shortened to ``MAX_NAME`` characters with its extension kept."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    base = re.sub(r"_+", "_", base)
    if not base or set(base) <= {"_", "."}:
        raise UploadRejected(f"{name!r}: not a usable file name")
    if len(base) > MAX_NAME:
        suffix = Path(base).suffix if len(Path(base).suffix) <= 10 else ""
        base = base[: MAX_NAME - len(suffix)].rstrip(" .") + suffix
    return base


def save_upload(settings: Settings, name: str, data: bytes) -> Path:
    """Store an uploaded file under ``corpus_dir/uploads`` after checking type and size.

    A name already taken by a different file gets a suffix (``report (1).pdf``) rather than
    overwriting it; the same bytes under the same name are the file already there."""
    clean = safe_filename(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in settings.file_types:
        allowed = ", ".join(settings.file_types)
        raise UploadRejected(f"{clean}: unsupported file type {suffix or '(none)'} (allowed: {allowed})")
    if len(data) > settings.max_file_bytes:
        raise UploadRejected(
            f"{clean}: file too large: {len(data) / MIB:.1f} MiB is over the limit of "
            f"{settings.max_file_size_mb:g} MiB (setting max_file_size_mb)"
        )
    if not data:
        raise UploadRejected(f"{clean}: the file is empty")
    folder = settings.corpus_dir / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / clean).resolve()
    if target.parent != folder.resolve():
        raise UploadRejected(f"{name!r}: not a usable file name")
    stem, number = target.stem, 1
    while target.exists():
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return target  # the same file again
        target = target.with_name(f"{stem} ({number}){target.suffix}")
        number += 1
    target.write_bytes(data)
    return target


def discard_failed_uploads(corpus_dir: Path, saved: Sequence[Path], report: IngestReport) -> list[str]:
    """Remove the just-uploaded files that ingestion could not index (they would be reported again
    after every sync); the messages to show, one per file, with the reason."""
    failed = {problem.source: problem.reason for problem in report.failed}
    messages = []
    for path in saved:
        try:
            source = path.resolve().relative_to(corpus_dir.resolve()).as_posix()
        except ValueError:
            continue
        if source in failed:
            path.unlink(missing_ok=True)
            messages.append(f"{path.name} was not added: {failed[source]}")
    return messages
