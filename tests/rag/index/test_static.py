"""The static multilingual embedder (``embedding_backend: wordllama``): vectors, its tokenizer as the
chunker sees it, and a collection built and queried with it (and only with it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.chunking import Chunker, TokenCounter
from ingest.loaders import Block, ParsedDocument
from rag.core.errors import IngestError, MissingExtra, SettingsError
from rag.index.embeddings import count_tokens
from rag.index.static import MAX_TOKENS, WordLlamaEmbedder

# a question, its paragraph, and a paragraph on something else (loading the table takes under a second)
CHINESE = (
    "圣母小学的教学主要采用什么语言？",
    "圣母小学是一所位于澳门的天主教小学，教学主要采用英文。学校成立于1950年，学生约有五百人。",
    "北京到上海的高速铁路全长一千三百公里，列车最高时速三百五十公里，每天开行数百趟列车。",
)
ARABIC = (
    "ما هي عاصمة مصر؟",
    "القاهرة هي عاصمة مصر وأكبر مدنها، وتقع على ضفاف نهر النيل.",
    "كرة القدم هي الرياضة الأكثر شعبية في البرازيل، وقد فاز المنتخب البرازيلي بكأس العالم خمس مرات.",
)
DOCS = {
    "school.md": f"# 圣母小学\n\n{CHINESE[1]}\n",
    "fish.md": "# 长齿锯犁鳗\n\n长齿锯犁鳗是一种生活在深海的鱼类，身体细长，牙齿锋利，主要以小鱼和虾为食。\n",
    "train.md": f"# 高速铁路\n\n{CHINESE[2]}\n",
    "cairo.md": f"# القاهرة\n\n{ARABIC[1]}\n",
    "football.md": f"# كرة القدم\n\n{ARABIC[2]}\n",
    "medicine.md": "# ابن سينا\n\nابن سينا طبيب وفيلسوف فارسي، ألف كتاب القانون في الطب "
    "الذي درس في أوروبا لقرون.\n",
    "backups.md": "# Backups\n\nBackups are retained for 35 days and restored from the second data centre.\n",
}
QUESTIONS = [
    (CHINESE[0], "school.md"),
    ("长齿锯犁鳗吃什么？", "fish.md"),
    ("高速列车的最高时速是多少？", "train.md"),
    (ARABIC[0], "cairo.md"),
    ("كم مرة فاز منتخب البرازيل بكأس العالم؟", "football.md"),
    ("من ألف كتاب القانون في الطب؟", "medicine.md"),
    ("How long are backups kept?", "backups.md"),
]


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder(batch_size=4)


# --- vectors ---------------------------------------------------------------------------------------


@pytest.mark.unit
def test_vectors_are_unit_length_float32(wordllama: WordLlamaEmbedder) -> None:
    texts = [*CHINESE, *ARABIC, "Backups are kept 35 days.", "", " "]
    vectors = wordllama.embed(texts)
    assert vectors.shape == (len(texts), 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # "" too: no zero vector
    assert wordllama.embed([]).shape == (0, 256)
    # batches of 4 and one call per text agree: padding does not leak into the average
    one_by_one = np.stack([wordllama.embed([text])[0] for text in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-5)


@pytest.mark.unit
@pytest.mark.parametrize("question, paragraph, unrelated", [CHINESE, ARABIC], ids=["chinese", "arabic"])
def test_a_question_is_closer_to_its_paragraph(
    wordllama: WordLlamaEmbedder, question: str, paragraph: str, unrelated: str
) -> None:
    q, near, far = wordllama.embed([question, paragraph, unrelated])
    assert q @ near > q @ far + 0.05, (q @ near, q @ far)


@pytest.mark.unit
def test_settings_select_it(make_settings: Any) -> None:
    from rag import make_embedder

    embedder = make_embedder(make_settings(embedding_backend="wordllama", embedding_batch_size=8))
    assert isinstance(embedder, WordLlamaEmbedder) and embedder.batch_size == 8


@pytest.mark.unit
def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wordllama", None)  # import wordllama -> ImportError
    with pytest.raises(MissingExtra, match=r"wordllama is not installed.*brightdocs-rag\[wordllama\]"):
        WordLlamaEmbedder()


@pytest.mark.unit
def test_loading_leaves_the_root_logger_alone() -> None:
    """wordllama calls logging.basicConfig(level=INFO) on import: every library's INFO records
    would reach stderr afterwards."""
    probe = (
        "import logging; from rag.index.static import WordLlamaEmbedder; WordLlamaEmbedder(); "
        "root = logging.getLogger(); print(len(root.handlers), root.level)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", str(30)]  # no handler, WARNING


# --- the tokenizer the chunker sizes chunks with --------------------------------------------------


@pytest.mark.unit
def test_the_tokenizer_is_the_one_that_is_averaged(wordllama: WordLlamaEmbedder) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = wordllama.tokenizer
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    wordllama.embed(["pads the embedder's own tokenizer", "短"])  # the copy must not pad
    for text in [*CHINESE, *ARABIC, "Backups are kept 35 days."]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == wordllama.model.tokenize(text)[0].ids  # what WordLlama looks up
        assert count_tokens(tokenizer, text) == len(ids) + 1  # <s>
        assert TokenCounter(tokenizer)(text) == len(ids) + 1
    assert wordllama.max_tokens == MAX_TOKENS


@pytest.mark.unit
@pytest.mark.parametrize("text", [CHINESE[1], ARABIC[1], "Backups are kept 35 days."])
def test_offsets_point_into_the_text(wordllama: WordLlamaEmbedder, text: str) -> None:
    encoded = wordllama.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    assert len(offsets) == len(encoded["input_ids"])
    assert all(0 <= start < end <= len(text) for start, end in offsets)
    assert [s for s, _ in offsets] == sorted(s for s, _ in offsets)  # in text order
    assert offsets[-1][1] == len(text)
    # every character is covered (byte-fallback pieces of one character share its span)
    covered = {i for start, end in offsets for i in range(start, end)}
    assert covered >= {i for i, char in enumerate(text) if not char.isspace()}


@pytest.mark.unit
@pytest.mark.parametrize(
    "paragraph", [CHINESE[1] + CHINESE[2], ARABIC[1] + " " + ARABIC[2]], ids=["zh", "ar"]
)
@pytest.mark.parametrize("chunk_size", [200, MAX_TOKENS])
def test_chunks_fit_in_wordllama_tokens(
    wordllama: WordLlamaEmbedder, paragraph: str, chunk_size: int
) -> None:
    tokenizer = wordllama.tokenizer
    chunker = Chunker(tokenizer, max_tokens=wordllama.max_tokens, chunk_size=chunk_size, chunk_overlap=30)
    assert chunker.specials == 1  # <s> only: section sizes are not under-counted
    body = "\n\n".join([paragraph] * 12)  # about 2,000 tokens in either script
    document = ParsedDocument(
        title="文档 وثيقة",
        blocks=[
            Block("title", "第一章 الفصل الأول", depth=1),
            *[Block("text", part) for part in body.split("\n\n")],
            Block("text", paragraph.replace(" ", "") * 6),  # one long run without spaces
        ],
    )
    chunks = chunker.chunk(document, "multi.md", "h", "md")
    sizes = [count_tokens(tokenizer, chunk.embed_text) for chunk in chunks]
    assert max(sizes) <= wordllama.max_tokens, sizes
    assert np.mean(sizes) >= chunk_size / 2, sizes  # passage-sized, not slivers
    text = "".join(chunk.text for chunk in chunks)
    assert all(sentence in text for sentence in paragraph.replace("。", "。\n").splitlines() if sentence)


# --- a collection built with it --------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.integration
def test_dense_search_finds_chinese_and_arabic_documents(make_settings: Any, corpus: Path) -> None:
    from rag import Assistant

    settings = make_settings(collection="wordllama", embedding_backend="wordllama", retrieval_mode="dense")
    assistant = Assistant(settings)
    report = assistant.ingest(corpus)
    assert not report.failed and len(report.added) == len(DOCS), report.summary()
    for question, source in QUESTIONS:
        hits = assistant.retrieve(question, k=3)
        assert hits[0].source == source, (question, [(h.source, h.score) for h in hits])


@pytest.mark.integration
def test_another_backend_cannot_query_or_update_it(make_settings: Any, corpus: Path) -> None:
    from ingest import sync_folder
    from ingest.sync import check_query_embedder, embedder_id, pipeline_id
    from rag import Assistant

    built = make_settings(collection="wordllama-only", embedding_backend="wordllama")
    assert "wordllama" in embedder_id(built) and str(Path(sys.prefix)) not in embedder_id(built)
    assert pipeline_id(built) != pipeline_id(make_settings(collection="wordllama-only"))
    assert not sync_folder(built, corpus).failed
    check_query_embedder(built)  # the same backend: fine

    for backend in ("torch", "onnx", "hash"):
        other = make_settings(collection="wordllama-only", embedding_backend=backend)
        with pytest.raises(
            SettingsError,
            match=rf"'wordllama-only' was indexed with embedding_backend wordllama, not {backend}: "
            r"set embedding_backend: wordllama \(RAG_EMBEDDING_BACKEND=wordllama\)",
        ):
            Assistant(other).retrieve("ما هي عاصمة مصر؟")
        with pytest.raises(IngestError, match=r"RAG_EMBEDDING_BACKEND=wordllama\) to update it, or re-run"):
            sync_folder(other, corpus)
    # another collection in the same index folder is not concerned
    check_query_embedder(make_settings(collection="english-docs"))
