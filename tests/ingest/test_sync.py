"""Incremental sync against a real Chroma on a temp dir with the real bundled embedder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import ingest.writer as writer_module
from ingest import IngestError, sync_folder
from rag.core.schema import embed_text
from rag.index.embeddings import count_tokens
from rag.index.store import ChromaStore
from tests.helpers.index_checks import assert_consistent, stored

pytestmark = pytest.mark.integration
SAMPLE_FILES = 9


def test_first_ingest_indexes_every_sample_document(
    make_settings: Any, sample_copy: Path, embedder: Any
) -> None:
    settings = make_settings()
    report = sync_folder(settings, sample_copy, embedder=embedder)
    assert len(report.added) == SAMPLE_FILES and not report.failed and report.exit_code == 0
    data = stored(settings)
    assert report.chunks_written == len(data["ids"]) > SAMPLE_FILES
    metas = {m["source"]: m for m in data["metadatas"]}
    assert set(metas) == {p.name for p in sample_copy.iterdir()}
    for meta in data["metadatas"]:
        assert {"source", "file_hash", "chunk_index", "title", "heading_path", "page"} <= set(meta)
    pdf_pages = {m["page"] for m in data["metadatas"] if m["source"] == "it_security_policy.pdf"}
    assert pdf_pages == {1, 2, 3, 4}
    for text, meta in zip(data["documents"], data["metadatas"], strict=True):
        embedded = embed_text(meta["title"], meta["heading_path"], text)
        assert count_tokens(embedder.tokenizer, embedded) <= embedder.max_tokens
    assert_consistent(settings, sample_copy)


def test_search_finds_the_right_page(make_settings: Any, sample_copy: Path, embedder: Any) -> None:
    settings = make_settings()
    sync_folder(settings, sample_copy, embedder=embedder)
    store = ChromaStore(settings.index_dir, settings.collection)
    (hit,) = store.query(embedder.embed(["What error does the VPN show when the account is locked?"])[0], k=1)
    assert hit.source == "it_security_policy.pdf" and hit.page == 3 and "SEC-4012" in hit.text
    (hit,) = store.query(embedder.embed(["Who is the chief technology officer?"])[0], k=1)
    assert hit.source == "company_overview.pptx" and hit.page == 3


def test_unchanged_files_are_not_parsed_again(
    make_settings: Any, sample_copy: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    sync_folder(settings, sample_copy, embedder=embedder)
    calls: list[Path] = []
    real_parse = writer_module.parse_file
    monkeypatch.setattr(writer_module, "MIN_FILES_FOR_POOL", 10_000)  # a parse would happen here
    monkeypatch.setattr(writer_module, "parse_file", lambda p, s: calls.append(p) or real_parse(p, s))
    report = sync_folder(settings, sample_copy, embedder=embedder)
    assert len(report.unchanged) == SAMPLE_FILES and report.chunks_written == 0 and calls == []


def test_modify_add_delete(make_settings: Any, sample_copy: Path, embedder: Any) -> None:
    settings = make_settings()
    sync_folder(settings, sample_copy, embedder=embedder)
    before = len(stored(settings)["ids"])
    handbook = sample_copy / "employee_handbook.md"
    handbook.write_text(
        handbook.read_text().replace("27 days", "29 days") + "\n## Bikes\n\nBike racks are on level -1.\n"
    )
    (sample_copy / "sub").mkdir()
    (sample_copy / "sub" / "faq.md").write_text("# FAQ\n\nThe canteen opens at 11:45.\n")
    (sample_copy / "travel_per_diem.csv").unlink()

    preview = sync_folder(settings, sample_copy, dry_run=True)
    assert (preview.added, preview.updated, preview.deleted) == (
        ["sub/faq.md"],
        ["employee_handbook.md"],
        ["travel_per_diem.csv"],
    )
    assert len(stored(settings)["ids"]) == before  # a dry run changes nothing

    report = sync_folder(settings, sample_copy, embedder=embedder)
    assert report.added == ["sub/faq.md"]
    assert report.updated == ["employee_handbook.md"]
    assert report.deleted == ["travel_per_diem.csv"]
    assert len(report.unchanged) == SAMPLE_FILES - 2
    data = stored(settings)
    texts = "\n".join(data["documents"])
    assert "29 days" in texts and "27 days" not in texts and "Bike racks" in texts
    assert "Singapore" not in texts and "canteen opens at 11:45" in texts
    assert_consistent(settings, sample_copy)


def test_changing_chunk_settings_rechunks_everything(
    make_settings: Any, sample_copy: Path, embedder: Any
) -> None:
    sync_folder(make_settings(), sample_copy, embedder=embedder)
    settings = make_settings(chunk_size=64, chunk_overlap=8)
    report = sync_folder(settings, sample_copy, embedder=embedder)
    assert len(report.updated) == SAMPLE_FILES and report.chunks_deleted > 0
    assert_consistent(settings, sample_copy)


def test_reset_rebuilds_from_scratch(make_settings: Any, sample_copy: Path, embedder: Any) -> None:
    settings = make_settings()
    sync_folder(settings, sample_copy, embedder=embedder)
    count = len(stored(settings)["ids"])
    report = sync_folder(settings, sample_copy, reset=True, embedder=embedder)
    assert len(report.added) == SAMPLE_FILES and len(stored(settings)["ids"]) == count


def test_collections_are_independent(
    make_settings: Any, sample_copy: Path, embedder: Any, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(sample_copy / "employee_handbook.md", other)
    sync_folder(make_settings(collection="first"), sample_copy, embedder=embedder)
    report = sync_folder(make_settings(collection="second"), other, embedder=embedder)
    assert report.added == ["employee_handbook.md"]
    assert {m["source"] for m in stored(make_settings(collection="second"))["metadatas"]} == {
        "employee_handbook.md"
    }
    assert len({m["source"] for m in stored(make_settings(collection="first"))["metadatas"]}) == SAMPLE_FILES


def test_a_bad_corpus_path_is_an_error(make_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="corpus folder not found"):
        sync_folder(make_settings(), tmp_path / "missing")


def test_an_unwritable_index_is_an_error(make_settings: Any, sample_copy: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(IngestError, match="not writable"):
        sync_folder(make_settings(index_dir=blocker / "index"), sample_copy)


def test_an_index_built_with_another_embedder_asks_for_reset(
    make_settings: Any, sample_copy: Path, embedder: Any
) -> None:
    sync_folder(make_settings(), sample_copy, embedder=embedder)
    with pytest.raises(IngestError, match="--reset"):
        sync_folder(make_settings(embedding_backend="onnx"), sample_copy)


def test_parse_workers_and_in_process_parsing_agree(
    make_settings: Any, sample_copy: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pooled = make_settings(collection="pooled")
    sync_folder(pooled, sample_copy, embedder=embedder)  # 9 files: forked parse workers
    monkeypatch.setattr(writer_module, "MIN_FILES_FOR_POOL", 10_000)
    inline = make_settings(collection="inline")
    sync_folder(inline, sample_copy, embedder=embedder)
    a, b = stored(pooled), stored(inline)
    assert sorted(zip(a["ids"], a["documents"], strict=True)) == sorted(
        zip(b["ids"], b["documents"], strict=True)
    )


def test_many_windows_with_failures_and_updates_agree_with_inline_parsing(
    make_settings: Any, tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several parse windows (workers parse one while the previous one is written), small write
    batches, a broken file in the middle, then an update: same index as parsing in-process."""

    from ingest.synthetic import generate

    corpus = tmp_path / "corpus"
    generate(corpus, writer_module.FIRST_WINDOW + writer_module.PARSE_WINDOW + 5, 2)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    monkeypatch.setattr(writer_module, "WRITE_CHUNKS", 8)  # several writes per window
    files = sum(1 for p in corpus.rglob("*") if p.is_file())

    def sync(name: str) -> Any:
        pool_minimum = writer_module.MIN_FILES_FOR_POOL if name == "pooled" else 10_000
        with monkeypatch.context() as patch:
            patch.setattr(writer_module, "MIN_FILES_FOR_POOL", pool_minimum)
            return sync_folder(
                make_settings(collection=name, embedding_batch_size=8), corpus, embedder=embedder
            )

    for name in ("pooled", "inline"):
        first = sync(name)
        assert [f.source for f in first.failed] == ["broken.pdf"]
        assert len(first.added) == files - 1
        assert first.chunks_written == len(stored(make_settings(collection=name))["ids"])
    changed = sorted(p for p in corpus.rglob("*.md"))[:10]
    for path in changed:
        path.write_text(path.read_text() + "\n\nAddendum: the policy owner is Dana Whitfield.\n")
    reports = {}
    for name in ("pooled", "inline"):
        again = sync(name)
        assert len(again.updated) == len(changed) and again.chunks_deleted > 0
        settings = make_settings(collection=name)
        assert_consistent(settings, corpus)
        reports[name] = stored(settings)
    a, b = reports["pooled"], reports["inline"]
    assert sorted(zip(a["ids"], a["documents"], strict=True)) == sorted(
        zip(b["ids"], b["documents"], strict=True)
    )


