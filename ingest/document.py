"""What a parsed file is: structural blocks (titles, text, tables) with page numbers, in reading
order, plus the notes on how it was read.

Example::

    document = ParsedDocument("Handbook", [Block("title", "Leave", 1), Block("text", "20 days.", 1)])
    print([block.kind for block in document.blocks])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BlockKind = Literal["title", "text", "table"]


@dataclass(slots=True)
class Block:
    """One structural piece of a document. Tables keep their rows (first row = header); ``size``
    is the font size where the reader knows it (PDF), used to tell headings from body text."""

    kind: BlockKind
    text: str
    page: int | None = None
    depth: int = 0
    rows: list[list[str]] | None = None
    size: float = 0.0


@dataclass(slots=True)
class ParsedDocument:
    """What a file holds, in reading order, plus non-fatal notes about how it was read."""

    title: str
    blocks: list[Block]
    warnings: list[str] = field(default_factory=list)


def title_from_name(path: Path) -> str:
    """A readable title from a file name: ``it_security-policy.pdf`` -> ``It security policy``."""
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
