"""The LangChain RAG tutorial's pipeline, rebuilt on the libraries it uses, as the baseline that
sec10q-dev puts beside ours (``python -m rag.eval --sets sec10q-dev``).

What the tutorial does, and what stands in for each step here:

- PyPDFLoader: one document per PDF page, read with pypdf's ``PdfReader(path).pages[i].extract_text()``
  (langchain-community is not installed). Pages are numbered from 1, like our citations. pypdf's
  limit on array sizes is raised: two of sec10q-dev's Microsoft filings exceed its default
  (``LimitReachedError``), and the tutorial would have no text of them at all.
- ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` of langchain_text_splitters,
  each page split on its own, so that every chunk keeps its page (as ``split_documents`` does).
- ``HuggingFaceEmbeddings`` (all-MiniLM-L6-v2) in a Chroma collection with cosine distance: the
  product's embedder (the bundled MiniLM, offline, unit-length vectors) and an exact cosine top-k
  in numpy, which ranks as Chroma's top-k does, less HNSW's approximation. (rag.eval may not import
  chromadb: the import-linter contract "Chroma and BM25 only through the Index".)
- the chain: the top 4 chunks in a few-shot prompt (the tutorial's instruction, three worked
  examples of context, question and short answer, then the 4 chunks and the question) for the
  bundled Gemma 3 270M through our :func:`rag.answer.llm.make_llm`; greedy, at most 48 tokens,
  stopped at the first newline that follows some text (the base model mostly opens its answer with
  a newline: a plain stop at newline would leave it empty). The chunks are shortened alike when the
  prompt would not fit the model's context (``n_ctx``) with room for the answer.
- its citation: the page of the first of the 4 chunks that holds the answer's text, else of the
  top chunk; it refuses when the answer says it does not know (as the instruction asks).

Its answers are :class:`rag.core.schema.Answer` objects scored by :func:`rag.eval.qa.score`, like
ours: ``hits`` is its ranking cut at ``top_k`` (so hit@k and MRR compare with ours), ``passages``
the 4 chunks shown, and the deeper ranking (``depth``) gives the page ranks.

Example::

    index = TutorialIndex.build(Path("docs"), make_embedder(settings))
    hits = index.search("What was Apple's gross margin?", k=4)        # list[Hit], with pages
    answer, ranked = ask(index, make_llm(settings), "What was Apple's gross margin?")
    print(answer.text, answer.citations[0].location)
    rows = run_tutorial(items, Path("docs"), embedder, llm)             # list[ItemResult]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.llm import LLM
from rag.answer.verify import REFUSALS
from rag.core.schema import Answer, Citation, Hit
from rag.eval.qa import ItemResult, QAItem, normalize_figures, score
from rag.index.embeddings import Embedder

TUTORIAL = "LangChain tutorial"  # its name beside the templates in summaries and reports
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200  # characters, as in the tutorial
SHOWN = 4  # chunks in the prompt (the tutorial's retriever returns 4)
MAX_TOKENS = 48
PDF_ARRAY_LIMIT = 10_000_000  # pypdf's default (100,000) refuses two of the sec10q-dev filings
INSTRUCTION = (
    "Use the following pieces of retrieved context to answer the question. If you don't know the "
    "answer, just say that you don't know. Answer with a short phrase or figure."
)
# worked examples (context, question, answer), about made-up companies
EXAMPLES = [
    (
        "Net sales by category (in millions): Widgets 4,215 3,987 Gadgets 1,106 1,254 Services 2,532 2,310",
        "What were Contoso's Services net sales in the latest quarter?",
        "2,532",
    ),
    (
        "In March 2023 the Company signed an agreement to acquire Northwind Robotics for about $1.2 "
        "billion in cash. The transaction is expected to close in the second half of the year.",
        "Which company did Fabrikam agree to acquire?",
        "Northwind Robotics",
    ),
    (
        "The Board of Directors declared a quarterly cash dividend of $0.24 per share, payable on "
        "May 18, 2023 to shareholders of record on May 15, 2023.",
        "What was Litware's effective tax rate?",
        "I don't know",
    ),
]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class PageChunk:
    """A piece of one PDF page, as the tutorial's splitter cuts it."""

    text: str
    source: str  # path relative to the corpus root, with forward slashes
    page: int  # 1-based PDF page


def read_pages(path: Path) -> list[tuple[int, str]]:
    """(page number from 1, text) of every page of a PDF, as PyPDFLoader reads them."""
    from pypdf import PdfReader, apply_configuration

    with apply_configuration(array_maximum_element_count=PDF_ARRAY_LIMIT):
        reader = PdfReader(path)
        return [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]


