"""The import-linter contracts of pyproject.toml (run by `make lint`) hold, and they catch a break.

Each case copies the packages to a temporary folder, adds one forbidden import, and runs
``lint-imports`` there: it must fail and name the broken contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(folder / "pyproject.toml")],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy(tmp_path: Path) -> Path:
    for package in ("rag", "ingest", "app"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("rag/core/text.py", "import streamlit", "The engine never imports the UI"),
        ("rag/index/store.py", "import app.helpers", "The engine never imports the UI"),
        (
            "app/helpers.py",
            "from rag.index.store import ChromaStore",
            "Entry points import only the public rag API",
        ),
        ("app/helpers.py", "import chromadb", "Entry points import only the public rag API"),
        ("rag/server/app.py", "from rag.api import Assistant", "Entry points import only the public rag API"),
        ("ingest/chunking.py", "import rag.answer.passages", "Ingestion and answering do not import"),
        ("rag/answer/passages.py", "import ingest.loaders", "Ingestion and answering do not import"),
        ("rag/core/schema.py", "import rag.api", "Layers"),
        ("ingest/sync.py", "from rag.index.keyword import KeywordIndex", "Chroma and BM25 only through"),
        ("rag/answer/retrieval.py", "import chromadb", "Chroma and BM25 only through"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    folder = copy(tmp_path)
    target = folder / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = lint(folder)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), done.stdout
