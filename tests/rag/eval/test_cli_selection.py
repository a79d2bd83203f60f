"""Which sets `python -m rag.eval` runs for its arguments: `--beir DIR` alone scores only DIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.core.settings import PROJECT_ROOT, load_settings
from rag.eval import __main__ as cli
from rag.eval.runner import QA_SETS

SAMPLE_BEIR = PROJECT_ROOT / "data" / "eval" / "sample_beir"
ALL_QA = list(QA_SETS)
DEFAULT_BEIR = [folder for folder in cli.BEIR_SETS.values() if folder.is_dir()]  # those present


@pytest.mark.unit
@pytest.mark.parametrize(
    ("argv", "qa_names", "beir"),
    [
        ([], ALL_QA, DEFAULT_BEIR),
        (["--beir", "b1"], [], [Path("b1")]),
        (["--beir", "b1", "b2"], [], [Path("b1"), Path("b2")]),
        (["--beir", "b1", "--sets", "sample"], ["sample"], [Path("b1")]),
        (["--sets", "sample", "--beir", "b1"], ["sample"], [Path("b1")]),
        (["--beir", "b1", "--sets"], [], [Path("b1")]),  # the old docstring's spelling still works
        (["--beir"], ALL_QA, []),  # no folder: the QA sets only
        (["--sets", "squad2-dev"], ["squad2-dev"], []),
        (["--sets"], [], []),
        (["--qa", "mine.jsonl"], [], []),
        (["--qa", "mine.jsonl", "--beir", "b1"], [], [Path("b1")]),
    ],
)
def test_the_sets_that_run_for_each_argument_combination(
    argv: list[str], qa_names: list[str], beir: list[Path]
) -> None:
    args = cli._parser().parse_args(argv)
    assert cli._qa_names(args) == qa_names
    assert cli._beir_dirs(args) == beir


@pytest.mark.unit
def test_own_qa_set_runs_beside_beir_folders(tmp_path: Path) -> None:
    settings = load_settings(PROJECT_ROOT / "settings.yaml")
    only_beir = cli._parser().parse_args(["--beir", str(SAMPLE_BEIR)])
    assert cli._qa_sets(only_beir, settings) == {}
    own = cli._parser().parse_args(["--qa", str(tmp_path / "mine.jsonl"), "--beir", str(SAMPLE_BEIR)])
    assert cli._qa_sets(own, settings) == {"mine": (tmp_path / "mine.jsonl", settings.corpus_dir)}


@pytest.mark.unit
def test_a_bad_setting_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_CHUNK_SIZE", "abc")
    assert cli.main(["--beir", str(SAMPLE_BEIR)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "RAG_CHUNK_SIZE" in err and err.count("\n") == 1


@pytest.mark.integration
def test_beir_alone_scores_only_that_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_qa(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("--beir DIR alone must not run a QA set")

    monkeypatch.setattr(cli, "run_qa_set", no_qa)
    monkeypatch.setenv("RAG_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "hash")  # no model to load: seconds, not minutes
    monkeypatch.setenv("RAG_LLM_MODE", "fake")
    monkeypatch.setenv("RAG_PARSE_WORKERS", "0")  # 42 small files: no worker processes to start
    assert cli.main(["--beir", str(SAMPLE_BEIR)]) == 0
    out = capsys.readouterr().out
    assert "## retrieval: sample_beir" in out and "answer accuracy" not in out
    latest = json.loads((tmp_path / "reports" / "latest.json").read_text())["folder"]
    report = json.loads((tmp_path / "reports" / latest / "report.json").read_text())
    assert report["sets"] == {} and set(report["beir"]) == {"sample_beir"}
    assert all(0.0 <= v <= 1.0 for row in report["beir"]["sample_beir"].values() for v in row.values())
