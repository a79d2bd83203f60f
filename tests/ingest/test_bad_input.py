"""Bad input: each file reported by name with a specific reason, the run goes on, nothing is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest import sync_folder
from rag.core.settings import PROJECT_ROOT
from rag.index.store import ChromaStore
from tests.helpers.badfiles import (
    EXPECTED_FAILURES,
    EXPECTED_SKIPS,
    EXPECTED_WARNINGS,
    HUGE_LIMIT_MB,
    make_bad_corpus,
)

pytestmark = pytest.mark.integration


def test_bad_files_are_reported_and_good_ones_kept(
    make_settings: Any, sample_copy: Path, embedder: Any, tmp_path: Path
) -> None:
    settings = make_settings(max_file_size_mb=HUGE_LIMIT_MB)
    first = sync_folder(settings, sample_copy, embedder=embedder)
    assert not first.failed
    store = ChromaStore(settings.index_dir, settings.collection)
    indexed_before = store.sources()

    make_bad_corpus(sample_copy, outside=tmp_path / "outside")
    # a document that was fine is now damaged: its indexed chunks must survive
    (sample_copy / "it_security_policy.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(2048))

    report = sync_folder(settings, sample_copy, embedder=embedder)
    reasons = {p.source: p.reason for p in report.failed}
    expected = {**EXPECTED_FAILURES, "it_security_policy.pdf": "damaged PDF"}
    assert set(reasons) == set(expected), reasons
    for name, fragment in expected.items():
        assert fragment in reasons[name], (name, reasons[name])
    assert {p.source: p.reason for p in report.skipped} == EXPECTED_SKIPS
    warnings = {p.source: p.reason for p in report.warnings}
    for name, fragment in EXPECTED_WARNINGS.items():
        assert fragment in warnings[name]
    assert report.added == ["latin1.txt"] and report.exit_code == 2

    after = store.sources()
    assert {k: v for k, v in after.items() if k != "latin1.txt"} == indexed_before  # nothing lost
    latin = store.get(where={"source": "latin1.txt"})["documents"]
    assert "crème brûlée costs £5" in latin[0]
    assert "hunter2" not in "\n".join(store.get()["documents"])  # nothing read through the symlink


def test_the_cli_exits_2_when_some_files_failed(make_settings: Any, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# Parking\n\nThere are 40 parking spaces.\n")
    (corpus / "broken.pdf").write_bytes(os.urandom(500))
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_COLLECTION": "cli-test"}
    result = subprocess.run(
        [sys.executable, "-m", "ingest", str(corpus), "--quiet"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "failed: broken.pdf: not a valid PDF file" in result.stdout
    assert "added 1," in result.stdout

    missing = subprocess.run(
        [sys.executable, "-m", "ingest", str(tmp_path / "nope")],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and "corpus folder not found" in missing.stderr


@pytest.mark.slow
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    """As root every file is readable, so the run drops the capabilities that bypass permissions."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# Parking\n\nThere are 40 parking spaces.\n")
    secret = corpus / "locked.md"
    secret.write_text("# Locked\n\nNobody may read this.\n")
    secret.chmod(0o000)
    command = [sys.executable, "-m", "ingest", str(corpus), "--quiet"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file-permission override"
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_COLLECTION": "perm-test"}
    result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed: locked.md: unreadable: permission denied" in result.stdout
    assert "added 1," in result.stdout
