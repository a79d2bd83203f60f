"""llama-cpp-python's OpenAI-compatible server, loading models the way the engine does.

``python -m llama_cpp.server`` loads a GGUF with llama.cpp's extra CPU buffer types, which crash on
the first token on CPUs with Intel AMX (ggml-org/llama.cpp #20824). This runs the same server with
``llama_extra_buffers`` applied (``RAG_LLAMA_EXTRA_BUFFERS``: auto, the default, turns them off on
AMX CPUs only); every argument goes to llama-cpp-python's server unchanged.

Example::

    python -m rag.answer.llama_server --model data/models/gemma-3-270m-q4_k_m.gguf --port 8080
"""

from __future__ import annotations

import os

from rag.answer.llm import extra_buffers


def main() -> None:
    import llama_cpp
    from llama_cpp.server.__main__ import main as serve

    setting = os.environ.get("RAG_LLAMA_EXTRA_BUFFERS", "auto")
    with extra_buffers(llama_cpp, setting):  # held while it serves: a model reload gets it too
        serve()


if __name__ == "__main__":
    main()