def split_corpus(corpus: Path) -> list[PageChunk]:
    """The chunks of every PDF under ``corpus`` (other files are not the tutorial's), page by page."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = []
    for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file()):
        source = path.relative_to(corpus).as_posix()
        for number, text in read_pages(path):
            chunks += [PageChunk(piece, source, number) for piece in splitter.split_text(text)]
    return chunks


@dataclass(slots=True)
class TutorialIndex:
    """The chunks and their embeddings; search is exact cosine top-k (the vectors are unit length)."""

    chunks: list[PageChunk]
    vectors: np.ndarray
    embedder: Embedder

    @classmethod
    def build(cls, corpus: Path, embedder: Embedder) -> TutorialIndex:
        chunks = split_corpus(corpus)
        if not chunks:
            raise ValueError(f"{corpus}: no PDF text for the {TUTORIAL} pipeline")
        return cls(chunks, embedder.embed([c.text for c in chunks]), embedder)

    def search(self, question: str, k: int = SHOWN) -> list[Hit]:
        """The ``k`` chunks most similar to ``question``, best first (ties in corpus order)."""
        scores = self.vectors @ self.embedder.embed([question])[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit(f"{self.chunks[i].source}#{i}", self.chunks[i].text, float(scores[i]), self.chunks[i].source,
                self.chunks[i].page)
            for i in order
        ]  # fmt: skip


def few_shot_prompt(question: str, passages: Sequence[str]) -> str:
    """The instruction, the worked examples, then ``passages`` and ``question``, ending in ``Answer:``."""
    shots = "\n\n".join(f"Context:\n{c}\nQuestion: {q}\nAnswer: {a}" for c, q, a in EXAMPLES)
    context = "\n\n".join(passages)
    return f"{INSTRUCTION}\n\n{shots}\n\nContext:\n{context}\nQuestion: {' '.join(question.split())}\nAnswer:"


def fitted_prompt(question: str, hits: Sequence[Hit], llm: LLM) -> str:
    """:func:`few_shot_prompt`, its passages shortened alike until it fits ``n_ctx`` with room for
    ``MAX_TOKENS`` of answer (as it is where the backend does not say its ``n_ctx``)."""
    budget = llm.info.n_ctx - MAX_TOKENS
    texts = [hit.text for hit in hits]
    prompt = few_shot_prompt(question, texts)
    while budget > 0 and (count := llm.count_tokens(prompt)) > budget and any(texts):
        keep = budget / count - 0.02  # the share of each passage kept, a little under the excess
        texts = [text[: int(len(text) * keep)] for text in texts]
        prompt = few_shot_prompt(question, texts)
    return prompt


def first_line(pieces: Iterator[str]) -> str:
    """The completion's first line with text in it; the generation stops as soon as it ends."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if "\n" in text.lstrip():
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # stops the generation at its next piece
    return text.lstrip().split("\n", 1)[0].strip()


def cited_hit(answer: str, shown: Sequence[Hit]) -> Hit:
    """The first shown chunk that holds ``answer`` (normalised as sec10q-dev scores), else the top one."""
    flat = normalize_figures(answer)
    return next((hit for hit in shown if flat and flat in normalize_figures(hit.text)), shown[0])


def _citation(number: int, hit: Hit) -> Citation:
    return Citation(number=number, source=hit.source, page=hit.page, chunk_id=hit.chunk_id, quote=hit.text)


def ask(
    index: TutorialIndex, llm: LLM, question: str, depth: int = 10, k: int = 5
) -> tuple[Answer, list[Hit]]:
    """The tutorial's answer to ``question`` and its ranking of ``depth`` chunks; the answer's
    ``hits`` are the first ``k`` of them, its ``passages`` the ``SHOWN`` in the prompt."""
    started = time.perf_counter()
    ranked = index.search(question, max(depth, k, SHOWN))
    shown = ranked[:SHOWN]
    prompt = fitted_prompt(question, shown, llm)
    text = first_line(llm.complete(prompt, max_tokens=MAX_TOKENS, temperature=0.0))
    refused = not text or bool(REFUSALS.search(text))
    answer = Answer(
        text=text,
        citations=[_citation(1, cited_hit(text, shown))] if not refused else [],
        hits=ranked[:k],
        refused=refused,
        question=question,
        template=TUTORIAL,
        raw_output=text,
        refusal_reason="the model said it does not know" if refused else "",
        seconds=time.perf_counter() - started,
        passages=[_citation(n, hit) for n, hit in enumerate(shown, start=1)],
    )
    return answer, ranked[:depth]


def run_tutorial(
    items: Sequence[QAItem],
    corpus: Path,
    embedder: Embedder,
    llm: LLM,
    depth: int = 10,
    k: int = 5,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Index the PDFs of ``corpus`` the tutorial's way and answer every item; scored like ours."""
    index = TutorialIndex.build(corpus, embedder)
    rows = []
    for done, item in enumerate(items, start=1):
        answer, ranked = ask(index, llm, item.question, depth, k)
        rows.append(score(item, answer, TUTORIAL, ranked))
        if progress is not None:
            progress(done, len(items))
    return rows
