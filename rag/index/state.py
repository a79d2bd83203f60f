"""What every process reading a collection must agree on, kept in Chroma next to the chunks.

One record per collection (in the ``rag-state`` collection of the same Chroma, embedded or server):

* ``version``: changes whenever what readers may see changes (a document added, replaced, deleted
  or re-labelled). A search reads it before and after; when it changed in between, the search is
  run again, so one answer never mixes two states of the index.
* ``keyword``: changes when the keyword (BM25) index must be rebuilt; in server mode each serving
  process rebuilds its own copy in the background when it sees a new one.
* ``pins``: the documents being written, each with the file hash readers see meanwhile (its old
  version, or "" for none yet). Ingestion pins a document before writing its new chunks and moves
  the pin to the new hash only when all of them are written, so a document being replaced is
  answered from its old version or its new one, never a mix and never neither; a deleted one
  disappears at once.

Example::

    view = read_view(store)
    where = view.where()          # None, or a Chroma clause hiding what is being written
    assert view.allows({"source": "a.pdf", "file_hash": "..."})
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class View:
    """One reading of the state record.

    Example::

        View(version="v2", pins={"hr/policy.pdf": "ab12..."}).allows({"source": "hr/policy.pdf",
                                                                        "file_hash": "ab12..."})
    """

    version: str = ""
    keyword: str = ""
    pins: Mapping[str, str] = field(default_factory=dict)

    def allows(self, meta: Mapping[str, Any]) -> bool:
        """Whether a chunk with this record is visible now."""
        pinned = self.pins.get(str(meta.get("source", "")))
        return pinned is None or (pinned != "" and meta.get("file_hash") == pinned)

    def where(self) -> dict[str, Any] | None:
        """A Chroma clause that hides the chunks :meth:`allows` refuses (None when nothing is pinned)."""
        terms: list[dict[str, Any]] = []
        for source, visible in sorted(self.pins.items()):
            hidden: dict[str, Any] = {"source": {"$ne": source}}
            terms.append(hidden if not visible else {"$or": [hidden, {"file_hash": visible}]})
        return all_of(*terms)


def all_of(*clauses: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``$and`` of the given Chroma clauses (None ones skipped; None when none is left)."""
    kept = [clause for clause in clauses if clause]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else {"$and": kept}


def new_version() -> str:
    return f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def decode(meta: Mapping[str, Any]) -> View:
    try:
        pins = json.loads(str(meta.get("pins") or "{}"))
    except ValueError:
        pins = {}
    return View(
        str(meta.get("version", "")), str(meta.get("keyword", "")), pins if isinstance(pins, dict) else {}
    )


def encode(view: View) -> dict[str, Any]:
    return {
        "version": view.version,
        "keyword": view.keyword,
        "pins": json.dumps(dict(view.pins), sort_keys=True),
    }
