"""The chat page: ask questions, read cited answers, manage the documents of a collection.

UI only: everything it does goes through the ``rag`` API (``Assistant``). Run it with ``make run``
(or ``python -m app``), which also indexes the sample corpus on first start.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.engine import Engine, app_settings, assistant_for, attach_llm, collections, corpus_folder
from app.helpers import Message, conversation_markdown, highlighted
from app.identity import current_user
from rag import (
    TEMPLATES,
    UPLOADS,
    AccessDenied,
    Answer,
    ContextOverflow,
    IndexDamaged,
    IngestError,
    IngestReport,
    LLMError,
    Settings,
    SettingsError,
    StoreUnavailable,
    User,
)

LABELS = {"few_shot": "few-shot (base models)", "plain": "plain (instruct models)", "cot": "chain of thought"}
TEMPLATE_LABELS = {name: LABELS.get(name, name) for name in TEMPLATES}  # rag.TEMPLATES: the names


def main() -> None:
    try:
        settings = app_settings()
    except (SettingsError, FileNotFoundError) as error:
        st.error(f"The settings cannot be used: {error}")
        st.stop()
    state = st.session_state
    state.setdefault("messages", [])
    state.setdefault("last_stats", None)
    state.setdefault("uploader", 0)
    state.setdefault("notices", [])  # (kind, text) shown once, after the rerun that follows an action
    user = current_user(settings)

    with st.sidebar:
        collection = st.selectbox("Collection", collections(settings), key="collection")
        assistant = assistant_for(settings, collection)
    st.title("Ask your documents")
    try:
        chunks = assistant.count()
        readable = assistant.sources(user=user)
    except (IndexDamaged, StoreUnavailable, LLMError) as error:
        st.error(f"The index cannot be read: {error}")
        st.stop()
    with st.sidebar:
        template = st.selectbox(
            "Template",
            list(TEMPLATES),
            index=list(TEMPLATES).index(settings.template),
            format_func=TEMPLATE_LABELS.__getitem__,
            key="template",
        )
        top_k = st.slider("Top-k chunks", 1, 20, settings.top_k, key="top_k")
        temperature = st.slider("Temperature", 0.0, 1.5, float(settings.temperature), 0.05, key="temperature")
        backend_panel(assistant, settings)
        documents_panel(settings, assistant, collection, user, readable)
        conversation_panel(collection)

    if chunks == 0:
        st.info("The index is empty: run `make ingest` or upload files in the sidebar.")
    else:
        shown = f"{len(readable)} documents" + (" you may read" if user is not None else f", {chunks} chunks")
        st.caption(f"Collection **{collection}**: {shown}.")
    for message in state.messages:
        with st.chat_message(message.role):
            if message.meta.get("error"):
                st.error(message.content)
            elif message.answer is None:
                st.markdown(message.content)
            else:
                show_answer(message.answer)
    question = st.chat_input("Ask a question about your documents", disabled=chunks == 0)
    if question:
        ask(settings, assistant, question, template, top_k, temperature, user)


def ask(
    settings: Settings,
    assistant: Engine,
    question: str,
    template: str,
    k: int,
    temperature: float,
    user: User | None,
) -> None:
    state = st.session_state
    history = [
        (m.content, n.content)
        for m, n in zip(state.messages, state.messages[1:], strict=False)
        if m.role == "user" and n.role == "assistant" and n.answer is not None and not n.answer.refused
    ]
    state.messages.append(Message("user", question))
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        draft = st.empty()
        try:
            attach_llm(assistant, settings)
            answer = None
            text = ""
            pieces = assistant.stream(
                question, template, history[-3:], k=k, temperature=temperature, user=user
            )
            for piece in pieces:
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    text += piece
                    draft.markdown(text + " \u258c")
        except (LLMError, ContextOverflow) as error:
            draft.empty()
            failure = (
                f"The language model is not available: {error}"
                if isinstance(error, LLMError)
                else f"The question does not fit the model's context window: {error}"
            )
            st.error(failure)  # kept in the conversation, so it is still there after the next question
            state.messages.append(Message("assistant", failure, None, {"error": True}))
            return
        draft.empty()
        assert answer is not None
        show_answer(answer)
    state.messages.append(Message("assistant", answer.text, answer))
    state.last_stats = (answer.generated_tokens, answer.tokens_per_second, answer.seconds)


def show_answer(answer: Answer) -> None:
    if answer.refused:
        st.warning(answer.text, icon=":material/help:")
        st.caption(f"Why: {answer.refusal_reason}")
    else:
        st.markdown(answer.text)
    if answer.confidence is not None:
        st.caption(f"Estimated chance this answer is right: {answer.confidence:.0%}")
    if not answer.citations:
        return
    st.markdown("**Closest sources**" if answer.refused else "**Sources**")
    chunks = {hit.chunk_id: hit for hit in answer.hits}
    for citation in answer.citations:
        flag = "" if citation.supported or answer.refused else " \u26a0 not supported by this passage"
        st.markdown(f"[{citation.number}] `{citation.location}` \u00b7 score {citation.score:.2f}{flag}")
        hit = chunks.get(citation.chunk_id)
        marked = None
        if hit is not None and citation.quote_offsets and citation.answer_offsets and not answer.refused:
            start, end = citation.quote_offsets
            inside = (citation.answer_offsets[0] - start, citation.answer_offsets[1] - start)
            marked = highlighted(hit.text[start:end], inside)
        if marked is not None:
            st.markdown(f"<blockquote>{marked}</blockquote>", unsafe_allow_html=True)
        else:
            st.markdown(f"> {citation.quote}")
        if hit is not None:
            with st.expander(f"Read [{citation.number}] in context"):
                heading = hit.metadata.get("heading_path") or hit.metadata.get("title") or ""
                if heading:
                    st.caption(str(heading))
                offsets = None if answer.refused else citation.answer_offsets
                st.markdown(
                    f"<div style='white-space: pre-wrap'>{highlighted(hit.text, offsets)}</div>",
                    unsafe_allow_html=True,
                )


def backend_panel(assistant: Engine, settings: Settings) -> None:
    with st.expander("Backend", expanded=False):
        llm = assistant.loaded_llm
        if settings.api_url:
            st.caption(f"Answers come from the HTTP API at `{settings.api_url}`.")
        elif llm is None:
            st.caption("The model loads with the first question.")
        else:
            info = llm.info
            st.markdown(f"**{info.mode}** \u00b7 `{info.model.rsplit('/', 1)[-1]}`")
            if info.mode == "local":
                where = "GPU" if info.gpu_layers_offloaded else "CPU"
                st.markdown(
                    f"GPU layers offloaded: {info.gpu_layers_offloaded}/{info.model_layers} ({where})"
                )
            for warning in info.warnings:
                st.warning(warning)
        stats = st.session_state.last_stats
        if stats:
            tokens, rate, seconds = stats
            st.markdown(f"Last answer: {tokens} tokens, {rate:.1f} tokens/s, {seconds:.2f} s")


def documents_panel(
    settings: Settings, assistant: Engine, collection: str, user: User | None, readable: dict[str, int]
) -> None:
    st.subheader("Documents")
    folder = corpus_folder(settings, collection)
    state = st.session_state
    for kind, text in state.notices:
        (st.error if kind == "error" else st.success)(text)
    state.notices = []
    if not assistant.can_write(user):  # readers see the documents they may read, and change nothing
        groups = ", ".join(settings.writer_groups)
        st.caption(f"{len(readable)} documents you may read. Adding or deleting them needs one of: {groups}.")
        if readable:
            st.selectbox("Document", sorted(readable), key="readable")
        return
    if not settings.api_url:
        st.caption(f"Folder: `{folder}`")
    files = st.file_uploader(
        "Add documents",
        type=[t.lstrip(".") for t in settings.file_types],
        accept_multiple_files=True,
        key=f"uploader-{state.uploader}",
        help=f"Up to {settings.max_file_size_mb:g} MiB each; saved under {UPLOADS}/ in the folder "
        "(a name already taken gets a number).",
    )
    if st.button("Add to the index", disabled=not files, key="add"):
        pairs = [(upload.name, upload.getvalue()) for upload in files or []]
        sync(assistant, folder, user, upload=pairs)  # a file that cannot be indexed is not kept
        state.uploader += 1  # a fresh, empty uploader
        st.rerun()
    allow = st.checkbox(
        "Allow a mass delete",
        key="mass_delete",
        help="A re-sync refuses to delete more than max_delete_share of the documents because their "
        "files are gone (an unmounted folder looks empty); tick this to delete them anyway.",
    )
    if st.button("Re-sync folder", key="resync"):
        sync(assistant, folder, user, allow_mass_delete=allow)
        st.rerun()
    sources = sorted(readable)
    if sources:
        doomed = st.selectbox("Document", sources, key="doomed")
        if st.button("Delete from the index", key="delete") and doomed:
            try:
                removed = assistant.delete(doomed, user=user)
            except (AccessDenied, IngestError, LLMError) as error:
                state.notices.append(("error", f"Not deleted: {error}"))
                st.rerun()
            uploaded = folder / doomed
            if doomed.startswith(f"{UPLOADS}/") and uploaded.is_file():
                uploaded.unlink()
                state.notices.append(
                    ("success", f"Deleted {doomed} ({removed} chunks) and its uploaded file.")
                )
            else:
                kept = (
                    f"Deleted {doomed} ({removed} chunks); it is still in the folder: a re-sync adds it back."
                )
                state.notices.append(("success", kept))
            st.rerun()


def sync(
    assistant: Engine,
    folder: Path,
    user: User | None,
    allow_mass_delete: bool = False,
    upload: list[tuple[str, bytes]] | None = None,
) -> IngestReport | None:
    """Re-sync ``folder``, or (``upload``) add files to it; the outcome goes to the notices."""
    bar = st.progress(0.0, text="Indexing ...")

    def progress(done: int, total: int, source: str) -> None:
        bar.progress(done / total, text=f"{source} ({done}/{total})")

    notices = st.session_state.notices
    try:
        if upload is not None:
            report = assistant.upload(upload, folder=folder, user=user)
        else:
            report = assistant.ingest(
                folder, on_progress=progress, allow_mass_delete=allow_mass_delete, user=user
            )
    except Exception as error:  # IngestError and friends: a message, not a traceback
        notices.append(("error", f"Indexing failed: {error}"))
        return None
    notices.append(
        (
            "success",
            f"Added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"deleted {len(report.deleted)}, failed {len(report.failed)}.",
        )
    )
    notices.extend(("error", f"{problem.source}: {problem.reason}") for problem in report.failed)
    return report


def conversation_panel(collection: str) -> None:
    st.subheader("Conversation")
    messages = st.session_state.messages
    if st.button("Clear chat", key="clear", disabled=not messages):
        st.session_state.messages = []
        st.rerun()
    st.download_button(
        "Download as Markdown",
        conversation_markdown(messages, title=f"Conversation with the {collection} documents"),
        file_name="conversation.md",
        mime="text/markdown",
        disabled=not messages,
        key="download",
    )


main()
