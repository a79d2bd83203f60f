"""Command line: ``python -m rag ask "question"``, ``python -m rag doctor``, ``python -m rag serve``.

Examples::

    python -m rag ask "How long are backups kept?"
    python -m rag ask "Who approves expenses over £2,000?" --template cot --k 8
    RAG_LLM_MODE=openai RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 python -m rag ask "..."
    python -m rag doctor          # does the model run here (child process)? backend, GPU, tokens/s
    python -m rag serve --port 8800   # the HTTP API (OpenAI-compatible chat completions, /docs)
"""

from __future__ import annotations

import argparse
import sys
import time

from rag import (
    TEMPLATES,
    Answer,
    Assistant,
    ProbeReport,
    RagError,
    Settings,
    load_settings,
    printable,
    probe,
    serve,
)


def top_k(text: str) -> int:
    """``--k``: the same rule as the top_k setting (RAG_TOP_K), 1 to 100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is out of range: top_k must be 1 to 100")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", help="settings file (default: ./settings.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question from the indexed documents")
    ask.add_argument("question")
    ask.add_argument("--template", choices=TEMPLATES)
    ask.add_argument("--k", type=top_k, help="chunks to retrieve, 1-100 (default: top_k)")
    ask.add_argument("--no-stream", action="store_true", help="print the answer only when complete")
    commands.add_parser(
        "doctor", help="generate a few tokens in a child process (crash? SIGILL?), show the backend and speed"
    )
    served = commands.add_parser("serve", help="serve the HTTP API (OpenAI-compatible, docs at /docs)")
    served.add_argument("--host", help="address (default: settings address / RAG_ADDRESS)")
    served.add_argument("--port", type=int, default=8800, help="port (default: 8800)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.settings)
        if args.command == "doctor":
            return doctor(settings)
        assistant = Assistant(settings)
        if args.command == "serve":
            host = args.host or assistant.settings.address
            print(f"Brightdocs API: http://{host}:{args.port} (docs: /docs)", flush=True)
            serve(assistant, host, args.port)
            return 0
        return ask_question(assistant, args.question, args.template, args.k, stream=not args.no_stream)
    except (RagError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def ask_question(
    assistant: Assistant, question: str, template: str | None, k: int | None, stream: bool
) -> int:
    if assistant.count() == 0:
        print(
            f"error: collection {assistant.settings.collection!r} in {assistant.settings.index_dir} "
            "is empty: run `make ingest` first",
            file=sys.stderr,
        )
        return 1
    answer: Answer | None = None
    streamed = False
    live = stream and sys.stdout.isatty()  # a draft is shown live, then replaced by the checked answer
    for piece in assistant.stream(question, template=template, k=k):
        if isinstance(piece, Answer):
            answer = piece
        elif live:
            print(piece, end="", flush=True)
            streamed = True
    assert answer is not None
    if streamed:
        print("\r\033[K", end="")
    print(printable(answer.text))
    if answer.refused:
        print(f"(refused: {printable(answer.refusal_reason)})")
    print("\nSources:" if not answer.refused else "\nClosest sources:")
    for citation in answer.citations:
        mark = "" if citation.supported or answer.refused else "  (not supported by the passage)"
        print(
            f'  [{citation.number}] {printable(citation.location)}{mark}\n      "{printable(citation.quote)}"'
        )
    confidence = "" if answer.confidence is None else f", estimated chance right {answer.confidence:.0%}"
    print(f"\n{answer.seconds:.2f} s, template {answer.template}{confidence}")
    return 0


def doctor(settings: Settings) -> int:
    """Exit 0: the model runs; 1: it cannot load (the reason is printed); 2: it runs with warnings
    (GPU offload asked for but not active); 3: it crashed in the child process (the signal and the
    fix are printed)."""
    print(f"settings: index {settings.index_dir}, collection {settings.collection!r}")
    if settings.llm_mode == "local":
        report = probe(settings)
        print(report.describe())
        if report.outcome == "failed":  # an error it could name: missing file, bad GGUF
            print(f"error: {report.detail}", file=sys.stderr)
            return 1
        if report.outcome != "ok":
            print(f"\n!!! {_doctor_fix(report)}", file=sys.stderr)
            return 3
        where = "in a child process" if settings.llm_isolation == "process" else "in this process"
        print(f"answers: the model runs {where} (llm_isolation: {settings.llm_isolation})")
    assistant = Assistant(settings)
    info = assistant.info()
    print(info.describe())
    if settings.llm_mode != "local":
        llm = assistant.llm
        prompt = "The quick brown fox jumps over the lazy dog. " * 8 + "Once upon a time"
        started = time.perf_counter()
        first = None
        tokens = 0
        for _ in llm.complete(prompt, max_tokens=64, temperature=0.0):
            first = first or time.perf_counter()
            tokens += 1
        end = time.perf_counter()
        if first is None or tokens < 2:
            print("generation: the model produced no tokens")
            return 1
        print(f"time to first token: {first - started:.3f} s")
        print(f"generation: {(tokens - 1) / (end - first):.1f} tokens/s over {tokens} tokens")
    print(f"index: {assistant.count()} chunks in {len(assistant.sources())} documents")
    if info.warnings:
        print("\n" + "\n".join(f"!!! {w}" for w in info.warnings), file=sys.stderr)
        return 2
    return 0


def _doctor_fix(report: ProbeReport) -> str:
    if report.outcome == "illegal instruction":
        return (
            "this llama-cpp-python was compiled for another CPU (a wheel from another machine's "
            "cache?): `make setup` builds one for this CPU"
        )
    if report.amx_in_use:
        return (
            "llama.cpp's AMX path crashed (ggml-org/llama.cpp #20824): set llama_extra_buffers: "
            "auto or off (RAG_LLAMA_EXTRA_BUFFERS=off), or rebuild with `make setup`"
        )
    if report.outcome == "crashed":
        return (
            "llama.cpp crashed here: with llm_isolation: process (the default) a crash fails one "
            "question, not the service; try llama_extra_buffers: off, or another GGUF"
        )
    return f"the model could not run: {report.detail}"


if __name__ == "__main__":
    raise SystemExit(main())
