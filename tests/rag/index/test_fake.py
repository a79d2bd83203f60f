"""The shipped deterministic embedder (``embedding_backend: hash``)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from rag.index.fake import HashEmbedder

pytestmark = pytest.mark.unit

PROBE = (
    "from rag.index.fake import HashEmbedder; "
    "print(HashEmbedder().embed(['Backups are kept 35 days'])[0].tolist())"
)


def test_vectors_are_the_same_in_another_process() -> None:
    here = HashEmbedder().embed(["Backups are kept 35 days"])[0]
    there = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert np.allclose(here, np.array(eval(there), dtype=np.float32))


def test_vectors_are_unit_length_and_follow_word_overlap() -> None:
    vectors = HashEmbedder().embed(["backups are kept", "Backups ARE kept!", "laptops lock", ""])
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0) and not vectors[3].any()
    assert vectors[0] @ vectors[1] == pytest.approx(1.0)
    assert vectors[0] @ vectors[2] < 0.5


def test_settings_select_it(make_settings: Any) -> None:
    from rag import make_embedder

    assert isinstance(make_embedder(make_settings(embedding_backend="hash")), HashEmbedder)
