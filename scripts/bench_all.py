"""`make bench`: run bench-ingest and bench-query, write their figures as one Markdown table with the
machine's description to reports/bench.md and into README.md (between the bench markers).

Usage:
    python scripts/bench_all.py [--quick]      # --quick: smaller corpus, 10k chunks only, no RSS runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

ROWS = [
    ("ingest", "end_to_end_chunks_per_s", "end-to-end ingestion, chunks/s", ""),
    ("ingest", "raw_encode_chunks_per_s", "raw SentenceTransformer.encode, chunks/s", ""),
    ("ingest", "pipeline_to_encode_ratio", "pipeline / raw encode (median round)", ">= 0.8"),
    ("ingest", "ratio_lowest_highest", "pipeline / raw encode, lowest .. highest round", ""),
    ("ingest", "ratio_of_summed_times", "pipeline / raw encode, all rounds' summed times", ""),
    ("ingest", "openvino_int8_speedup", "openvino-int8 speed-up over torch", ">= 2x"),
    ("ingest", "reingest_share_of_first", "re-ingest of the unchanged corpus / first ingest", "<= 5%"),
    ("ingest", "rss_growth_5x", "peak RSS growth, 5x corpus", "<= 20%"),
    ("query", "retrieval_p50_ms_10k", "retrieval p50 at 10k chunks, ms", ""),
    ("query", "retrieval_p95_ms_10k", "retrieval p95 at 10k chunks, ms", ""),
    ("query", "retrieval_p50_ms_100k", "retrieval p50 at 100k chunks, ms", ""),
    ("query", "retrieval_p95_ms_100k", "retrieval p95 at 100k chunks, ms", "<= 100"),
    ("query", "engine_ttft_ms_p50", "time to first token via assistant.stream, ms (incl. retrieval)", ""),
    ("query", "raw_ttft_ms_p50", "time to first token, raw llama-cpp-python, same prompt, ms", ""),
    (
        "query",
        "engine_overhead_ms_p50",
        "engine's work before the first token (engine - raw, per question), ms",
        "<= 50",
    ),
    ("query", "tokens_per_s_ratio", "tokens/s via assistant.stream / raw (first to last piece)", ">= 0.95"),
    ("query", "engine_after_last_piece_ms_p50", "after the last piece: verification, refusal model, ms", ""),
    ("query", "prompt_cache_ttft_speedup", "time to first token without / with prompt-prefix cache", ""),
    ("query", "isolated_tokens_per_s_ratio", "tokens/s, model in a child process / in process", ">= 0.95"),
    ("query", "isolated_ttft_ratio", "time to first token, model in a child process / in process", "<= 1.05"),
    ("query", "engine_process_peak_rss_mb", "peak RSS of the engine and its model process, MB", ""),
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(
            int(line.split()[1]) / 1024 / 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        memory = 0.0
    return f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB RAM, Python {platform.python_version()}"


def run(script: str, args: list[str], out: Path) -> dict[str, object]:
    subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args, "--json", str(out)], check=True)
    return json.loads(out.read_text())


def fmt(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        ingest_args = ["--files", "60", "--no-rss"] if args.quick else []
        query_args = ["--sizes", "10000", "--no-rss"] if args.quick else []
        figures = {
            "ingest": run("bench_ingest.py", ingest_args, Path(work) / "ingest.json"),
            "query": run("bench_query.py", query_args, Path(work) / "query.json"),
        }
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench` on {machine()}.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for group, key, label, target in ROWS:
        if key in figures[group]:
            lines.append(f"| {label} | {fmt(figures[group][key])} | {target} |")
    table = "\n".join(lines)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "bench.md").write_text(table + "\n")
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text and not args.quick:
        head, rest = text.split(START, 1)
        readme.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}")
    print(table)


if __name__ == "__main__":
    main()
