"""Pre-parse checks on generated files (fast: no parsing, no models)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from ingest.checks import UnusableFile, check_file
from ingest.sync import scan_folder
from rag.core.settings import PROJECT_ROOT, load_settings
from tests.helpers.badfiles import zip_bomb

pytestmark = pytest.mark.unit


@pytest.fixture
def settings() -> Any:
    return load_settings(PROJECT_ROOT / "settings.yaml", max_file_size_mb=1)


def reason(path: Path, root: Path, settings: Any) -> str:
    with pytest.raises(UnusableFile) as problem:
        check_file(path, root, settings)
    return problem.value.reason


def test_size_and_magic_checks(tmp_path: Path, settings: Any) -> None:
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "b.pdf").write_bytes(b"hello, not a pdf")
    (tmp_path / "c.pptx").write_bytes(b"PK but not really a zip")
    (tmp_path / "d.txt").write_bytes(b"x" * (2 * 1024 * 1024))
    assert reason(tmp_path / "a.txt", tmp_path, settings) == "empty file (0 bytes)"
    assert reason(tmp_path / "b.pdf", tmp_path, settings).startswith("not a valid PDF file")
    assert reason(tmp_path / "c.pptx", tmp_path, settings) == "not a valid PPTX file: it is not a zip archive"
    assert "file too large: 2.0 MiB is over the limit of 1 MiB" in reason(
        tmp_path / "d.txt", tmp_path, settings
    )


def test_zip_bombs_and_non_office_zips(tmp_path: Path, settings: Any) -> None:
    (tmp_path / "bomb.xlsx").write_bytes(zip_bomb())
    assert "possible zip bomb" in reason(tmp_path / "bomb.xlsx", tmp_path, settings)
    with zipfile.ZipFile(tmp_path / "plain.docx", "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "without Office content types" in reason(tmp_path / "plain.docx", tmp_path, settings)


def test_symlinks(tmp_path: Path, settings: Any) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.md").write_text("# x\n")
    (root / "inside.md").write_text("# y\n")
    (root / "out.md").symlink_to(tmp_path / "outside.md")
    (root / "in.md").symlink_to(root / "inside.md")
    (root / "loop.md").symlink_to(root / "loop.md")
    (root / "dangling.md").symlink_to(root / "gone.md")
    assert "outside the corpus root" in reason(root / "out.md", root, settings)
    assert "symlink loop" in reason(root / "loop.md", root, settings)
    assert "broken symlink" in reason(root / "dangling.md", root, settings)
    check_file(root / "in.md", root, settings)  # a link inside the root is fine


def test_scan_skips_hidden_lock_and_unsupported_files(tmp_path: Path, settings: Any) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("no")
    (tmp_path / "~$report.docx").write_bytes(b"lock")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "sub" / "a.md").write_text("# a")
    (tmp_path / "b.PDF").write_bytes(b"%PDF-")
    (tmp_path / "c.exe").write_bytes(b"MZ")
    (tmp_path / "linked").symlink_to(tmp_path / "sub")
    found, skipped = scan_folder(tmp_path, settings)
    assert [source for source, _ in found] == ["b.PDF", "sub/a.md"]
    assert {(p.source, p.reason) for p in skipped} == {
        ("c.exe", "unsupported file type .exe"),
        ("linked", "symlinked folder not followed"),
    }
