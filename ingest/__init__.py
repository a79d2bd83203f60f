"""Ingestion: files -> blocks (unstructured) -> chunks -> vectors -> Chroma, incrementally.

Example::

    from ingest import sync_folder
    from rag import load_settings
    report = sync_folder(load_settings(), "data/sample")
    print(report.summary())
"""

from ingest.sync import IngestError, remove_document, sync_folder

__all__ = ["IngestError", "remove_document", "sync_folder"]
