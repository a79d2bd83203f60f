"""Skip unstructured's spaCy text classification wherever its answer cannot change our chunks.

unstructured labels every paragraph that no tag or style classifies by running spaCy over it (a
statistical sentence split and part-of-speech pass) in ``is_possible_narrative_text``: NarrativeText
or not. The chunker reads NarrativeText, Text, ListItem, Address and EmailAddress all as body text;
only Title matters (it opens a section). So the check is skipped where it only picks between body
labels, which on the benchmark corpus was ~60% of Markdown/HTML and most of plain-text parse time:

* HTML (Markdown and e-mail HTML bodies use the same parser) and DOCX: a paragraph that is not
  narrative becomes Text, never a Title. Skipped always.
* Plain text (and e-mail text bodies), PPTX, XLSX: a paragraph that is not narrative may become a
  Title, but only if it has at most ``UNSTRUCTURED_TITLE_MAX_WORD_LENGTH`` words (12), counted as
  unstructured counts them. Skipped for longer paragraphs, kept for the short ones.

tests/test_loaders.py parses the sample corpus and a generated one both ways and requires the
same blocks.

Example::

    with narrative_check_trimmed(".md"):
        elements = partition_md(filename="handbook.md")
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

NEVER = "never"  # the check only picks a body-text label
LONG_ONLY = "long"  # it may make a Title of a short paragraph: run it for those only

TRIMMED: dict[str, tuple[str, set[str]]] = {  # module -> (how, suffixes whose parse reaches it)
    "unstructured.partition.html.parser": (NEVER, {".html", ".htm", ".md", ".eml"}),
    "unstructured.partition.docx": (NEVER, {".docx"}),
    "unstructured.partition.text": (LONG_ONLY, {".txt", ".eml"}),
    "unstructured.partition.pptx": (LONG_ONLY, {".pptx"}),
    "unstructured.partition.xlsx": (LONG_ONLY, {".xlsx"}),
}
NLP_USERS = {  # suffixes whose parse may still run spaCy (for short paragraphs)
    suffix for how, suffixes in TRIMMED.values() if how == LONG_ONLY for suffix in suffixes
}
_lock = threading.Lock()
_depth: dict[str, int] = {}
_saved: dict[str, Callable[..., bool]] = {}


def _trimmed(how: str, check: Callable[..., bool]) -> Callable[..., bool]:
    if how == NEVER:
        return lambda *_args, **_kwargs: False

    def unless_too_long_for_a_title(text: str, *args: Any, **kwargs: Any) -> bool:
        limit = int(os.environ.get("UNSTRUCTURED_TITLE_MAX_WORD_LENGTH", 12))
        if len(text.split(" ")) > limit:  # is_possible_title's own test: it cannot be a Title
            return False
        return check(text, *args, **kwargs)

    return unless_too_long_for_a_title


@contextlib.contextmanager
def narrative_check_trimmed(suffix: str) -> Iterator[None]:
    """While partitioning a ``suffix`` file, run unstructured's NarrativeText check only where its
    answer matters. Safe across threads and nesting: the first in patches, the last out restores."""
    modules = [name for name, (_, suffixes) in TRIMMED.items() if suffix in suffixes]
    with _lock:
        for name in modules:
            module: Any = importlib.import_module(name)
            if _depth.get(name, 0) == 0:
                _saved[name] = module.is_possible_narrative_text
                module.is_possible_narrative_text = _trimmed(TRIMMED[name][0], _saved[name])
            _depth[name] = _depth.get(name, 0) + 1
    try:
        yield
    finally:
        with _lock:
            for name in modules:
                _depth[name] -= 1
                if _depth[name] == 0:
                    restored: Any = importlib.import_module(name)
                    restored.is_possible_narrative_text = _saved.pop(name)
