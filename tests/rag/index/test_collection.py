"""Nothing lost: crash-safe delete, an index that heals itself, no mass delete by accident, a
rebuilt collection reopened, an atomic keyword index swap (issue 12, points 1-3, 9, 11)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from ingest import IngestError, sync_folder
from ingest.manifest import Manifest
from rag import Assistant
from rag.core.settings import PROJECT_ROOT
from rag.index.keyword import KeywordIndex, keyword_dir, live_folder
from rag.index.store import ChromaStore, forget_client
from tests.helpers.index_checks import assert_consistent

pytestmark = pytest.mark.integration
SAMPLE_FILES = 9


def fresh_store(settings: Any) -> ChromaStore:
    """A store opened anew (Chroma caches one client per path; another process changed the files)."""
    forget_client(settings.index_dir)
    return ChromaStore(settings.index_dir, settings.collection)


def cli_env(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_COLLECTION": settings.collection}


def ingest_cli(settings: Any, corpus: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", str(corpus), "--quiet", *args],
        env=cli_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def indexed(make_settings: Any, sample_copy: Path, embedder: Any) -> tuple[Any, Path, dict[str, int]]:
    settings = make_settings(collection="heal-test")
    report = sync_folder(settings, sample_copy, embedder=embedder)
    assert len(report.added) == SAMPLE_FILES
    return settings, sample_copy, ChromaStore(settings.index_dir, settings.collection).sources()


# --- 1. delete follows the pending-first protocol ------------------------------------------------


def test_a_delete_killed_after_the_chunks_went_is_restored_by_the_next_ingest(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, corpus, before = indexed
    from ingest import sync as sync_module

    def killed(self: Manifest, source: str) -> None:
        raise KeyboardInterrupt("killed between the chunk delete and the manifest update")

    with monkeypatch.context() as patch:
        patch.setattr(Manifest, "remove", killed)
        with pytest.raises(KeyboardInterrupt):
            sync_module.remove_document(settings, "employee_handbook.md")
    assert "employee_handbook.md" not in ChromaStore(settings.index_dir, settings.collection).sources()
    report = sync_folder(settings, corpus, embedder=embedder)
    assert "employee_handbook.md" in report.updated
    assert ChromaStore(settings.index_dir, settings.collection).sources() == before
    assert_consistent(settings, corpus)


@pytest.mark.slow
def test_kill_9_during_deletes_at_random_moments_loses_nothing(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any
) -> None:
    settings, corpus, before = indexed
    script = textwrap.dedent(
        f"""
        import sys
        from rag import Assistant, load_settings
        settings = load_settings(index_dir={str(settings.index_dir)!r}, collection={settings.collection!r})
        assistant = Assistant(settings)
        sources = sorted(assistant.sources())
        print("ready", flush=True)
        for source in sources:
            assistant.delete(source)
        print("done", flush=True)
        """
    )
    rng = random.Random(12)
    outcomes = []
    for delay in [rng.uniform(0.05, 1.5) for _ in range(4)]:
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(settings),
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.wait()
        outcomes.append(process.returncode)
        report = sync_folder(settings, corpus, embedder=embedder)
        assert not report.failed
        assert fresh_store(settings).sources() == before, f"lost documents after a kill at {delay:.2f} s"
        assert_consistent(settings, corpus)
    assert -signal.SIGKILL in outcomes  # at least one run was really killed mid-way


# --- 2. a damaged index is found and repaired, or named with its fix -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["deleted", "zeroed"])
def test_a_lost_chroma_database_is_rebuilt_by_the_next_ingest(
    indexed: tuple[Any, Path, dict[str, int]], damage: str
) -> None:
    settings, corpus, before = indexed
    database = settings.index_dir / "chroma.sqlite3"
    if damage == "deleted":
        database.unlink()
    else:
        database.write_bytes(b"")
    run = ingest_cli(settings, corpus)
    assert run.returncode == 0, run.stderr
    assert "repaired" in run.stdout and "unchanged 9" not in run.stdout
    assert fresh_store(settings).sources() == before
    assistant = Assistant(settings)
    assert assistant.retrieve("How long are backups retained?", k=3)


@pytest.mark.slow
def test_a_truncated_chroma_database_is_one_clear_message_and_reset_rebuilds_it(
    indexed: tuple[Any, Path, dict[str, int]],
) -> None:
    settings, corpus, before = indexed
    database = settings.index_dir / "chroma.sqlite3"
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 2])
    run = ingest_cli(settings, corpus)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert (
        str(database) in run.stderr and "--reset" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    )
    asked = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "How long are backups retained?"],
        env=cli_env(settings), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert asked.returncode == 1 and "Traceback" not in asked.stderr and "--reset" in asked.stderr
    rebuilt = ingest_cli(settings, corpus, "--reset")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert fresh_store(settings).sources() == before


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "stamp"])
def test_a_damaged_keyword_index_never_breaks_answering_and_ingest_rebuilds_it(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any, damage: str
) -> None:
    settings, corpus, _ = indexed
    folder = live_folder(settings.index_dir, settings.collection)
    assert folder is not None
    if damage == "stamp":
        (folder / "stamp.json").write_text("{garbled")
    else:
        for file in folder.iterdir():
            if file.suffix in (".npz", ".npy", ".json", ".jsonl") and file.name != "stamp.json":
                data = file.read_bytes()
                file.write_bytes(b"" if damage == "zeroed" else data[: len(data) // 3])
    assistant = Assistant(settings, embedder=embedder)
    hits = assistant.retrieve("How long are backups retained?", k=3)  # dense alone, no traceback
    assert hits and hits[0].source == "it_security_policy.pdf"
    report = sync_folder(settings, corpus, embedder=embedder)
    assert report.exit_code == 0
    rebuilt = KeywordIndex.load(settings.index_dir, settings.collection)
    assert rebuilt is not None and rebuilt.search("SEC-4012", k=3)


def test_a_garbage_manifest_is_moved_aside_and_rebuilt(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any
) -> None:
    settings, corpus, before = indexed
    manifest = settings.index_dir / "manifest.sqlite3"
    for extra in ("-wal", "-shm"):
        manifest.with_name(manifest.name + extra).unlink(missing_ok=True)
    manifest.write_bytes(os.urandom(8192))
    report = sync_folder(settings, corpus, embedder=embedder)
    assert any("manifest.sqlite3" in w.source and "damaged" in w.reason for w in report.warnings)
    assert (settings.index_dir / "manifest.sqlite3.damaged").exists()
    assert ChromaStore(settings.index_dir, settings.collection).sources() == before
    assert_consistent(settings, corpus)
    again = sync_folder(settings, corpus, embedder=embedder)
    assert len(again.unchanged) == SAMPLE_FILES and not again.warnings


# --- 3. an empty folder does not wipe the collection ---------------------------------------------


def test_an_empty_folder_does_not_delete_the_collection(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any, tmp_path: Path
) -> None:
    settings, _, before = indexed
    empty = tmp_path / "unmounted-share"
    empty.mkdir()
    with pytest.raises(IngestError) as caught:
        sync_folder(settings, empty, embedder=embedder)
    assert "9 of the 9" in str(caught.value) and "--allow-mass-delete" in str(caught.value)
    assert ChromaStore(settings.index_dir, settings.collection).sources() == before
    report = sync_folder(settings, empty, embedder=embedder, allow_mass_delete=True)
    assert len(report.deleted) == SAMPLE_FILES
    assert ChromaStore(settings.index_dir, settings.collection).count() == 0


@pytest.mark.slow
def test_the_cli_refuses_mass_delete_with_exit_1(
    indexed: tuple[Any, Path, dict[str, int]], tmp_path: Path
) -> None:
    settings, _, before = indexed
    empty = tmp_path / "empty"
    empty.mkdir()
    run = ingest_cli(settings, empty)
    assert run.returncode == 1 and "refusing to delete 9" in run.stderr and "Traceback" not in run.stderr
    assert fresh_store(settings).sources() == before


# --- 9. a collection rebuilt elsewhere is reopened ------------------------------------------------


@pytest.mark.slow
def test_running_assistant_survives_a_reset_by_another_process(
    indexed: tuple[Any, Path, dict[str, int]], embedder: Any
) -> None:
    settings, corpus, _ = indexed
    assistant = Assistant(settings, embedder=embedder)
    assert assistant.retrieve("How long are backups retained?", k=3)
    run = ingest_cli(settings, corpus, "--reset")
    assert run.returncode == 0, run.stderr
    hits = assistant.retrieve("How long are backups retained?", k=3)
    assert hits and hits[0].source == "it_security_policy.pdf"
    assert assistant.count() > 0 and len(assistant.sources()) == SAMPLE_FILES


# --- 11. the keyword index switches atomically ----------------------------------------------------


def test_readers_always_see_a_whole_keyword_index_while_it_is_rebuilt(
    indexed: tuple[Any, Path, dict[str, int]],
) -> None:
    settings, _, _ = indexed
    store = ChromaStore(settings.index_dir, settings.collection)
    stop = threading.Event()
    errors: list[str] = []
    missing = calls = 0
    lock = threading.Lock()

    def read() -> None:
        nonlocal missing, calls
        while not stop.is_set():
            try:
                index = KeywordIndex.load(settings.index_dir, settings.collection)
                found = index.search("YubiKey", k=3) if index is not None else []
                with lock:
                    calls += 1
                    missing += index is None or not found
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(25):
            KeywordIndex.build(store, settings.index_dir)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert calls > 25
    assert not errors, errors[:5]
    assert missing == 0
    versions = [p for p in keyword_dir(settings.index_dir, settings.collection).iterdir() if p.is_dir()]
    assert len(versions) <= 2  # old versions are cleaned up


def test_the_pointer_names_a_whole_version(indexed: tuple[Any, Path, dict[str, int]]) -> None:
    settings, _, _ = indexed
    folder = live_folder(settings.index_dir, settings.collection)
    assert folder is not None and (folder / "stamp.json").is_file()
    stamp = json.loads((folder / "stamp.json").read_text())
    assert stamp["chunks"] == ChromaStore(settings.index_dir, settings.collection).count()
    with sqlite3.connect(settings.index_dir / "manifest.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM files WHERE status = 'done'").fetchone()[0] == SAMPLE_FILES
