"""The HTTP API: the :class:`rag.Assistant` behind FastAPI, for other tools and for several replicas.

Routes (OpenAPI docs at ``/docs``):

* ``POST /v1/chat/completions``: OpenAI's chat completions (``stream: true`` as server-sent events);
  the answer's sources in a top-level ``citations`` list (``source``, ``page``, ``quote``, ...).
* ``POST /v1/retrieve``: the chunks a query finds.
* ``GET /v1/documents``, ``POST /v1/documents`` (multipart ``files``), ``DELETE /v1/documents/{path}``.
* ``GET /v1/me``: who the request comes from, their groups, whether they may upload and delete.
* ``GET /health``.

Identity (``auth``, see :mod:`rag.core.identity`): with ``auth: proxy`` (or ``oidc``) every route but
``/health`` and the docs needs ``X-Forwarded-User`` / ``X-Forwarded-Groups`` from an address in
``trusted_proxies`` (401 otherwise); answers, hits, citations and the document list hold only what
the user's groups may read (``access_rules``), and upload and delete need a ``writer_groups`` group
(403). A document the user may not read is answered as if it did not exist (404), never 403.

Only the public ``rag`` API is used here (an entry point, like the chat and the CLI).

Example::

    app = create_app(Assistant(load_settings()))
    uvicorn.run(app, host="127.0.0.1", port=8800)      # or: python -m rag serve
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from rag import (
    UPLOADS,
    AccessDenied,
    Answer,
    Assistant,
    ContextOverflow,
    Filters,
    IngestError,
    LLMError,
    NotSignedIn,
    RagError,
    StoreUnavailable,
    User,
    identify,
)
from rag.server.models import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    Document,
    DocumentList,
    Health,
    HitOut,
    IngestOut,
    Me,
    Problem,
    RetrieveRequest,
    RetrieveResponse,
    SyncRequest,
)


def create_app(assistant: Assistant) -> FastAPI:
    """A FastAPI app answering from ``assistant`` (one per process; it is thread-safe)."""
    app = FastAPI(
        title="Brightdocs",
        summary="Private question answering over company documents, with citations.",
        version="0.1.0",
    )

    @app.exception_handler(RagError)
    def rag_error(request: Request, error: RagError) -> JSONResponse:
        status = (
            401
            if isinstance(error, NotSignedIn)
            else 403
            if isinstance(error, AccessDenied)
            else 503
            if isinstance(error, (LLMError, StoreUnavailable))
            else 400
            if isinstance(error, ContextOverflow)
            else 500
        )
        return JSONResponse({"error": {"type": type(error).__name__, "message": str(error)}}, status)

    def current_user(request: Request) -> User | None:
        client = request.client.host if request.client is not None else None
        return identify(assistant.settings, request.headers, client)

    signed_in = Depends(current_user)  # the user of each request (a default value: FastAPI's way)

    @app.exception_handler(ValueError)
    def bad_value(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse({"error": {"type": "invalid_request", "message": str(error)}}, 400)

    @app.get("/health")
    def health() -> Health:
        return Health(collection=assistant.settings.collection, chunks=assistant.count(),
                      backend=assistant.settings.llm_mode)  # fmt: skip

    @app.get("/v1/me")
    def me(user: User | None = signed_in) -> Me:
        if user is None:
            return Me(user=None, groups=[], restricted=False, can_write=True)
        return Me(
            user=user.id, groups=sorted(user.groups), restricted=True, can_write=assistant.can_write(user)
        )

    @app.post("/v1/chat/completions", response_model=ChatResponse)
    def chat(body: ChatRequest, user: User | None = signed_in) -> Any:
        question, history = _conversation(body)
        options: dict[str, Any] = {
            "k": body.k,
            "temperature": body.temperature,
            "filters": Filters(sources=body.sources) if body.sources else None,
            "user": user,
        }
        ident, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.model or "brightdocs"
        if not body.stream:
            answer = assistant.ask(question, body.template, history, **options)
            return ChatResponse.of(answer, ident, created, model)
        pieces = assistant.stream(question, body.template, history, **options)
        first = next(pieces)  # errors (unknown template, model down) become an HTTP error, not a stream
        return StreamingResponse(
            _events(first, pieces, ident, created, model), media_type="text/event-stream"
        )

    @app.post("/v1/retrieve")
    def retrieve(body: RetrieveRequest, user: User | None = signed_in) -> RetrieveResponse:
        filters = Filters(sources=body.sources, file_types=body.file_types)
        hits = assistant.retrieve(body.query, body.k, filters=filters, user=user)
        return RetrieveResponse(hits=[HitOut.of(hit) for hit in hits])

    @app.get("/v1/documents")
    def documents(user: User | None = signed_in) -> DocumentList:
        found = sorted(assistant.sources(user=user).items())
        return DocumentList(collection=assistant.settings.collection,
                            documents=[Document(source=s, chunks=n) for s, n in found])  # fmt: skip

    @app.post("/v1/documents")
    def upload(files: list[UploadFile] = File(...), user: User | None = signed_in) -> IngestOut:  # noqa: B008
        """Add documents (multipart ``files``): saved under ``uploads/`` of the corpus and indexed."""
        try:
            report = assistant.upload([(f.filename or "", f.file.read()) for f in files], user=user)
        except IngestError as error:
            raise HTTPException(409, detail=str(error)) from error
        if not (report.added or report.updated or report.unchanged):
            raise HTTPException(400, detail=[Problem(source=p.source, reason=p.reason).model_dump()
                                             for p in report.failed])  # fmt: skip
        return IngestOut.of(report)

    @app.post("/v1/sync")
    def sync(body: SyncRequest, user: User | None = signed_in) -> IngestOut:
        """Bring the index in line with the corpus folder (what `make ingest` does), for writers."""
        try:
            report = assistant.ingest(allow_mass_delete=body.allow_mass_delete, user=user)
        except IngestError as error:
            raise HTTPException(409, detail=str(error)) from error
        return IngestOut.of(report)

    @app.delete("/v1/documents/{source:path}")
    def delete(source: str, user: User | None = signed_in) -> IngestOut:
        assistant.check_writer(user)
        if source not in assistant.sources(user=user):
            raise HTTPException(
                404, detail=f"{source} is not in collection {assistant.settings.collection!r}"
            )
        removed = assistant.delete(source, user=user)
        uploaded = assistant.settings.corpus_dir / source
        if source.startswith(f"{UPLOADS}/") and uploaded.is_file():
            uploaded.unlink()  # an uploaded file goes with its chunks (a corpus file stays: the next sync)
        return IngestOut(deleted=[source], chunks_removed=removed)

    return app


def _conversation(body: ChatRequest) -> tuple[str, list[tuple[str, str]]]:
    """The last user message, and the (question, answer) pairs before it."""
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
        raise ValueError("the last message must be the user's question")
    history, asked = [], None
    for turn in turns[:-1]:
        if turn.role == "user":
            asked = turn.content
        elif asked is not None:
            history.append((asked, turn.content))
            asked = None
    return turns[-1].content, history


def _events(
    first: str | Answer, pieces: Iterator[str | Answer], ident: str, created: int, model: str
) -> Iterator[str]:
    """OpenAI's ``chat.completion.chunk`` events; the last one carries the checked answer (``answer``,
    which can differ from the streamed draft), ``citations`` and ``refused``, then ``[DONE]``. An
    error after the first event (the model process died) ends the stream with an ``error`` event."""

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    try:
        for piece in _chain(first, pieces):
            if isinstance(piece, Answer):
                yield event(
                    {},
                    "stop",
                    answer=piece.text,
                    citations=[CitationOut.of(c).model_dump() for c in piece.citations],
                    refused=piece.refused,
                    refusal_reason=piece.refusal_reason,
                    confidence=piece.confidence,
                )
            else:
                yield event({"content": piece})
    except RagError as error:  # after the headers: OpenAI's error event (its client raises APIError)
        failure = {"error": {"type": type(error).__name__, "message": str(error)}}
        yield f"data: {json.dumps(failure, ensure_ascii=False)}\n\n"
        return
    yield "data: [DONE]\n\n"


def _chain(first: str | Answer, rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
    yield first
    yield from rest


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 8800) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")
