"""Embedders that run a locally exported copy of the model: ONNX Runtime (fp32) and OpenVINO (int8).

The model folder is exported to ONNX once (``torch.onnx.export``, no download) into a cache folder.
``OnnxEmbedder`` runs that file as is (vectors identical to sentence-transformers). ``OpenVinoEmbedder``
quantizes it to int8 with NNCF's post-training quantization, calibrated on the first texts it is
asked to embed (at ingestion: the first chunks of your own documents) topped up with built-in English
prose, and caches the result; about 2.6x faster on CPUs with VNNI, min cosine 0.991 to the reference
on the sample corpus.

Example::

    embedder = OpenVinoEmbedder(bundled_model_path(), Path("data/models/exported"))
    vectors = embedder.embed(["How do I unlock the VPN?"])
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_SIZE = 300  # texts used to calibrate int8 activations


class _ExportedEmbedder:
    """Tokenize, run the exported transformer, pool and normalize like sentence-transformers."""

    def __init__(self, path: Path, cache_dir: Path, batch_size: int) -> None:
        from transformers import AutoTokenizer

        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.max_tokens = _max_seq_length(path, self.tokenizer)
        self.pooling = _pooling_mode(path)
        self.batch_size = batch_size
        self._tokenizing = threading.Lock()  # the Rust tokenizer is not re-entrant across threads
        key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        self.folder = cache_dir / f"{path.name}-{key}"

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _feeds(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # less padding per batch
        for start in range(0, len(texts), self.batch_size):
            index = order[start : start + self.batch_size]
            with self._tokenizing:
                encoded = self.tokenizer(
                    [texts[i] for i in index],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="np",
                )
            yield index, {k: v.astype(np.int64) for k, v in encoded.items()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out: np.ndarray | None = None
        for index, vectors in self._embedded_batches(texts):
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _embedded_batches(self, texts: Sequence[str]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(rows of ``texts``, their vectors) per batch, in any order."""
        for index, feed in self._feeds(texts):
            yield index, self._pool(self._run(feed), feed["attention_mask"])

    def _pool(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Sentence vectors from token states (the model's pooling), normalized to unit length."""
        mask = attention_mask[..., None].astype(np.float32)
        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            vectors = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        return np.asarray(vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None))


class OnnxEmbedder(_ExportedEmbedder):
    """The model exported to ONNX and run by ONNX Runtime: the reference's vectors, no PyTorch at run time.

    Example::

        embedder = OnnxEmbedder(bundled_model_path(), Path("data/models/exported"))
        embedder.embed(["annual leave"]).shape   # (1, 384)
    """

    def __init__(self, path: Path, cache_dir: Path, batch_size: int = 16) -> None:
        super().__init__(path, cache_dir, batch_size)
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise RuntimeError("embedding_backend onnx needs onnxruntime: pip install onnxruntime") from error
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        onnx_file = export_onnx(self.path, self.folder)
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0])


class OpenVinoEmbedder(_ExportedEmbedder):
    """int8 OpenVINO model, quantized once with calibration on the first texts it embeds.

    Example::

        embedder = OpenVinoEmbedder(bundled_model_path(), Path("data/models/exported"))
        embedder.embed(chunk_texts)     # first call calibrates and caches model-int8.xml
    """

    def __init__(self, path: Path, cache_dir: Path, batch_size: int = 16) -> None:
        super().__init__(path, cache_dir, batch_size)
        try:
            import openvino
        except ImportError as error:
            raise RuntimeError(
                "embedding_backend openvino-int8 needs the 'openvino' extra: pip install -e '.[openvino]'"
            ) from error
        self._openvino = openvino
        self._core = openvino.Core()
        self._compiled: Any = None
        self._compiling = threading.Lock()
        self.model_file = self.folder / "model-int8.xml"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._compiling:  # two first calls at once quantize and compile once
            if self._compiled is None:
                if not self.model_file.exists():
                    self.quantize(texts)
                self._compiled = self._core.compile_model(
                    str(self.model_file), "CPU", {"PERFORMANCE_HINT": "LATENCY"}
                )
        return super().embed(texts)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        # One synchronous request at a time, in the caller's thread. Asynchronous requests whose
        # completion callbacks run Python in OpenVINO's threads were 2-15% faster, but aborted the
        # whole process now and then ("Fatal Python error: Aborted" in a thread with no Python
        # frame) when other native thread pools (ONNX Runtime, llama.cpp) lived in the process.
        return np.asarray(self._compiled(feed)[0])

    def quantize(self, texts: Sequence[str]) -> Path:
        """Post-training int8 quantization (NNCF), calibrated on ``texts`` plus built-in prose."""
        import nncf
        import openvino

        samples = [t for t in texts if t.strip()][:CALIBRATION_SIZE]
        samples += builtin_prose()[: max(0, CALIBRATION_SIZE - len(samples))]
        model = self._core.read_model(str(export_onnx(self.path, self.folder)))
        batches = [feed for _, feed in self._feeds(samples)]
        quantized = nncf.quantize(
            model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches)
        )
        tmp = self.model_file.with_name("model-int8.tmp.xml")
        openvino.save_model(quantized, str(tmp))
        tmp.with_suffix(".bin").replace(self.model_file.with_suffix(".bin"))
        tmp.replace(self.model_file)
        return self.model_file


def builtin_prose() -> list[str]:
    """Paragraphs of English prose that ship with Python itself (pydoc topics), shuffled stably."""
    from pydoc_data.topics import topics

    paragraphs = [
        " ".join(p.split())
        for name in sorted(topics)
        for p in topics[name].split("\n\n")
        if len(p.split()) > 12 and not p.startswith(" ")
    ]
    return sorted(paragraphs, key=lambda p: hashlib.sha1(p.encode()).hexdigest())


def export_onnx(path: Path, folder: Path) -> Path:
    """Export the transformer of ``path`` to ``folder/model.onnx`` once (from local files only)."""
    target = folder / "model.onnx"
    if target.exists():
        return target
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
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
    return target


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
            raise ValueError(f"{path}: only mean or CLS pooling is supported by exported backends")
    return "mean"
