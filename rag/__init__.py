"""The answering engine's public API.

Example::

    from rag import load_settings
    settings = load_settings(index_dir="/tmp/index")
"""

from rag.schema import Chunk, FileProblem, Hit, IngestReport
from rag.settings import Settings, load_settings

__all__ = ["Chunk", "FileProblem", "Hit", "IngestReport", "Settings", "load_settings"]
