"""Chunking: structure, tables, pages, ids, and the guarantee that nothing is truncated."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker, chunk_id
from ingest.loaders import Block, ParsedDocument
from rag.index.embeddings import count_tokens

pytestmark = pytest.mark.unit
MAX = 256  # all-MiniLM-L6-v2's max_seq_length


@pytest.fixture
def chunker(tokenizer: Any) -> Chunker:
    return Chunker(tokenizer, max_tokens=MAX, chunk_size=200, chunk_overlap=30)


def doc(*blocks: Block, title: str = "Handbook") -> ParsedDocument:
    return ParsedDocument(title=title, blocks=list(blocks))


def test_sections_follow_headings_and_carry_their_path(chunker: Chunker) -> None:
    chunks = chunker.chunk(
        doc(
            Block("title", "Handbook", depth=0),
            Block("title", "Leave", depth=1),
            Block("text", "You get 27 days of annual leave."),
            Block("title", "Carry-over", depth=2),
            Block("text", "Up to 5 days carry over."),
            Block("title", "Sickness", depth=1),
            Block("text", "Self-certify up to 7 days."),
        ),
        "hb.md",
        "h1",
        "md",
    )
    assert [c.heading_path for c in chunks] == ["Leave", "Leave > Carry-over", "Sickness"]
    assert chunks[0].text == "Handbook\nLeave\nYou get 27 days of annual leave."
    assert chunks[2].text.startswith("Sickness\n")
    assert chunks[1].embed_text.startswith("Handbook > Leave > Carry-over\n")


def test_chunks_never_span_pages(chunker: Chunker) -> None:
    chunks = chunker.chunk(
        doc(
            Block("text", "Page one text.", page=1),
            Block("text", "Still page one.", page=1),
            Block("text", "Page two text.", page=2),
        ),
        "a.pdf",
        "h",
        "pdf",
    )
    assert [(c.page, c.text) for c in chunks] == [
        (1, "Page one text.\nStill page one."),
        (2, "Page two text."),
    ]


def test_a_table_that_fits_stays_whole(chunker: Chunker) -> None:
    rows = [["City", "Meal"], ["Leeds", "45"], ["London", "45"]]
    chunks = chunker.chunk(doc(Block("table", "x", rows=rows)), "t.csv", "h", "csv")
    assert len(chunks) == 1
    assert chunks[0].text == "City | Meal\nLeeds | 45\nLondon | 45"
    assert chunks[0].element_type == "table"


def test_a_large_table_repeats_its_header_in_every_group(chunker: Chunker, tokenizer: Any) -> None:
    header = ["Employee ID", "Name", "Department", "Office", "Start date"]
    rows = [header] + [
        [f"E{i:04d}", f"Person number {i}", "Operations", "Rotterdam", f"2024-01-{i % 28 + 1:02d}"]
        for i in range(200)
    ]
    chunks = chunker.chunk(doc(Block("table", "x", rows=rows)), "staff.xlsx", "h", "xlsx")
    assert len(chunks) > 5
    header_line = " | ".join(header)
    for chunk in chunks:
        assert chunk.text.splitlines()[0] == header_line
        assert count_tokens(tokenizer, chunk.embed_text) <= MAX
    body_rows = [line for c in chunks for line in c.text.splitlines()[1:]]
    assert body_rows == [" | ".join(r) for r in rows[1:]]  # every row once, in order


def test_long_text_is_split_with_overlap(chunker: Chunker, tokenizer: Any) -> None:
    sentences = [f"Rule {i} says that the limit for item {i} is {i * 7} pounds." for i in range(120)]
    chunks = chunker.chunk(doc(Block("text", " ".join(sentences))), "p.txt", "h", "txt")
    assert len(chunks) > 3
    for chunk in chunks:
        assert count_tokens(tokenizer, chunk.embed_text) <= MAX
    for first, second in itertools.pairwise(chunks):
        tail = first.text.split()[-3:]
        assert " ".join(tail) in second.text  # consecutive pieces overlap
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_ids_are_deterministic_and_distinct(chunker: Chunker) -> None:
    document = doc(Block("text", "a " * 400), Block("text", "b"))
    first = chunker.chunk(document, "x.txt", "hash1", "txt")
    again = chunker.chunk(document, "x.txt", "hash1", "txt")
    other_path = chunker.chunk(document, "y.txt", "hash1", "txt")
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    assert not {c.id for c in first} & {c.id for c in other_path}
    assert first[0].id == chunk_id("x.txt", "hash1", 0)


WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=400)


BLOCKS = st.lists(
    st.one_of(
        st.builds(lambda t: Block("text", t), WORDS),
        st.builds(
            lambda t, d: Block("title", t, depth=d), st.text(min_size=1, max_size=300), st.integers(0, 4)
        ),
        st.builds(
            lambda rows: Block("table", "t", rows=rows),
            st.lists(st.lists(st.text(max_size=120), min_size=1, max_size=6), min_size=1, max_size=40),
        ),
        st.builds(lambda n: Block("text", "x" * n), st.integers(1, 5000)),  # one huge "word"
        st.builds(lambda n: Block("text", "東京都の規則 " * n), st.integers(1, 300)),
        st.builds(lambda n: Block("text", "Leave is 25 days. " * n), st.integers(1, 40)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blocks=BLOCKS,
    chunk_size=st.integers(32, 400),
    title=st.text(max_size=300),
)
def test_no_chunk_can_exceed_the_embedder_limit(
    tokenizer: Any, blocks: list[Block], chunk_size: int, title: str
) -> None:
    """Text silently truncated by the embedder is text no one can find: it must not happen."""
    chunker = Chunker(tokenizer, max_tokens=MAX, chunk_size=chunk_size, chunk_overlap=min(30, chunk_size - 1))
    chunks = chunker.chunk(ParsedDocument(title=title, blocks=blocks), "f.txt", "h", "txt")
    for chunk in chunks:
        assert count_tokens(tokenizer, chunk.embed_text) <= MAX
    # and no words are lost: every non-space character of the input appears in some chunk
    everything = "".join(c.text for c in chunks).replace(" ", "")
    for block in blocks:
        for word in (block.text if not block.rows else " ".join(map(" ".join, block.rows))).split()[:5]:
            assert word[:20] in everything or not word.strip()


def test_the_fast_counter_counts_as_the_tokenizer_does(tokenizer: Any) -> None:
    """Even after the shared tokenizer was last used with truncation on (as the embedder does)."""
    from ingest.chunking import TokenCounter

    count = TokenCounter(tokenizer)
    tokenizer(["word " * 400], truncation=True, max_length=MAX, padding=True)  # what encode() does
    texts = ["", "hello", "Über-straße №5 — naïve café 😀", "SEC-4012 --prompt-cache", "word " * 400]
    counts = [count(text) for text in texts]
    assert counts == [count_tokens(tokenizer, text) for text in texts]
    assert counts[-1] > MAX  # not truncated


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=WORDS, b=WORDS)
def test_word_pieces_add_up_over_lines_for_the_bundled_tokenizer(tokenizer: Any, a: str, b: str) -> None:
    """What lets the chunker skip counting a section again once its lines are counted."""
    from ingest.chunking import counts_add_up

    assert counts_add_up(tokenizer)
    joined = count_tokens(tokenizer, a + "\n" + b)
    assert joined == count_tokens(tokenizer, a) + count_tokens(tokenizer, b) - 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=BLOCKS, chunk_size=st.integers(32, 256))
def test_skipping_the_recount_changes_no_chunk(tokenizer: Any, blocks: list[Block], chunk_size: int) -> None:
    fast = Chunker(tokenizer, max_tokens=MAX, chunk_size=chunk_size, chunk_overlap=min(30, chunk_size - 1))
    slow = Chunker(tokenizer, max_tokens=MAX, chunk_size=chunk_size, chunk_overlap=min(30, chunk_size - 1))
    slow.counts_add_up = False  # count every piece again, as for any other tokenizer
    document = ParsedDocument(title="Handbook", blocks=blocks)
    assert fast.chunk(document, "f.md", "h", "md") == slow.chunk(document, "f.md", "h", "md")


def test_counts_are_not_assumed_to_add_up_for_other_tokenizers(tokenizer: Any) -> None:
    """A SentencePiece-style tokenizer (its pre-tokenizer marks word starts) is counted whole."""
    import json

    from tokenizers import Tokenizer

    from ingest.chunking import counts_add_up

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec["pre_tokenizer"] = {
        "type": "Metaspace",
        "replacement": "▁",
        "prepend_scheme": "always",
        "split": True,
    }
    other = type("Other", (), {"backend_tokenizer": Tokenizer.from_str(json.dumps(spec))})()
    assert not counts_add_up(other) and not counts_add_up(object())
