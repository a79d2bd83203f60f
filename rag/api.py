"""The public, embeddable API: one :class:`Assistant` per collection.

Example::

    from rag import Assistant, load_settings

    assistant = Assistant(load_settings())            # settings.yaml + RAG_* env
    report = assistant.ingest("data/sample")          # IngestReport
    hits = assistant.retrieve("VPN lockout", k=5)     # list[Hit]
    answer = assistant.ask("How long are backups kept?")
    print(answer.text, [c.location for c in answer.citations])
    for piece in assistant.stream("Who is the CFO?"):
        print(piece if isinstance(piece, str) else "\\n", end="")
    assistant.delete("old/handbook.pdf")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest.sync import check_query_embedder, remove_document, sync_folder
from ingest.uploads import discard_failed_uploads, save_upload
from rag.answer.answering import Answerer, HistoryTurn, final_answer
from rag.answer.llm import LLM, BackendInfo, make_llm
from rag.answer.retrieval import CrossEncoderReranker, Filters, Reranker, Retriever
from rag.core.access import User, can_write
from rag.core.errors import AccessDenied, UploadRejected
from rag.core.schema import Answer, FileProblem, Hit, IngestReport
from rag.core.settings import Settings, load_settings
from rag.index.collection import Index
from rag.index.embeddings import Embedder, make_embedder


class Assistant:
    """Question answering over one collection; heavy parts (embedder, LLM) load on first use.

    Keyword overrides go to :func:`load_settings` when no settings object is given:
    ``Assistant(top_k=3, template="plain")``. ``embedder``, ``llm`` and ``reranker`` can be passed
    in (tests, or sharing one model between assistants). Its parts (index, retriever, answerer) are
    built once and reused by every call; per-call options (``template``, ``k``, ``temperature``,
    ``decoding``) are passed down, never copied into new settings.

    Thread-safe without holding a lock across a stream: each model serializes only its own calls
    (the llama.cpp context, the tokenizer), so one slow reader of :meth:`stream` never blocks
    another caller beyond the model time they share. :meth:`ingest` and :meth:`delete` of one
    Assistant run one at a time; questions go on meanwhile. A collection rebuilt by another process
    (``ingest --reset``) is reopened by name on the next call.

    Example::

        assistant = Assistant(load_settings(index_dir="/tmp/index", collection="handbooks"))
        assistant.ingest("~/handbooks")
        answer = assistant.ask("How many days of annual leave?", template="few_shot")
        if answer.refused:
            print("closest:", [c.location for c in answer.citations])
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        reranker: Reranker | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = load_settings(**overrides)
        elif overrides:
            settings = settings.model_copy(update=overrides)
        self.settings = settings
        self.index = Index.of(settings)
        self._embedder = embedder
        self._embedder_given = embedder is not None
        self._llm = llm
        self._reranker = reranker
        self._retriever: Retriever | None = None
        self._answerer: Answerer | None = None
        self._parts = threading.RLock()  # builds the lazy parts once
        self._writing = threading.Lock()  # ingest and delete, one at a time

    # --- parts, built once on first use -------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._parts:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    @property
    def llm(self) -> LLM:
        with self._parts:
            if self._llm is None:
                self._llm = make_llm(self.settings)
            return self._llm

    @property
    def loaded_llm(self) -> LLM | None:
        """The LLM if it was loaded or given, else None (asking nothing of it)."""
        return self._llm

    def use_llm(self, llm: LLM) -> None:
        """Answer with ``llm`` (one model shared by several assistants)."""
        with self._parts:
            if llm is not self._llm:
                self._llm, self._answerer = llm, None

    @property
    def retriever(self) -> Retriever:
        """Hybrid retrieval over :attr:`index` (built once). A collection indexed with another kind of
        embedder than ``embedding_backend`` names is a :class:`SettingsError` naming the setting."""
        with self._parts:
            if self._retriever is None:
                if self._reranker is None and self.settings.reranker_model:
                    self._reranker = CrossEncoderReranker(Path(self.settings.reranker_model))
                if not self._embedder_given:  # one given (tests, a shared model) is the caller's choice
                    check_query_embedder(self.settings)
                self._retriever = Retriever(self.settings, self.index, self.embedder, self._reranker)
            return self._retriever

    @property
    def answerer(self) -> Answerer:
        """The answer pipeline (built once; rebuilt only when another LLM is attached)."""
        with self._parts:
            if self._answerer is None:
                self._answerer = Answerer(self.settings, self.retriever, self.embedder, self.llm)
            return self._answerer

    # --- the API ------------------------------------------------------------------------------
    def ingest(
        self,
        folder: str | Path | None = None,
        *,
        dry_run: bool = False,
        reset: bool = False,
        allow_mass_delete: bool = False,
        progress: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
        user: User | None = None,
    ) -> IngestReport:
        """Bring the collection in line with ``folder`` (default: ``corpus_dir``): add, update, delete.

        Deleting more than ``max_delete_share`` of the documents needs ``allow_mass_delete``;
        ``user`` must be unrestricted (None) or a writer (:class:`AccessDenied`)."""
        self.check_writer(user)
        with self._writing:
            report = sync_folder(
                self.settings,
                folder,
                dry_run=dry_run,
                reset=reset,
                allow_mass_delete=allow_mass_delete,
                progress=progress,
                embedder=self.embedder,
                on_progress=on_progress,
            )
            self.index.reopen()  # --reset drops the collection: reopen it
            return report

    def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        folder: str | Path | None = None,
        user: User | None = None,
    ) -> IngestReport:
        """Save ``files`` ((name, content) pairs) under ``uploads/`` of ``folder`` (default:
        ``corpus_dir``) and index them. A file refused before indexing (type, size, name) or that
        cannot be indexed is in ``report.failed`` with the reason and is not kept on disk; the
        others are indexed. ``user`` must be a writer (:class:`AccessDenied`)."""
        self.check_writer(user)
        root = Path(folder or self.settings.corpus_dir)
        target = self.settings.model_copy(update={"corpus_dir": root})
        saved, rejected = [], []
        for name, data in files:
            try:
                saved.append(save_upload(target, name, data))
            except UploadRejected as problem:
                rejected.append(FileProblem(name, str(problem)))
        report = self.ingest(root, user=user) if saved else IngestReport()
        discard_failed_uploads(root, saved, report)
        report.failed[:0] = rejected
        return report

    def retrieve(
        self, question: str, k: int | None = None, *, filters: Filters | None = None, user: User | None = None
    ) -> list[Hit]:
        """The ``k`` (default ``top_k``) chunks most relevant to ``question`` that ``user`` may read
        (None: unrestricted), best first."""
        return self.retriever.search(question, k, filters=filters, user=user)

    def ask(
        self,
        question: str,
        template: str | None = None,
        history: Sequence[HistoryTurn] | None = None,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        temperature: float | None = None,
        decoding: str | None = None,
        user: User | None = None,
    ) -> Answer:
        """A short answer citing file and page, or a refusal listing the closest sources
        (``decoding``: extractive, free or auto for this call; see the ``decoding`` setting).

        ``user``: who asks; the answer is made only of documents their groups may read
        (``access_rules``). None: unrestricted (single-user mode, scripts, ``make eval``)."""
        pieces = self.stream(
            question,
            template,
            history,
            k=k,
            filters=filters,
            temperature=temperature,
            decoding=decoding,
            user=user,
        )
        return final_answer(pieces)

    def stream(
        self,
        question: str,
        template: str | None = None,
        history: Sequence[HistoryTurn] | None = None,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        temperature: float | None = None,
        decoding: str | None = None,
        user: User | None = None,
    ) -> Iterator[str | Answer]:
        """Answer text pieces as the model writes them, then the final :class:`Answer` (authoritative:
        its text is the checked one, which can differ from the streamed draft).

        Holds no lock while it yields: the model runs each generation in a thread of its own."""
        yield from self.answerer.stream(
            question,
            template=template,
            history=history,
            k=k,
            filters=filters,
            temperature=temperature,
            decoding=decoding,
            user=user,
        )

    def delete(self, source: str, *, user: User | None = None) -> int:
        """Remove a document (path relative to the corpus root) from the index; chunks removed.

        ``user`` must be unrestricted (None) or in a ``writer_groups`` group (:class:`AccessDenied`)."""
        self.check_writer(user)
        with self._writing:
            removed = remove_document(self.settings, source)
            self.index.reopen()
            return removed

    def sources(self, *, user: User | None = None) -> dict[str, int]:
        """Indexed documents ``user`` may read (None: all) and their chunk counts; a document being
        written or deleted right now is listed as readers see it."""
        return self.index.sources(user=user)

    def can_write(self, user: User | None) -> bool:
        """Whether ``user`` may upload and delete documents (None, or a ``writer_groups`` member)."""
        return can_write(user, self.settings.writer_groups)

    def check_writer(self, user: User | None) -> None:
        if not self.can_write(user):
            assert user is not None
            raise AccessDenied(
                f"{user.id} may not change the documents: that needs one of the groups "
                f"{', '.join(self.settings.writer_groups)} (writer_groups)"
            )

    def count(self) -> int:
        """Chunks in the collection (0: nothing indexed yet)."""
        return self.index.count()

    def info(self) -> BackendInfo:
        """What answers (backend, model, GPU offload); loads the model if needed."""
        return self.llm.info
