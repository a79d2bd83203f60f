"""The nouns every part shares: Chunk, Hit, FileProblem, IngestReport.

Example::

    chunk = Chunk(id="c1", text="Core hours are 10:00 to 16:00.", source="handbook.md",
                  file_hash="ab12", chunk_index=0, title="Handbook", heading_path="Working hours")
    print(chunk.embed_text)     # heading context + text: what the embedder sees
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_STRUCTURE = re.compile(r"(?i)\b(question|answer|passages?|final answer|sources?)\s*:")


def embed_text(title: str, heading_path: str, text: str) -> str:
    """What the embedder reads for a chunk: ``title > heading path`` on a line, then the text."""
    context = " > ".join(part for part in (title, heading_path) if part)
    return f"{context}\n{text}" if context else text


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (newlines, escape sequences)
    written as escapes, everything else (accents, CJK) as it is. ``printable("a\\nb")`` is ``a\\nb``."""
    out = []
    for char in str(text):
        if unicodedata.category(char)[0] == "C":
            code = ord(char)
            out.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
                or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
            )
        else:
            out.append(char)
    return "".join(out)


def prompt_safe(name: str) -> str:
    """A file name as data inside a prompt: one line, no control characters, no line labels
    (``Question:``, ``Answer:``) or citation brackets that could pass for the prompt's own."""
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in str(name))
    text = _STRUCTURE.sub(lambda m: f"{m.group(1)} -", text)
    text = text.replace("[", "(").replace("]", ")")
    return " ".join(text.split())


CELL_SEPARATOR = " | "  # between the cells of a table row in a table chunk's text (see Chunk.element_type)


def location(source: str, page: int | None) -> str:
    """``file, page n`` (``file, slide n`` for a deck, ``file`` without a page): how citations and
    prompts name where a piece of text is from."""
    if page is None:
        return source
    unit = "slide" if source.lower().endswith(".pptx") else "page"
    return f"{source}, {unit} {page}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one document, small enough for the embedder, with where it came from.

    Example::

        Chunk(id="x", text="...", source="policies/it.pdf", file_hash="...", chunk_index=3,
              page=2, title="IT Security Policy", heading_path="Devices and data > Laptops")
    """

    id: str
    text: str
    source: str  # path relative to the corpus root, with forward slashes
    file_hash: str
    chunk_index: int
    title: str
    heading_path: str = ""
    page: int | None = None  # PDF page or PPTX slide number, 1-based
    file_type: str = ""
    element_type: str = ""  # "text" or "table"
    access: tuple[str, ...] = ("*",)  # groups that may read it (rag.core.access; "*" = everyone)

    @property
    def embed_text(self) -> str:
        """The text that is embedded: document title and heading path give the chunk its context."""
        return embed_text(self.title, self.heading_path, self.text)


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with its score (higher is better).

    Example::

        hit = Hit(chunk_id="x", text="...", score=0.82, source="it.pdf", page=2, metadata={})
    """

    chunk_id: str
    text: str
    score: float
    source: str
    page: int | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that could not be indexed (or was skipped), and why, in words a user can act on.

    Example::

        FileProblem(source="scan.pdf", reason="no text layer: scanned? enable OCR")
    """

    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingestion run did. Lists hold source paths relative to the corpus root.

    Example::

        report = sync_folder(settings, "docs/")
        print(report.summary())
        raise SystemExit(report.exit_code)
    """

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)
    warnings: list[FileProblem] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)  # documents whose readers changed (access_rules)
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """0 when every file succeeded, 2 when some failed but the rest were indexed."""
        return 2 if self.failed else 0

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        lines = [
            f"added {verb}{len(self.added)}, updated {verb}{len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, deleted {verb}{len(self.deleted)}, "
            f"failed {len(self.failed)}, skipped {len(self.skipped)}"
            + (
                ""
                if self.dry_run
                else f"; {self.chunks_written} chunks written, {self.chunks_deleted} removed "
                f"in {self.seconds:.1f} s"
            )
            + (f"; readers changed for {len(self.relabelled)} (access_rules)" if self.relabelled else ""),
        ]
        for title, problems in (
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("warning", self.warnings),
        ):
            lines += [f"  {title}: {printable(p.source)}: {printable(p.reason)}" for p in problems]
        if self.dry_run:
            for title, names in (("add", self.added), ("update", self.updated), ("delete", self.deleted)):
                lines += [f"  would {title}: {printable(name)}" for name in names]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered source of an answer: the passage [n] the model was shown, where it came from.

    ``supported`` is the evidence check's verdict: the answer's words and numbers are in ``quote``.
    ``quote_offsets`` and ``answer_offsets`` are character offsets into the cited chunk's text
    (``chunk[start:end]``), None where the text is not there verbatim (a table row spelled out with
    its header); an extractive answer always has them.

    Example::

        Citation(number=1, source="it_security_policy.pdf", page=4, chunk_id="ab12",
                 quote="Backups are retained for 35 days.", supported=True)
    """

    number: int
    source: str
    page: int | None
    chunk_id: str
    quote: str
    score: float = 0.0
    supported: bool = True
    quote_offsets: tuple[int, int] | None = None  # where ``quote`` is in the chunk's text
    answer_offsets: tuple[int, int] | None = None  # where the answer's words are in the chunk's text

    @property
    def location(self) -> str:
        """``file, page n`` (or ``file, slide n`` for a deck), as a person would cite it."""
        return location(self.source, self.page)


@dataclass(slots=True)
class Answer:
    """What :meth:`rag.Assistant.ask` returns: the answer text and where it comes from.

    ``refused`` is true when the evidence was too weak or the answer was supported by no passage;
    ``citations`` then lists the closest sources. ``reasoning`` holds the chain-of-thought of the
    ``cot`` template (never part of ``text``).

    Example::

        answer = assistant.ask("How long are backups kept?")
        print(answer.text)                           # "35 days [1]"
        for c in answer.citations:
            print(c.number, c.location, c.quote)
    """

    text: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    refused: bool = False
    question: str = ""
    standalone_question: str = ""  # the follow-up rewritten with the chat history
    template: str = ""
    reasoning: str = ""
    raw_output: str = ""  # what the model generated, before citation checks
    refusal_reason: str = ""  # why it refused: weak evidence, unsupported answer, model said so
    seconds: float = 0.0
    first_token_seconds: float | None = None
    generated_tokens: int = 0
    passages: list[Citation] = field(default_factory=list)  # what the model was shown, [1]..[n]
    confidence: float | None = None  # estimated chance the answer is right (the refusal model)
    threshold: float | None = None  # below this confidence the answer is refused
    signals: dict[str, float] = field(default_factory=dict)  # what the estimate was made from

    @property
    def tokens_per_second(self) -> float:
        generating = self.seconds - (self.first_token_seconds or 0.0)
        return self.generated_tokens / generating if generating > 0 and self.generated_tokens else 0.0
