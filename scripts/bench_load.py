"""Load benchmark (`make bench-load`): the HTTP API under 1, 4 and 16 concurrent users.

Variants, each a real `python -m rag serve` process over the sample corpus:
  * local: the bundled GGUF in the serving process (one llama.cpp context, serialized);
  * server: the serving process asks a real `python -m llama_cpp.server` (llama-cpp-python's
    server handles one request at a time: it has no parallel slots);
  * local + ingestion: as local, while another process ingests a generated corpus into the same
    collection;
  * chroma server: as local, with the chunks in a real `chroma run` server (store_mode: server).
For each: p50/p95 latency of a whole (non-streamed) answer, throughput and errors (must be 0).

Usage:
    python scripts/bench_load.py [--users 1 4 16] [--per-user 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bench_query  # scripts/ is on the path: python scripts/bench_load.py
import numpy as np

from ingest.synthetic import generate
from rag import Assistant, bundled_gguf, load_settings

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = bench_query.QUESTIONS[:4]  # the answerable ones the query benchmark asks too


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, process: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.5)


def start(command: list[str], env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait(health, process)
    return process


def ask(url: str, question: str) -> tuple[float, bool]:
    body = json.dumps({"messages": [{"role": "user", "content": question}]}).encode()
    request = urllib.request.Request(f"{url}/v1/chat/completions", body, {"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            ok = reply.status == 200 and "choices" in json.loads(reply.read())
    except OSError:
        ok = False
    return time.perf_counter() - started, ok


def load(url: str, users: int, per_user: int) -> dict[str, float]:
    jobs = [QUESTIONS[(user + n) % len(QUESTIONS)] for user in range(users) for n in range(per_user)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(lambda q: ask(url, q), jobs))
    wall = time.perf_counter() - started
    times = [t for t, _ in results]
    return {
        "requests": len(jobs),
        "p50_s": round(statistics.median(times), 2),
        "p95_s": round(float(np.percentile(times, 95)), 2),
        "answers_per_s": round(len(jobs) / wall, 2),
        "errors": sum(1 for _, ok in results if not ok),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--per-user", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    figures: dict[str, dict[str, dict[str, float]]] = {}
    notes: dict[str, bool] = {}
    try:
        settings = load_settings(ROOT / "settings.yaml", index_dir=work / "index", collection="sample")
        Assistant(settings).ingest(ROOT / "data" / "sample")
        env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_COLLECTION": "sample",
               "RAG_MODELS_DIR": str(settings.models_dir)}  # fmt: skip
        gguf = bundled_gguf(settings.models_dir)
        llm_port = free_port()
        llm_server = start(
            [sys.executable, "-m", "rag.answer.llama_server", "--model", str(gguf), "--port", str(llm_port),
             "--n_ctx", "2048"],
            env, f"http://127.0.0.1:{llm_port}/v1/models",
        )  # fmt: skip
        remote = {**env, "RAG_LLM_MODE": "openai", "RAG_LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1"}
        corpus = work / "more"
        generate(corpus, 60, 6)
        chroma_port = free_port()
        chroma_run = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(work / "chroma")]
        heartbeat = f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat"
        chroma = start([*chroma_run, "--port", str(chroma_port)], env, heartbeat)
        shared = {**env, "RAG_STORE_MODE": "server", "RAG_CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
                  "RAG_INDEX_DIR": str(work / "replica")}  # fmt: skip
        subprocess.run([sys.executable, "-m", "ingest", str(ROOT / "data" / "sample"), "--quiet"], cwd=ROOT,
                       env=shared, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for variant, variant_env, ingesting in (("local", env, False), ("server", remote, False),
                                                ("local + ingestion", env, True),
                                                ("chroma server", shared, False)):  # fmt: skip
            port = free_port()
            api = start([sys.executable, "-m", "rag", "serve", "--port", str(port)], variant_env,
                        f"http://127.0.0.1:{port}/health")  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            ask(url, QUESTIONS[0])  # warm-up
            ingestion = None
            if ingesting:
                ingestion = subprocess.Popen(
                    [sys.executable, "-m", "ingest", str(corpus), "--collection", "sample"],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            try:
                figures[variant] = {str(users): load(url, users, args.per_user) for users in args.users}
            finally:
                if ingestion is not None:
                    notes["ingestion still running when the load ended"] = ingestion.poll() is None
                    ingestion.wait(timeout=900)
                api.terminate()
                api.wait(timeout=60)
        for helper in (llm_server, chroma):
            helper.terminate()
            helper.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| variant | users | requests | p50 s | p95 s | answers/s | errors |")
    print("|---|---|---|---|---|---|---|")
    for variant, rows in figures.items():
        for users, row in rows.items():
            cells = [
                variant,
                users,
                row["requests"],
                row["p50_s"],
                row["p95_s"],
                row["answers_per_s"],
                row["errors"],
            ]
            print("| " + " | ".join(str(cell) for cell in cells) + " |")
    for note, value in notes.items():
        print(f"{note}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "notes": notes}, indent=2))


if __name__ == "__main__":
    main()
