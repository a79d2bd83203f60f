"""Typed requests and responses of the HTTP API (OpenAI's chat-completions shape, plus citations).

Example::

    ChatRequest(messages=[ChatMessage(role="user", content="How long are backups kept?")])
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from rag import Answer, Citation, Hit, IngestReport


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class ChatRequest(BaseModel):
    """OpenAI's ``POST /v1/chat/completions`` body; the last user message is the question and the
    earlier user/assistant turns are the history. ``template``, ``k``, ``sources`` are ours."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    template: str | None = Field(None, description="few_shot, plain or cot (default: settings)")
    k: int | None = Field(None, ge=1, le=100, description="chunks to retrieve (default: top_k)")
    sources: str | None = Field(None, description="only documents whose path matches this glob")


class CitationOut(BaseModel):
    """One source of an answer: file, page, the quoted passage, and whether it supports the answer."""

    number: int
    source: str
    page: int | None
    location: str
    quote: str
    supported: bool
    score: float
    chunk_id: str
    quote_offsets: tuple[int, int] | None = None
    answer_offsets: tuple[int, int] | None = None

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        return cls(**asdict(citation), location=citation.location)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Choice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: Literal["stop"] = "stop"


class ChatResponse(BaseModel):
    """OpenAI's chat completion, with the answer's sources in ``citations`` and our verdict."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut]
    refused: bool
    refusal_reason: str = ""
    confidence: float | None = None

    @classmethod
    def of(cls, answer: Answer, ident: str, created: int, model: str) -> ChatResponse:
        return cls(
            id=ident,
            created=created,
            model=model,
            choices=[Choice(message=ChatMessage(role="assistant", content=answer.text))],
            usage=Usage(completion_tokens=answer.generated_tokens, total_tokens=answer.generated_tokens),
            citations=[CitationOut.of(c) for c in answer.citations],
            refused=answer.refused,
            refusal_reason=answer.refusal_reason,
            confidence=answer.confidence,
        )


class RetrieveRequest(BaseModel):
    query: str = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=100)
    sources: str | None = None
    file_types: list[str] | None = None


class HitOut(BaseModel):
    chunk_id: str
    source: str
    page: int | None
    score: float
    text: str
    dense_score: float | None = None
    keyword_score: float | None = None

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(chunk_id=hit.chunk_id, source=hit.source, page=hit.page, score=hit.score, text=hit.text,
                   dense_score=hit.metadata.get("dense_score"),
                   keyword_score=hit.metadata.get("keyword_score"))  # fmt: skip


class RetrieveResponse(BaseModel):
    hits: list[HitOut]


class Document(BaseModel):
    source: str
    chunks: int


class DocumentList(BaseModel):
    collection: str
    documents: list[Document]


class Problem(BaseModel):
    source: str
    reason: str


class IngestOut(BaseModel):
    """What an upload or a delete changed."""

    added: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    failed: list[Problem] = []
    unchanged: list[str] = []
    chunks_removed: int = 0

    @classmethod
    def of(cls, report: IngestReport) -> IngestOut:
        failed = [Problem(source=p.source, reason=p.reason) for p in report.failed]
        return cls(added=report.added, updated=report.updated, deleted=report.deleted, failed=failed,
                   unchanged=report.unchanged, chunks_removed=report.chunks_deleted)  # fmt: skip


class SyncRequest(BaseModel):
    allow_mass_delete: bool = Field(False, description="delete even when most documents' files are gone")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    collection: str
    chunks: int
    backend: str


class Me(BaseModel):
    """Who the request comes from (``user`` None: unrestricted single-user mode)."""

    user: str | None
    groups: list[str]
    restricted: bool
    can_write: bool
