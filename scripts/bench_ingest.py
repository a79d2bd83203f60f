"""Ingestion benchmark (`make bench-ingest`): a script that prints figures, not a timed test.

In one run, on a generated corpus of at least 2,000 chunks:
  * end-to-end ingestion chunks/s (scan, hash, parse, chunk, embed, write, keyword index; model
    already loaded, everything else imported inside the timed run)
  * raw SentenceTransformer.encode chunks/s on the same chunk texts, and the ratio of the two.
    A shared 2-core machine drifts by 10-25% between minutes, so this is measured in --rounds
    rounds, each a fresh process (model loaded, then a timed ingest into a fresh collection, then
    the timed encode), each round's ratio from its own pair; the median round is reported, with
    the lowest and highest ratio, and the ratio of the rounds' summed times (less sensitive to drift
    within a round)
  * the faster backend's (openvino-int8) encode chunks/s and its speed-up over the default
  * re-ingest of the unchanged corpus as a share of the first ingest
  * peak RSS of a whole `python -m ingest` process at 1x and 5x the corpus size
  * real PDFs (``--real``, default the sec10q-dev filings when ``../shared/eval`` is there):
    pages/s of our PDF reader alone, the share of it spent on layout (lines, cells, tables) after
    PDFium has given the characters, pdfminer's layout analysis on the same files (the reader
    before), and end-to-end ingestion pages/s

Usage:
    python scripts/bench_ingest.py [--files 170] [--sections 12] [--rounds 5] [--no-rss]
    python scripts/bench_ingest.py --real-only [--real DIR]   # the real-PDF figures only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import sync_folder
from ingest.synthetic import generate
from rag.core.schema import embed_text
from rag.core.settings import load_settings
from rag.index.embeddings import SentenceTransformerEmbedder, model_path
from rag.index.exported import OpenVinoEmbedder
from rag.index.store import ChromaStore

ROOT = Path(__file__).resolve().parent.parent
REAL_PDFS = ROOT.parent / "shared" / "eval" / "sec10q-dev" / "corpus"


def real_pdf_figures(folder: Path, embedder: SentenceTransformerEmbedder, work: Path) -> dict[str, float]:
    """Pages/s of the PDF reader on real filings, its layout share, pdfminer's layout analysis on
    the same files, and whole ingestion (parse, chunk, embed, write)."""
    import pypdfium2
    from pdfminer.high_level import extract_pages

    from ingest import pdf

    files = sorted(folder.glob("*.pdf"))
    pages = sum(len(pypdfium2.PdfDocument(str(f))) for f in files)
    started = time.perf_counter()
    for f in files:
        pdf.parse_pdf(f)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for f in files:  # the characters alone, as the reader gets them
        document = pypdfium2.PdfDocument(str(f))
        for page in document:
            pdf._pdfium_words(page)
    characters = time.perf_counter() - started
    started = time.perf_counter()
    for f in files:
        for _ in extract_pages(str(f)):
            pass
    pdfminer = time.perf_counter() - started
    settings = load_settings(
        ROOT / "settings.yaml",
        index_dir=work / "real-index",
        collection="real",
        models_dir=ROOT / "data" / "models",
    )
    started = time.perf_counter()
    report = sync_folder(settings, folder, embedder=embedder)
    ingest = time.perf_counter() - started
    assert not report.failed, report.summary()
    return {
        "real_pdf_files": len(files),
        "real_pdf_pages": pages,
        "real_pdf_reader_pages_per_s": round(pages / ours, 1),
        "real_pdf_layout_share": round(max(0.0, ours - characters) / ours, 3),
        "real_pdf_pdfminer_layout_pages_per_s": round(pages / pdfminer, 1),
        "real_pdf_ingest_pages_per_s": round(pages / ingest, 1),
        "real_pdf_ingest_chunks": report.chunks_written,
    }


ROUND = """
import gc, json, sys, time
from pathlib import Path
from ingest import sync_folder
from rag.index.embeddings import SentenceTransformerEmbedder, model_path
from rag.core.schema import embed_text
from rag.core.settings import load_settings
from rag.index.store import ChromaStore
root, corpus, index, collection = map(Path, sys.argv[1:5])
settings = load_settings(root / "settings.yaml", index_dir=index, collection=str(collection),
                         models_dir=root / "data" / "models")
embedder = SentenceTransformerEmbedder(model_path(settings), settings.embedding_batch_size)
embedder.embed(["warm up"] * 8)
gc.collect()  # neither timed part inherits the other's garbage
started = time.perf_counter()
report = sync_folder(settings, corpus, embedder=embedder)
ingest = time.perf_counter() - started
assert not report.failed, report.summary()
data = ChromaStore(index, settings.collection).get()
texts = [embed_text(m["title"], m["heading_path"], d)
         for d, m in zip(data["documents"], data["metadatas"], strict=True)]
gc.collect()
started = time.perf_counter()
embedder.model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True)
encode = time.perf_counter() - started
print("ROUND", json.dumps({"ingest": ingest, "encode": encode, "chunks": report.chunks_written,
                           "files": len(report.added)}))
"""

RSS_PROBE = """
import resource, runpy, sys
sys.argv = ["ingest", sys.argv[1], "--quiet"]
try:
    runpy.run_module("ingest", run_name="__main__")
except SystemExit as done:
    assert not done.code, done.code
