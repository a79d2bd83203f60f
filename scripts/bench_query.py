"""Query benchmark (`make bench-query`): a script that prints figures, not a timed test.

  * retrieval latency p50/p95 (hybrid: query embedding + Chroma + BM25 + fusion, no reranker) at
    10k and 100k synthetic chunks (random unit vectors, generated text), embedded Chroma on disk
  * time to first token and tokens/s through ``assistant.stream`` versus raw llama-cpp-python on the
    same prompts and model, and their ratio
  * time to first token with and without the prompt-prefix KV cache
  * the cost of running the model in a child process (``llm_isolation: process``, the default):
    time to first token and tokens/s of the same prompts in process and isolated, alternating
  * peak RSS of a process holding the engine with the bundled model (after one answer), its model
    process included

Usage:
    python scripts/bench_query.py [--sizes 10000 100000] [--queries 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag import Assistant, load_settings
from rag.answer.isolated import ProcessLLM
from rag.answer.llm import LLM, LlamaCppLLM
from rag.answer.retrieval import Retriever
from rag.core.schema import Answer, Chunk
from rag.core.settings import Settings
from rag.index.collection import Index

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "How long are backups retained?",
    "What is the minimum password length?",
    "Who is the Chief Financial Officer?",
    "What is the learning budget per year?",
    "How many dogs are allowed in the office on a Friday?",
    "Within how many hours must critical security patches be installed?",
    "What is the name of the approved password manager?",
    "How much does the dental plan cost?",
]

RSS_PROBE = """
import resource, sys
from rag import Assistant, load_settings
assistant = Assistant(load_settings(index_dir=sys.argv[2], collection="sample"))
assistant.ask("How long are backups retained?")
assistant.llm.close()  # the model process ends: its peak is counted among the children's
usage = resource.getrusage
print("RSS_KB", usage(resource.RUSAGE_SELF).ru_maxrss + usage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def synthetic_chunks(start: int, count: int, rng: random.Random) -> list[Chunk]:
    words = [f"w{i}" for i in range(20000)] + ["backup", "laptop", "leave", "expense", "policy", "VPN"]
    return [
        Chunk(
            id=f"syn-{i}",
            text=" ".join(rng.choices(words, k=60)),
            source=f"doc{i // 20}.md",
            file_hash="0",
            chunk_index=i % 20,
            title=f"Document {i // 20}",
        )
        for i in range(start, start + count)
    ]


def retrieval_latency(sizes: list[int], queries: int, work: Path, assistant: Assistant) -> dict[str, float]:
    settings = load_settings(ROOT / "settings.yaml", index_dir=work / "syn-index", collection="synthetic")
    index = Index.of(settings)
    rng = random.Random(7)
    vectors_rng = np.random.default_rng(7)
    figures: dict[str, float] = {}
    done = 0
    for size in sorted(sizes):
        while done < size:
            batch = synthetic_chunks(done, min(5000, size - done), rng)
            vectors = vectors_rng.standard_normal((len(batch), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.upsert(batch, vectors)
            done += len(batch)
        index.mark_changing()
        index.refresh_keyword()
        retriever = Retriever(settings, index, assistant.embedder)
        asked = [f"{rng.choice(QUESTIONS)} w{rng.randrange(20000)}" for _ in range(queries)]
        retriever.search(asked[0], 5)  # warm-up
        timings = []
        for question in asked:
            started = time.perf_counter()
            retriever.search(question, 5)
            timings.append((time.perf_counter() - started) * 1000)
        label = f"{size // 1000}k"
        figures[f"retrieval_p50_ms_{label}"] = round(percentile(timings, 50), 1)
        figures[f"retrieval_p95_ms_{label}"] = round(percentile(timings, 95), 1)
    return figures


class Recorder:
    """Wraps the engine's LLM to record the prompts it sends."""

    def __init__(self, llm: object) -> None:
        self.llm = llm
        self.prompts: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.llm, name)

    def complete(self, prompt: str, **options: object):  # type: ignore[no-untyped-def]
        self.prompts.append(prompt)
        return self.llm.complete(prompt, **options)  # type: ignore[attr-defined]


def raw_stream(model: object, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = last = None
    tokens = 0
    for chunk in model.create_completion(  # type: ignore[attr-defined]
        prompt, max_tokens=max_tokens, temperature=0.0, stop=["\n"], stream=True
    ):
        if chunk["choices"][0]["text"]:
            last = time.perf_counter()
            first = first or last
            tokens += 1
    assert first is not None and last is not None
    return first - started, last - first, tokens


def generation_figures(assistant: Assistant) -> tuple[dict[str, float], list[str]]:
    """Engine versus raw llama-cpp-python figures, and the prompts the engine sent."""
    recorder = Recorder(assistant.llm)
    assistant.use_llm(recorder)  # type: ignore[arg-type]
    # raw llama-cpp-python: the same GGUF and settings, loaded in this process (the engine's model
    # runs in its child process, llm_isolation: process, the default)
    model = LlamaCppLLM(assistant.settings.model_copy(update={"llm_isolation": "inline"})).model
    assistant.ask(QUESTIONS[-1])  # warm-up: the fixed prefix is now in the KV cache
    recorder.prompts.clear()
    engine_ttft, engine_rate, finish, sent = [], [], [], []
    for question in QUESTIONS:
        before = len(recorder.prompts)
        started = time.perf_counter()
        first = last = None
        pieces = 0
        answer = None
        for piece in assistant.stream(question):
            if isinstance(piece, Answer):
                answer = piece
                continue
            last = time.perf_counter()
            first = first or last
            pieces += 1
        end = time.perf_counter()
        if first is None or last is None or last == first or pieces < 2 or answer is None:
            continue
        engine_ttft.append(first - started)
        # the streamed pieces' rate (first to last piece); what follows the last piece (verification,
        # the refusal model, a second attempt when the first was not supported) is ``finish``
        engine_rate.append((pieces - 1) / (last - first))
        finish.append(end - last)
        sent.append(recorder.prompts[before])  # the first prompt is the one streamed
    raw_ttft, raw_rate = [], []
    for prompt in sent:  # same order: each prompt finds the previous one's prefix in the cache
        ttft, generating, tokens = raw_stream(model, prompt, assistant.settings.max_tokens)
        raw_ttft.append(ttft)
        raw_rate.append((tokens - 1) / generating if tokens > 1 else 0.0)
    cold_ttft = []
    for prompt in sent:
        model.reset()
        cold_ttft.append(raw_stream(model, prompt, assistant.settings.max_tokens)[0])
    median = statistics.median
    figures = {
        "answers_measured": len(sent),
        "engine_ttft_ms_p50": round(median(engine_ttft) * 1000, 1),
        "raw_ttft_ms_p50": round(median(raw_ttft) * 1000, 1),
        # the engine's own work before the first token (condense check, one question embedding,
        # retrieval, passage selection, gates, prompt): per question, engine minus raw on its prompt
        "engine_overhead_ms_p50": round(
            median(e - r for e, r in zip(engine_ttft, raw_ttft, strict=True)) * 1000, 1
        ),
        "engine_tokens_per_s": round(median(engine_rate), 1),
        "engine_after_last_piece_ms_p50": round(median(finish) * 1000, 1),
        "raw_tokens_per_s": round(median(raw_rate), 1),
        "tokens_per_s_ratio": round(median(engine_rate) / median(raw_rate), 3),
        "ttft_ratio_raw_over_engine": round(median(raw_ttft) / median(engine_ttft), 3),
        "raw_ttft_ms_p50_no_prompt_cache": round(median(cold_ttft) * 1000, 1),
        "prompt_cache_ttft_speedup": round(median(cold_ttft) / median(raw_ttft), 2),
        "prompt_tokens_p50": median(recorder.llm.count_tokens(p) for p in sent),  # type: ignore[attr-defined]
    }
    return figures, sent


def timed(llm: LLM, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """Time to first piece, first to last piece, and pieces of one completion through the seam."""
    started = time.perf_counter()
    first = last = None
    pieces = 0
    for _ in llm.complete(prompt, max_tokens=max_tokens, stop=["\n"]):
        last = time.perf_counter()
        first = first or last
        pieces += 1
    assert first is not None and last is not None
    return first - started, last - first, pieces


def isolation_figures(settings: Settings, prompts: list[str], rounds: int = 3) -> dict[str, float]:
    """The same prompts through the model in process and in a child process, alternating (each
    keeps its own prompt-prefix cache, so both see the same cache hits). Run it in a fresh process
    (``--isolation``): in a process where another thread already ran llama.cpp (the raw figures
    above run it on the main thread), a generation in the engine's generation thread is about 40%
    slower (OpenMP thread pools are per calling thread), which would flatter the child process."""
    inline = LlamaCppLLM(settings)
    isolated = ProcessLLM(settings)
    max_tokens = settings.max_tokens
    results: dict[str, tuple[list[float], list[float]]] = {"inline": ([], []), "isolated": ([], [])}
    try:
        for llm in (inline, isolated):  # warm-up: the fixed prefix is in both caches
            timed(llm, prompts[-1], max_tokens)
        for _ in range(rounds):
            for prompt in prompts:
                for name, llm in (("inline", inline), ("isolated", isolated)):
                    ttft, generating, pieces = timed(llm, prompt, max_tokens)
                    results[name][0].append(ttft)
                    if pieces > 1:
                        results[name][1].append((pieces - 1) / generating)
    finally:
        isolated.close()
    median = statistics.median
    first = {name: median(values[0]) for name, values in results.items()}
    rate = {name: median(values[1]) for name, values in results.items()}
    return {
        "inline_ttft_ms_p50": round(first["inline"] * 1000, 1),
        "isolated_ttft_ms_p50": round(first["isolated"] * 1000, 1),
        "isolated_ttft_ratio": round(first["isolated"] / first["inline"], 3),
        "inline_tokens_per_s": round(rate["inline"], 1),
        "isolated_tokens_per_s": round(rate["isolated"], 1),
        "isolated_tokens_per_s_ratio": round(rate["isolated"] / rate["inline"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--isolation", type=Path, help=argparse.SUPPRESS)  # prompts file: that part only
    args = parser.parse_args()
    if args.isolation:
        settings = load_settings(ROOT / "settings.yaml")
        print(json.dumps(isolation_figures(settings, json.loads(args.isolation.read_text()))))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        settings = load_settings(
            ROOT / "settings.yaml",
            index_dir=work / "sample-index",
            collection="sample",
        )
        assistant = Assistant(settings)
        assistant.ingest(ROOT / "data" / "sample")
        figures: dict[str, object] = {
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        }
        engine, prompts = generation_figures(assistant)
        figures.update(engine)
        (work / "prompts.json").write_text(json.dumps(prompts))
        isolated = subprocess.run(
            [sys.executable, __file__, "--isolation", str(work / "prompts.json")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        figures.update(json.loads(isolated.strip().splitlines()[-1]))
        figures.update(retrieval_latency(args.sizes, args.queries, work, assistant))
        if not args.no_rss:
            out = subprocess.run(
                [sys.executable, "-c", RSS_PROBE, str(ROOT), str(settings.index_dir)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures["engine_process_peak_rss_mb"] = round(int(out.split("RSS_KB")[-1]) / 1024, 1)
        width = max(map(len, figures))
        for name, value in figures.items():
            print(f"{name:<{width}}  {value}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