def test_chunk_text_lives_in_the_metadata_and_older_indexes_read_the_same(
    make_settings: Any, sample_copy: Path, embedder: Any
) -> None:
    """Text is no longer written as a Chroma document (its full-text index doubled every write);
    a collection written the older way, text as documents, reads and searches the same."""
    import numpy as np

    from rag.index.records import TEXT_KEY

    settings = make_settings()
    sync_folder(settings, sample_copy, embedder=embedder)
    store = ChromaStore(settings.index_dir, settings.collection)
    raw = store._collection.get(include=["documents", "metadatas", "embeddings"])
    assert all(d is None for d in raw["documents"]) and all(TEXT_KEY in m for m in raw["metadatas"])
    new = store.get()
    assert all(TEXT_KEY not in m for m in new["metadatas"]) and all(new["documents"])

    old = ChromaStore(settings.index_dir, "older-layout")
    old._collection.add(
        ids=raw["ids"],
        embeddings=np.asarray(raw["embeddings"]),
        documents=[m[TEXT_KEY] for m in raw["metadatas"]],
        metadatas=[{k: v for k, v in m.items() if k != TEXT_KEY} for m in raw["metadatas"]],
    )
    assert sorted(zip(old.get()["ids"], old.get()["documents"], strict=True)) == sorted(
        zip(new["ids"], new["documents"], strict=True)
    )
    question = embedder.embed(["What error does the VPN show when the account is locked?"])[0]
    assert old.query(question, k=3) == store.query(question, k=3)
    assert "SEC-4012" in store.query(question, k=1)[0].text


@pytest.mark.integration
def test_the_serial_path_indexes_the_same_chunks_as_the_fast_path(
    make_settings: Any, sample_copy: Path, embedder: Any
) -> None:
    """``parse_workers: 0`` (in process, no fork, no patched unstructured) and the default fast path
    (parse workers, the narrative check trimmed) write the same chunks."""
    fast = make_settings(collection="fast-path")
    serial = make_settings(collection="serial-path", parse_workers=0)
    for settings in (fast, serial):
        report = sync_folder(settings, sample_copy, embedder=embedder)
        assert not report.failed and len(report.added) == 9

    def chunks(settings: Any) -> dict[str, tuple[str, str]]:
        data = stored(settings)
        return {
            meta["source"] + f"#{meta['chunk_index']}": (text, meta["heading_path"])
            for text, meta in zip(data["documents"], data["metadatas"], strict=True)
        }

    assert chunks(serial) == chunks(fast)
