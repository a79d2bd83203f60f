"""The :class:`rag.Assistant` calls over the HTTP API (``python -m rag serve``), for a chat that
runs apart from the engine (``api_url``): many chat replicas, one engine, or the engine on the
machine with the GPU.

The user is passed on as ``X-Forwarded-User`` / ``X-Forwarded-Groups``: the chat acts as the
signing-in proxy of the API, so the API's ``trusted_proxies`` must hold the chat's address (and
``auth: proxy``). Errors come back as the same :class:`RagError` kinds the engine raises.

Example::

    remote = RemoteAssistant(load_settings(api_url="http://engine:8800"))
    for piece in remote.stream("How long are backups kept?", user=User.of("ann", ["hr"])):
        print(piece if isinstance(piece, str) else piece.citations)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.core.access import User
from rag.core.errors import AccessDenied, IngestError, LLMError, RagError, StoreUnavailable
from rag.core.schema import Answer, Citation, FileProblem, Hit, IngestReport
from rag.core.settings import Settings


class RemoteAssistant:
    """What the chat needs of an :class:`~rag.Assistant`, answered by the HTTP API at ``api_url``.

    Example::

        remote = RemoteAssistant(settings)            # settings.api_url = "http://engine:8800"
        print(remote.count(), sorted(remote.sources()))
    """

    loaded_llm = None  # the model lives with the API

    def __init__(self, settings: Settings, timeout: float = 300.0) -> None:
        import httpx

        if not settings.api_url:
            raise RagError("api_url is empty: set it to the HTTP API (http://host:8800)")
        self.settings = settings
        self.url = settings.api_url
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    # --- calls --------------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, user: User | None = None, ok: tuple[int, ...] = (), **options: Any
    ) -> Any:
        """The JSON of a successful reply (or of one whose status is in ``ok``); errors raised."""
        import httpx

        try:
            response = self._http.request(method, path, headers=_identity(user), **options)
        except httpx.TransportError as error:
            raise LLMError(
                f"the HTTP API {self.url} did not answer ({error}): is `make serve` running?"
            ) from error
        if response.status_code not in ok:
            _raise_for(response)
        return response.json()

    def count(self) -> int:
        return int(self._call("GET", "/health")["chunks"])

    def sources(self, *, user: User | None = None) -> dict[str, int]:
        documents = self._call("GET", "/v1/documents", user)["documents"]
        return {d["source"]: int(d["chunks"]) for d in documents}

    def can_write(self, user: User | None) -> bool:
        return bool(self._call("GET", "/v1/me", user)["can_write"])

    def use_llm(self, llm: Any) -> None:
        """Nothing to attach: the API answers with its own model."""

    def retrieve(
        self, question: str, k: int | None = None, *, user: User | None = None, **_: Any
    ) -> list[Hit]:
        found = self._call("POST", "/v1/retrieve", user, json={"query": question, "k": k})["hits"]
        return [Hit(chunk_id=h["chunk_id"], text=h["text"], score=h["score"], source=h["source"],
                    page=h["page"]) for h in found]  # fmt: skip

    def stream(
        self,
        question: str,
        template: str | None = None,
        history: Sequence[tuple[str, str]] | None = None,
        *,
        k: int | None = None,
        temperature: float | None = None,
        user: User | None = None,
        **_: Any,
    ) -> Iterator[str | Answer]:
        """The answer's pieces as the API streams them, then the checked :class:`Answer`."""
        messages = [m for asked, said in history or [] for m in
                    ({"role": "user", "content": asked}, {"role": "assistant", "content": said})]  # fmt: skip
        body = {"messages": [*messages, {"role": "user", "content": question}], "stream": True,
                "template": template, "k": k, "temperature": temperature}  # fmt: skip
        with self._http.stream(
            "POST", "/v1/chat/completions", json=body, headers=_identity(user)
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if "error" in event:  # the answer failed after the stream had begun
                    error = event["error"]
                    if error.get("type") == "StoreUnavailable":
                        raise StoreUnavailable(error.get("message", ""))
                    raise LLMError(f"the HTTP API could not finish the answer: {error.get('message')}")
                if "answer" in event:
                    yield _answer(event, question)
                elif content := event["choices"][0]["delta"].get("content"):
                    yield content

    def ask(self, question: str, template: str | None = None, history: Any = None, **options: Any) -> Answer:
        final = [
            piece
            for piece in self.stream(question, template, history, **options)
            if isinstance(piece, Answer)
        ]
        return final[-1]

    def delete(self, source: str, *, user: User | None = None) -> int:
        return int(self._call("DELETE", f"/v1/documents/{source}", user)["chunks_removed"])

    def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        folder: str | Path | None = None,
        user: User | None = None,
    ) -> IngestReport:
        """Send files to the API's corpus (``folder`` is the API's: ignored here). None indexed
        (400) comes back as a report whose ``failed`` says why."""
        sent = [("files", (name, data)) for name, data in files]
        found = self._call("POST", "/v1/documents", user, ok=(400,), files=sent)
        if isinstance(found.get("detail"), list):  # 400: every file refused, each with its reason
            found = {"failed": found["detail"]}
        return _report(found)

    def ingest(
        self,
        folder: str | Path | None = None,
        *,
        allow_mass_delete: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
        user: User | None = None,
        **_: Any,
    ) -> IngestReport:
        """Re-sync the API's corpus folder (``folder`` is the API's: ignored here)."""
        return _report(self._call("POST", "/v1/sync", user, json={"allow_mass_delete": allow_mass_delete}))


def _identity(user: User | None) -> dict[str, str]:
    if user is None:
        return {}
    return {"X-Forwarded-User": user.id, "X-Forwarded-Groups": ",".join(sorted(user.groups))}


def _raise_for(response: Any) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    error = body.get("error") or {}
    message = error.get("message") or body.get("detail") or response.text
    if not isinstance(message, str):
        message = json.dumps(message)
    if response.status_code in (401, 403):
        raise AccessDenied(message)
    if response.status_code in (400, 409, 404):
        raise IngestError(message)
    if error.get("type") == "StoreUnavailable":
        raise StoreUnavailable(message)
    raise LLMError(f"the HTTP API answered {response.status_code}: {message}")


def _answer(event: dict[str, Any], question: str) -> Answer:
    citations = [Citation(number=c["number"], source=c["source"], page=c["page"], chunk_id=c["chunk_id"],
                          quote=c["quote"], score=c["score"], supported=c["supported"])
                 for c in event.get("citations") or []]  # fmt: skip
    return Answer(text=event["answer"], citations=citations, refused=bool(event.get("refused")),
                  question=question, refusal_reason=event.get("refusal_reason") or "",
                  confidence=event.get("confidence"))  # fmt: skip


def _report(found: dict[str, Any]) -> IngestReport:
    return IngestReport(added=list(found.get("added", [])), updated=list(found.get("updated", [])),
                        deleted=list(found.get("deleted", [])), unchanged=list(found.get("unchanged", [])),
                        failed=[FileProblem(p["source"], p["reason"]) for p in found.get("failed", [])],
                        chunks_deleted=int(found.get("chunks_removed", 0)))  # fmt: skip
