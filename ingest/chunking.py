"""Structure-aware chunking: sections follow headings, chunks never span pages, tables stay whole
when they fit and otherwise repeat their header row in every group of rows.

Sizes are counted with the embedder's own tokenizer, and every chunk's embedded text (heading
context included) is guaranteed to fit the embedder's maximum sequence length, so nothing is
silently truncated. Every chunk is bounded in characters too (``CHARS_PER_TOKEN`` times the chunk
size): a run of text with no spaces is one ``[UNK]`` word piece however long it is, and must not
become one megabyte-long chunk. Long passages are split by LangChain's token-aware recursive splitter.

Example::

    chunker = Chunker(embedder.tokenizer, max_tokens=256, chunk_size=200, chunk_overlap=30)
    chunks = chunker.chunk(document, source="handbook.md", file_hash="...", file_type="md")
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.loaders import Block, ParsedDocument
from rag.core.schema import CELL_SEPARATOR, Chunk
from rag.index.embeddings import count_tokens

MAX_CONTEXT_TOKENS = 48  # heading context is cut to this many word pieces
MAX_HEADING_CHARS = 300  # a "title" longer than this is body text (unstructured calls any line a
# title when it has no sentence punctuation, a megabyte without spaces included)
CHARS_PER_TOKEN = 10  # a chunk holds at most chunk_size * this many characters (English averages
# 4-5 characters per word piece, CJK about 1; only runs without spaces, such as base64, reach 10)


def chunk_id(source: str, file_hash: str, index: int, salt: str = "") -> str:
    """Deterministic id: the same file content at the same path, chunked with the same settings
    (``salt``), always gives the same ids."""
    return hashlib.sha256(f"{source}\0{file_hash}\0{salt}\0{index}".encode()).hexdigest()[:32]


@dataclass
class _Section:
    page: int | None = None
    headings: list[tuple[int, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    tokens: int = 0
    has_body: bool = False  # lines hold more than headings
    has_table: bool = False


class Chunker:
    """Cuts a :class:`ParsedDocument` into :class:`Chunk` objects that fit the embedder.

    Example::

        chunker = Chunker(tokenizer, max_tokens=256, chunk_size=200, chunk_overlap=30)
        for chunk in chunker.chunk(document, "policies/it.pdf", "ab12...", "pdf"):
            assert count_tokens(tokenizer, chunk.embed_text) <= 256
    """

    def __init__(
        self, tokenizer: Any, max_tokens: int, chunk_size: int, chunk_overlap: int, id_salt: str = ""
    ) -> None:
        self.tokenizer = tokenizer
        self.count = TokenCounter(tokenizer)
        self.id_salt = id_salt
        self.max_tokens = max_tokens
        self.chunk_size = min(chunk_size, max_tokens)
        self.chunk_overlap = min(chunk_overlap, self.chunk_size // 2)
        self.max_chars = self.chunk_size * CHARS_PER_TOKEN
        self._splitters: dict[int, Any] = {}
        self._paths: dict[tuple[str, ...], str] = {}  # heading names -> (cut) heading path
        self._budgets: dict[tuple[str, str], int] = {}  # (title, heading path) -> body budget
        self._contexts: dict[str, int] = {}  # heading context -> its count, special tokens included
        self.counts_add_up = counts_add_up(tokenizer)
        self.specials = self.count("")  # [CLS] and [SEP] for BERT, <s> for Llama (wordllama)

    def chunk(self, document: ParsedDocument, source: str, file_hash: str, file_type: str) -> list[Chunk]:
        self._paths.clear()  # per-document caches: memory stays flat over a large corpus
        self._budgets.clear()
        self._contexts.clear()
        if len(document.title) > MAX_HEADING_CHARS:  # a first "title" that is really text
            document = replace(document, title=document.title[:MAX_HEADING_CHARS])
        builder = _Builder(self, document.title)
        for block in document.blocks:
            if block.page != builder.state.page:
                builder.flush()
                builder.state.page = block.page
            if block.kind == "title":
                builder.title(block)
            elif block.kind == "table":
                builder.table(block)
            else:
                builder.text(block.text)
        builder.flush()

        chunks: list[Chunk] = []
        for text, section, is_table, size in builder.pieces:
            heading_path = self.heading_path(section, document.title)
            for part in self._fit(text, document.title, heading_path, size):
                index = len(chunks)
                chunks.append(
                    Chunk(
                        id=chunk_id(source, file_hash, index, self.id_salt),
                        text=part,
                        source=source,
                        file_hash=file_hash,
                        chunk_index=index,
                        title=document.title,
                        heading_path=heading_path,
                        page=section.page,
                        file_type=file_type,
                        element_type="table" if is_table else "text",
                    )
                )
        return chunks

    def tokens(self, text: str) -> int:
        """Word pieces of ``text`` without the special tokens."""
        return self.count(text) - self.specials

    def body_budget(self, state: _Section, title: str) -> int:
        key = (title, self.heading_path(state, title))
        if key not in self._budgets:  # a section's blocks share it: count its context once
            context = self._context(*key)
            self._budgets[key] = max(16, min(self.chunk_size, self.max_tokens - self._count_context(context)))
        return self._budgets[key]

    def _count_context(self, context: str) -> int:
        if context not in self._contexts:
            self._contexts[context] = self.count(context)
        return self._contexts[context]

    def heading_path(self, state: _Section, title: str) -> str:
        names = tuple(text for _, text in state.headings)
        if names and names[0] == title:
            names = names[1:]
        if names not in self._paths:
            path = " > ".join(names)[: MAX_HEADING_CHARS * 2]
            ids = self.tokenizer(path, add_special_tokens=False, return_offsets_mapping=True)
            if len(ids["input_ids"]) > MAX_CONTEXT_TOKENS:
                path = path[: ids["offset_mapping"][MAX_CONTEXT_TOKENS - 1][1]]
            self._paths[names] = path
        return self._paths[names]

    # --- fitting -----------------------------------------------------------------------------------

    def splitter(self, budget: int) -> Any:
        if budget not in self._splitters:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitters[budget] = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
                self.tokenizer,
                chunk_size=budget,
                chunk_overlap=min(self.chunk_overlap, budget // 2),
                separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
            )
        return self._splitters[budget]

    @staticmethod
    def _context(title: str, heading_path: str) -> str:
        return " > ".join(part for part in (title, heading_path) if part)

    def _fit(self, text: str, title: str, heading_path: str, size: int | None = None) -> list[str]:
        """The guarantee: cut ``text`` until each part's embedded text fits ``max_tokens``.

        ``size``: an upper bound of the word pieces in ``text``'s lines (separators counted once
        more each). Where counts add up over lines, it proves the fit without counting again."""
        if len(text) > self.max_chars:
            return [fit for part in self._split_chars(text) for fit in self._fit(part, title, heading_path)]
        context = self._context(title, heading_path)
        if size is not None and self.counts_add_up and size + self._count_context(context) <= self.max_tokens:
            return [text]
        prefix = f"{context}\n" if context else ""
        if self.count(prefix + text) <= self.max_tokens:
            return [text]
        room = self.max_tokens - self.count(prefix) - 2
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        parts = []
        for start in range(0, len(offsets), max(room, 1)):
            window = offsets[start : start + room]
            part = text[window[0][0] : window[-1][1]].strip()
            if part:
                parts.extend(
                    self._fit(part, title, heading_path)
                    if len(window) < len(offsets) and self.count(prefix + part) > self.max_tokens
                    else [part]
                )
        return parts

    def _split_chars(self, text: str) -> list[str]:
        """``text`` in parts of at most ``max_chars`` characters, each cut at the last paragraph or
        line break, sentence end or space of its window where there is one in its second half, else
        at the limit. (LangChain's recursive splitter re-slices its buffer for every character it
        drops: 1.2 MB without a space took 300 s; this is one pass.)"""
        parts = []
        limit = self.max_chars
        while len(text) > limit:
            window = text[:limit]
            cut = next(
                (
                    at + len(mark)
                    for mark in ("\n\n", "\n", ". ", " ")
                    if (at := window.rfind(mark)) >= limit // 2
                ),
                limit,
            )
            parts.append(text[:cut].strip())
            text = text[cut:]
        parts.append(text.strip())
        return [part for part in parts if part]


def counts_add_up(tokenizer: Any) -> bool:
    """Whether word pieces add up over lines: count(a + "\\n" + b) == count(a) + count(b), special
    tokens aside, for any a and b. True for BERT-style tokenizers (all-MiniLM-L6-v2 included):
    their normalizers work character by character, the text is split at every whitespace before
    WordPiece sees it, so no word piece can cross a line break. Others are counted line by line
    and then again as a whole."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    spec = json.loads(backend.to_str())

    def kinds(part: dict[str, Any] | None, key: str) -> set[str]:
        if part is None:
            return set()
        if part.get("type") == "Sequence":
            return set().union(*(kinds(p, key) for p in part.get(key, [])))
        return {str(part.get("type"))}

    normalizers = kinds(spec.get("normalizer"), "normalizers")
    splitters = kinds(spec.get("pre_tokenizer"), "pretokenizers")
    return (
        (spec.get("model") or {}).get("type") == "WordPiece"
        and normalizers <= {"BertNormalizer", "Lowercase", "NFD", "StripAccents"}
        and bool(splitters)
        and splitters <= {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
    )


class TokenCounter:
    """Counts word pieces as :func:`rag.index.embeddings.count_tokens` does, about twice as fast.

    A fast (Rust) tokenizer is cloned once with truncation and padding off, so counts never
    depend on what the embedder last asked the shared tokenizer for; other tokenizers go through
    the Hugging Face call.

    Example::

        count = TokenCounter(embedder.tokenizer)
        assert count("hello world") == count_tokens(embedder.tokenizer, "hello world")
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._own = None
        if backend is not None:
            from tokenizers import Tokenizer

            self._own = Tokenizer.from_str(backend.to_str())
            self._own.no_truncation()
            self._own.no_padding()

    def __call__(self, text: str) -> int:
        if self._own is None:
            return count_tokens(self.tokenizer, text)
        return len(self._own.encode(text, add_special_tokens=True).ids)


class _Builder:
    """Walks the blocks of one document and collects (text, section, is_table) pieces."""

    def __init__(self, chunker: Chunker, title: str) -> None:
        self.chunker = chunker
        self.doc_title = title
        self.state = _Section()
        self.pieces: list[tuple[str, _Section, bool, int | None]] = []  # text, section, table?, size

    def snapshot(self) -> _Section:
        return _Section(page=self.state.page, headings=list(self.state.headings))

    def flush(self) -> None:
        state = self.state
        if state.lines:
            self.pieces.append(("\n".join(state.lines), self.snapshot(), state.has_table, state.tokens))
        state.lines, state.tokens, state.has_body, state.has_table = [], 0, False, False

    def _append(self, text: str, size: int, body: bool = True) -> None:
        self.state.lines.append(text)
        self.state.tokens += size + 1
        self.state.has_body = self.state.has_body or body

    def title(self, block: Block) -> None:
        """A heading opens a section; consecutive headings share one (a heading alone is text)."""
        if len(block.text) > MAX_HEADING_CHARS:
            self.text(block.text)
            return
        state = self.state
        if state.has_body:
            self.flush()
        while state.headings and state.headings[-1][0] >= block.depth:
            state.headings.pop()
        state.headings.append((block.depth, block.text))
        self._append(block.text, self.chunker.tokens(block.text), body=False)

    def text(self, text: str) -> None:
        budget = self.chunker.body_budget(self.state, self.doc_title)
        size = self.chunker.tokens(text)
        if self.state.tokens + size + 1 <= budget:
            self._append(text, size)
            return
        if self.state.has_body:
            self.flush()
        elif self.state.lines:  # only headings so far: they lead the passage
            text = "\n".join([*self.state.lines, text])
            size = self.chunker.tokens(text)
            self.state.lines, self.state.tokens = [], 0
        if size <= budget:
            self._append(text, size)
            return
        for part in self.chunker.splitter(budget).split_text(text):
            self.pieces.append((part, self.snapshot(), False, None))

    def table(self, block: Block) -> None:
        budget = self.chunker.body_budget(self.state, self.doc_title)
        rows = block.rows or [[line] for line in block.text.splitlines() if line.strip()]
        lines = [CELL_SEPARATOR.join(row) for row in rows]
        whole = "\n".join(lines)
        size = self.chunker.tokens(whole)
        if self.state.tokens + size + 1 <= budget:
            self._append(whole, size)
            self.state.has_table = True
            return
        if self.state.has_body:
            self.flush()
        lead = list(self.state.lines)  # headings above the table lead its first group
        self.state.lines, self.state.tokens = [], 0
        header, body = lines[0], lines[1:]
        group: list[str] = []
        for number, line in enumerate(body or [""], start=1):
            candidate = "\n".join([*lead, header, *group, line])
            if group and self.chunker.tokens(candidate) > budget:
                self.pieces.append(("\n".join([*lead, header, *group]), self.snapshot(), True, None))
                group, lead = [], []
            if not group and self.chunker.tokens("\n".join([*lead, header, line])) > budget:
                for part in self._wide_row(rows[0], rows[number] if number < len(rows) else [line], budget):
                    self.pieces.append(("\n".join([*lead, part]), self.snapshot(), True, None))
                    lead = []
                continue
            group.append(line)
        if group or lead:
            self.pieces.append(("\n".join([*lead, header, *group]), self.snapshot(), True, None))

    def _wide_row(self, header: list[str], row: list[str], budget: int) -> list[str]:
        """A row too long for one chunk, in slices of whole cells: each slice is the header's and
        the row's cells for the same columns, the first column (the row's label) repeated, so no
        figure is cut and each keeps its column name."""
        header = header + [""] * (len(row) - len(header))
        slices: list[str] = []
        start = 1
        while start < len(row):
            end = start + 1
            while end < len(row):
                trial = self._slice(header, row, start, end + 1)
                if self.chunker.tokens(trial) > budget:
                    break
                end += 1
            slices.append(self._slice(header, row, start, end))
            start = end
        return slices or [self._slice(header, row, 0, len(row))]

    @staticmethod
    def _slice(header: list[str], row: list[str], start: int, end: int) -> str:
        columns = [0, *range(start, end)] if start > 0 else list(range(start, end))
        return "\n".join(CELL_SEPARATOR.join(cells[k] for k in columns) for cells in (header, row))