print("RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_python(code: str, *args: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (the project on its path); its standard output."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def peak_rss_mb(corpus: Path, index: Path) -> tuple[float, float]:
    """Peak RSS of the ingest process and of its largest parse worker, in MB."""
    out = run_python(RSS_PROBE, str(corpus), RAG_INDEX_DIR=str(index), RAG_COLLECTION="bench-rss")
    main, worker = out.split("RSS_KB")[-1].split()
    return int(main) / 1024, int(worker) / 1024


def one_round(corpus: Path, index: Path, collection: str) -> dict[str, float]:
    """A timed ingest and a timed raw encode of its chunks, in a fresh process."""
    out = run_python(ROUND, str(ROOT), str(corpus), str(index), collection)
    figures: dict[str, float] = json.loads(out.split("ROUND", 1)[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=170)
    parser.add_argument("--sections", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5, help="ingest + encode pairs (median)")
    parser.add_argument("--no-rss", action="store_true", help="skip the 1x/5x peak-RSS runs")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--real", type=Path, default=REAL_PDFS, help="folder of real PDFs (pages/s)")
    parser.add_argument("--real-only", action="store_true", help="only the real-PDF figures")
    args = parser.parse_args()
    if args.real_only:
        settings = load_settings(ROOT / "settings.yaml", models_dir=ROOT / "data" / "models")
        embedder = SentenceTransformerEmbedder(model_path(settings), settings.embedding_batch_size)
        work = Path(tempfile.mkdtemp(prefix="bench-real-"))
        for name, value in real_pdf_figures(args.real, embedder, work).items():
            print(f"{name:<38}  {value}")
        shutil.rmtree(work, ignore_errors=True)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    corpus = work / "corpus"
    generate(corpus, args.files, args.sections)
    settings = load_settings(
        ROOT / "settings.yaml",
        index_dir=work / "index",
        collection="bench",
        models_dir=ROOT / "data" / "models",
    )
    embedder = SentenceTransformerEmbedder(model_path(settings), settings.embedding_batch_size)
    embedder.embed(["warm up"] * 8)

    rounds = []
    for number in range(max(1, args.rounds)):
        rounds.append(one_round(corpus, settings.index_dir, f"bench-{number}"))
        ingest, encode = rounds[-1]["ingest"], rounds[-1]["encode"]
        print(
            f"round {number + 1}: ingest {ingest:.1f} s, encode {encode:.1f} s, ratio {encode / ingest:.3f}"
        )
    rounds.sort(key=lambda r: r["encode"] / r["ingest"])
    ratios = [r["encode"] / r["ingest"] for r in rounds]
    median = rounds[len(rounds) // 2]
    first, raw, chunks = median["ingest"], median["encode"], int(median["chunks"])
    settings = settings.model_copy(update={"collection": "bench-0"})
    store = ChromaStore(settings.index_dir, settings.collection)
    data = store.get()
    texts = [
        embed_text(m["title"], m["heading_path"], d)
        for d, m in zip(data["documents"], data["metadatas"], strict=True)
    ]

    # the faster backend against torch measured right before it (not against a round minutes ago)
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True)
    torch_seconds = time.perf_counter() - started
    # calibrated on the corpus, as at ingestion (its first call quantizes and caches the model)
    fast = OpenVinoEmbedder(model_path(settings), work / "exported", settings.embedding_batch_size)
    fast.embed(texts)
    started = time.perf_counter()
    fast.embed(texts)
    fast_seconds = time.perf_counter() - started

    started = time.perf_counter()
    again = sync_folder(settings, corpus, embedder=embedder)
    reingest = time.perf_counter() - started
    assert again.chunks_written == 0 and len(again.unchanged) == median["files"]

    figures: dict[str, float | int | str] = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "files": int(median["files"]),
        "chunks": chunks,
        "end_to_end_chunks_per_s": round(chunks / first, 1),
        "raw_encode_chunks_per_s": round(chunks / raw, 1),
        "pipeline_to_encode_ratio": round(raw / first, 3),
        "ratio_lowest_highest": f"{ratios[0]:.3f} .. {ratios[-1]:.3f} ({len(ratios)} rounds)",
        "ratio_of_summed_times": round(
            sum(r["encode"] for r in rounds) / sum(r["ingest"] for r in rounds), 3
        ),
        "openvino_int8_chunks_per_s": round(chunks / fast_seconds, 1),
        "openvino_int8_speedup": round(torch_seconds / fast_seconds, 2),
        "reingest_unchanged_seconds": round(reingest, 2),
        "reingest_share_of_first": round(reingest / first, 4),
    }
    if args.real.is_dir():
        figures.update(real_pdf_figures(args.real, embedder, work))
    else:
        print(f"no real PDFs at {args.real}: pass --real DIR for the real-PDF figures")
    if not args.no_rss:
        big = work / "corpus-5x"
        generate(big, args.files * 5, args.sections, seed=11)
        one, one_worker = peak_rss_mb(corpus, work / "rss-1x")
        five, five_worker = peak_rss_mb(big, work / "rss-5x")
        figures["peak_rss_mb_1x"] = round(one, 1)
        figures["peak_rss_mb_5x"] = round(five, 1)
        figures["rss_growth_5x"] = round(five / one - 1, 3)
        figures["parse_worker_peak_rss_mb_1x"] = round(one_worker, 1)
        figures["parse_worker_peak_rss_mb_5x"] = round(five_worker, 1)

    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
