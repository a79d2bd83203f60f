"""The answering engine's public API.

Example::

    from rag import Assistant, load_settings
    assistant = Assistant(load_settings())
    answer = assistant.ask("How long are backups kept?")
    print(answer.text, [c.location for c in answer.citations])
"""

from rag.api import Assistant
from rag.llm import BackendInfo, LLMError
from rag.retrieval import Filters
from rag.schema import Answer, Chunk, Citation, FileProblem, Hit, IngestReport
from rag.settings import Settings, SettingsError, load_settings
from rag.store import IndexDamaged

__all__ = [
    "Answer",
    "Assistant",
    "BackendInfo",
    "Chunk",
    "Citation",
    "FileProblem",
    "Filters",
    "Hit",
    "IndexDamaged",
    "IngestReport",
    "LLMError",
    "Settings",
    "SettingsError",
    "load_settings",
]
