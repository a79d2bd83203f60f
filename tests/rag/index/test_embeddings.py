"""The bundled embedder, a custom model folder, and the faster ONNX backends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest import sync_folder
from rag.core.schema import embed_text
from rag.index.embeddings import bundled_model_path, make_embedder
from rag.index.exported import OnnxEmbedder, OpenVinoEmbedder
from rag.index.store import ChromaStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sample_texts(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> list[str]:
    from rag.core.settings import PROJECT_ROOT, load_settings

    index = tmp_path_factory.mktemp("emb-index")
    settings = load_settings(PROJECT_ROOT / "settings.yaml", index_dir=index, collection="emb-test")
    sync_folder(settings, embedder=embedder)
    data = ChromaStore(index, "emb-test").get()
    texts = [
        embed_text(m["title"], m["heading_path"], d)
        for d, m in zip(data["documents"], data["metadatas"], strict=True)
    ]
    assert len(texts) > 30
    return texts


def test_bundled_model_limits(embedder: Any) -> None:
    assert embedder.max_tokens == 256
    vectors = embedder.embed(["annual leave", "VPN error code"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_onnx_backend_gives_the_reference_vectors(
    sample_texts: list[str], embedder: Any, tmp_path: Path
) -> None:
    onnx = OnnxEmbedder(bundled_model_path(), tmp_path / "exported", batch_size=16)
    assert onnx.max_tokens == embedder.max_tokens
    cosines = (embedder.embed(sample_texts) * onnx.embed(sample_texts)).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines.min()


def test_openvino_int8_stays_close_to_the_reference(
    sample_texts: list[str], embedder: Any, tmp_path: Path
) -> None:
    """Calibrated on the corpus it first embeds, as at ingestion; cached for later processes."""
    fast = OpenVinoEmbedder(bundled_model_path(), tmp_path / "exported", batch_size=16)
    cosines = (embedder.embed(sample_texts) * fast.embed(sample_texts)).sum(axis=1)
    assert cosines.min() >= 0.99, cosines.min()
    assert fast.model_file.exists()
    again = OpenVinoEmbedder(bundled_model_path(), tmp_path / "exported", batch_size=16)
    assert np.allclose(again.embed(sample_texts[:5]), fast.embed(sample_texts[:5]), atol=1e-5)
    assert fast.embed([]).shape[0] == 0


def test_any_local_sentence_transformers_folder_works(make_settings: Any, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(bundled_model_path(), folder)
    embedder = make_embedder(make_settings(embedding_model=str(folder)))
    assert embedder.embed(["hello"]).shape == (1, 384)


def test_a_missing_model_folder_is_named(make_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        make_embedder(make_settings(embedding_model=str(tmp_path / "no-such-model")))
