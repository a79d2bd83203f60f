"""Plain functions behind the chat page (no Streamlit here, so they are easy to test).

Example::

    name = safe_filename("../../etc/passwd")        # "passwd"
    path = save_upload(settings, "Q3 report.pdf", data)
    markdown = conversation_markdown(messages)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag import Answer, IngestReport, Settings

UPLOADS = "uploads"  # subfolder of the corpus folder where uploaded files are kept
MAX_NAME = 150  # characters of an uploaded file's name, extension included
MIB = 1024 * 1024


class UploadRejected(ValueError):
    """An uploaded file that is not saved, with the reason to show the user."""


@dataclass(slots=True)
class Message:
    """One turn of the chat, as kept in the session."""

    role: str  # "user" or "assistant"
    content: str
    answer: Answer | None = None
    meta: dict[str, object] = field(default_factory=dict)


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


def conversation_markdown(messages: Sequence[Message], title: str = "Conversation") -> str:
    """The chat with each answer's sources, as Markdown to download."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"_Exported {stamp}_", ""]
    for message in messages:
        if message.role == "user":
            lines += [f"**Question:** {message.content}", ""]
            continue
        answer = message.answer
        lines += [f"**Answer:** {message.content}", ""]
        if answer is None:
            continue
        if answer.refused:
            lines += [f"_Refused: {answer.refusal_reason}_", ""]
        if answer.citations:
            lines.append("Closest sources:" if answer.refused else "Sources:")
            for citation in answer.citations:
                lines.append(f"- [{citation.number}] {citation.location}: \u201c{citation.quote}\u201d")
            lines.append("")
    return "\n".join(lines)


def highlighted(text: str, offsets: tuple[int, int] | None) -> str:
    """``text`` as HTML (escaped: it is document data) with ``text[start:end]`` in ``<mark>``."""
    import html

    if offsets is None or not 0 <= offsets[0] < offsets[1] <= len(text):
        return html.escape(text)
    start, end = offsets
    before, span, after = (html.escape(part) for part in (text[:start], text[start:end], text[end:]))
    return f"{before}<mark>{span}</mark>{after}"
