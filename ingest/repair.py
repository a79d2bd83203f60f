"""Checks that the index holds what the manifest says, and marks what it does not for repair.

Cheap in the usual case: the store's chunk count is compared with the manifest's sum. Only when
they differ (or a run was killed and left files pending) are chunks counted per file: a file whose
chunks are missing (a deleted or replaced ``chroma.sqlite3``, a killed delete) is marked pending, so
ingestion indexes it again; chunks of files the manifest does not know are removed.

Example::

    problems = verify_index(store, manifest)
    for problem in problems:
        print(problem.source, problem.reason)   # "the index held 0 of its 12 chunks: indexed again"
"""

from __future__ import annotations

from ingest.manifest import Manifest
from rag.core.schema import FileProblem
from rag.index.collection import Index


def verify_index(store: Index, manifest: Manifest) -> list[FileProblem]:
    """Repair marks for every file whose chunks in ``store`` disagree with ``manifest``."""
    entries = manifest.entries()
    expected = sum(entry.chunks for entry in entries.values() if entry.status == "done")
    settled = all(entry.status == "done" for entry in entries.values())
    if settled and store.count() == expected:
        return []
    counts = store.sources()
    problems = []
    for source, entry in sorted(entries.items()):
        held = counts.get(source, 0)
        if entry.status == "done" and held != entry.chunks:
            manifest.mark_deleting(source)  # pending: indexed again (or deleted if gone)
            problems.append(
                FileProblem(source, f"the index held {held} of its {entry.chunks} chunks: repaired")
            )
    for source in sorted(set(counts) - set(entries)):
        removed = store.delete_source(source)
        problems.append(FileProblem(source, f"{removed} chunks the manifest did not know were removed"))
    return problems
