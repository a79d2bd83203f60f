"""Evaluation: metric correctness on hand-computed rankings, the QA metrics, the BEIR path through
real ingestion (fusion never worse than its better input on both eval sets), the QA gate on the
bundled model, reports and the Evaluation page."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rag.eval.beir import evaluate_beir, format_table, hybrid_of, load_beir, score_runs
from rag.eval.qa import ItemResult, contains_answer, load_qa, summarize, token_f1

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "fixtures" / "beir_tiny"
SAMPLE_BEIR = ROOT / "data" / "eval" / "sample_beir"
SAMPLE_QA = ROOT / "data" / "eval" / "sample_qa.jsonl"


@pytest.mark.unit
def test_metrics_match_a_hand_computed_ranking() -> None:
    qrels = {"q1": {"d1": 2, "d2": 1}, "q2": {"d4": 1, "d5": 1}}
    runs = {"run": {"q1": {"d2": 3.0, "d1": 2.0, "d3": 1.0}, "q2": {"d6": 3.0, "d7": 2.0, "d4": 1.0}}}
    got = score_runs(qrels, runs)["run"]
    # q1: DCG = (2^1-1)/log2(2) + (2^2-1)/log2(3); ideal = (2^2-1)/log2(2) + (2^1-1)/log2(3)
    q1 = (1 / math.log2(2) + 3 / math.log2(3)) / (3 / math.log2(2) + 1 / math.log2(3))
    # q2: one of two relevant documents, at rank 3
    q2 = (1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert got["ndcg_burges@10"] == pytest.approx((q1 + q2) / 2, abs=1e-6)
    assert got["recall@10"] == pytest.approx((1.0 + 0.5) / 2)
    assert got["mrr@10"] == pytest.approx((1.0 + 1 / 3) / 2)


@pytest.mark.unit
def test_beir_folders_are_read_and_checked(tmp_path: Path) -> None:
    data = load_beir(TINY)
    assert len(data.corpus) == 12 and len(data.queries) == 8 and data.qrels["q1"] == {"d1": 2, "d2": 1}
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "y"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("q\ta\t1\n")  # no header line
    assert load_beir(tmp_path).qrels == {"q": {"a": 1}}
    (tmp_path / "qrels" / "test.tsv").write_text("q\ta\t1\nother\ta\t1\n")  # "other" has no query
    assert load_beir(tmp_path).qrels == {"q": {"a": 1}}  # scored as a miss, it would halve every figure
    (tmp_path / "corpus.jsonl").write_text('{"_id": "a"}\n')
    with pytest.raises(ValueError, match=r"corpus.jsonl:1"):
        load_beir(tmp_path)


@pytest.mark.unit
def test_qa_metrics() -> None:
    assert token_f1("35 days [1]", "35 days") == 1.0
    assert token_f1("The limit is £180 per night", "£180") == pytest.approx(2 * (1 / 5) * 1 / (1 / 5 + 1))
    assert contains_answer("Ingrid  Solberg [1]", ["ingrid solberg"])
    rows = [
        ItemResult("a", "t", "q", True, "", "35 days [1]", False, True, 1.0, 1, True, 0.5),
        ItemResult("b", "t", "q", True, "", "I don't know", True, False, 0.0, 3, False, 0.2),
        ItemResult("c", "t", "q", False, "", "I don't know", True, False, 0.0, None, False, 0.1),
        ItemResult("d", "t", "q", False, "", "42", False, False, 0.0, None, False, 0.4),
    ]
    got = summarize({"t": rows}, k=5)["t"]
    assert got["hit@5"] == 1.0 and got["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert got["accuracy"] == 0.5 and got["citation_accuracy"] == 1.0
    assert got["refusal_rate"] == 0.5 and got["false_refusal_rate"] == 0.5


@pytest.mark.unit
def test_the_shipped_qa_set_covers_what_the_issue_asks() -> None:
    items = load_qa(SAMPLE_QA)
    kinds = {i.kind for i in items}
    assert len(items) >= 40 and sum(not i.answerable for i in items) >= 10
    assert {"pdf-page", "table", "slide", "email"} <= kinds
    assert all(i.page for i in items if i.kind in {"pdf-page", "slide"})


@pytest.mark.integration
@pytest.mark.parametrize("folder", [TINY, SAMPLE_BEIR], ids=["tiny-fixture", "sample-derived"])
def test_hybrid_is_never_worse_than_its_better_input(folder: Path, make_settings: Any, embedder: Any) -> None:
    table = evaluate_beir(folder, make_settings(), embedder=embedder)
    hybrid = hybrid_of(table)
    for metric in ("ndcg_burges@10", "mrr@10"):
        best_input = max(table["dense"][metric], table["keyword"][metric])
        assert hybrid[metric] >= best_input - 1e-9, format_table(table)
    assert "| keyword |" in format_table(table)


@pytest.mark.integration
@pytest.mark.slow
def test_arabic_held_out_retrieval(make_settings: Any, embedder: Any) -> None:
    """arcd-beir (Arabic, held out: nothing was fitted on it). Hybrid is not below keyword search,
    which carries this set (the English embedder cannot read Arabic). Floor: keyword 0.685, hybrid
    0.709 nDCG@10 measured 2026-11-30, less a margin; the issue's 0.75 is not reached (README)."""
    table = evaluate_beir(ROOT / "data" / "eval" / "arcd-beir", make_settings(), embedder=embedder)
    hybrid = hybrid_of(table)
    best_input = max(table["dense"]["ndcg_burges@10"], table["keyword"]["ndcg_burges@10"])
    assert hybrid["ndcg_burges@10"] >= best_input - 1e-9, format_table(table)
    assert table["keyword"]["ndcg_burges@10"] >= 0.65, format_table(table)
    assert hybrid["ndcg_burges@10"] >= 0.67, format_table(table)


@pytest.mark.integration
@pytest.mark.slow
def test_default_template_meets_the_quality_bar_on_the_sample(sample_assistant: Any) -> None:
    """The sample set's bar (issue 13: accuracy >= 0.85, refusal >= 0.8, false refusals <= 0.1).
    Nothing is fitted on this set any more: the refusal model and the gates come from the fit
    splits of squad2-dev and cmrc2018-dev, so these are held-out figures too."""
    from rag.eval.qa import evaluate

    items = load_qa(SAMPLE_QA)
    template = sample_assistant.settings.template
    got = summarize(evaluate(sample_assistant, items, [template]), k=sample_assistant.settings.top_k)[
        template
    ]
    assert got["hit@5"] >= 0.9, got
    assert got["accuracy"] >= 0.85, got
    assert got["citation_accuracy"] >= 0.8, got
    assert got["refusal_rate"] >= 0.8, got
    assert got["false_refusal_rate"] <= 0.1, got


@pytest.mark.integration
@pytest.mark.slow
def test_cli_writes_reports_and_the_page_shows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_assistant: Any
) -> None:
    import subprocess
    import sys

    from streamlit.testing.v1 import AppTest

    env = {"RAG_INDEX_DIR": str(tmp_path / "unused"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "rag.eval", "--sets", "sample", "squad2-dev", "--limit", "6",
         "--templates", "few_shot", "plain", "--beir", str(TINY), "--reports", str(tmp_path / "reports")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "## sample" in done.stdout and "## squad2-dev" in done.stdout
    assert "| answer accuracy |" in done.stdout and "## retrieval: beir_tiny" in done.stdout
    latest = json.loads((tmp_path / "reports" / "latest.json").read_text())["folder"]
    folder = tmp_path / "reports" / latest
    report = json.loads((folder / "report.json").read_text())
    assert set(report["sets"]) == {"sample", "squad2-dev"} and set(report["beir"]) == {"beir_tiny"}
    for name in ("sample", "squad2-dev"):
        found = report["sets"][name]
        assert set(found["summary"]) == {"few_shot", "plain"} and len(found["results"]["plain"]) == 6
        curve = found["curves"]["few_shot"]
        assert curve["points"] and 0 <= curve["operating"]["coverage"] <= 1
        for plot in ("metrics", "latency", "risk-coverage"):
            assert (folder / f"{name}-{plot}.png").stat().st_size > 1000, plot
    text = (folder / "report.md").read_text()
    assert "| metric | few_shot | plain |" in text and "risk-coverage.png" in text

    monkeypatch.setenv("RAG_REPORTS_DIR", str(tmp_path / "reports"))
    page = AppTest.from_file(str(ROOT / "app" / "evaluation.py"), default_timeout=60)
    page.run()
    assert not page.exception
    assert any("answer accuracy" in m.value for m in page.markdown)
    assert any("squad2-dev" in h.value for h in page.subheader)
    monkeypatch.setenv("RAG_REPORTS_DIR", str(tmp_path / "none"))
    empty = AppTest.from_file(str(ROOT / "app" / "evaluation.py"), default_timeout=60)
    empty.run()
    assert any("make eval" in i.value for i in empty.info)


SQUAD = ROOT / "data" / "eval" / "squad2-dev"
CMRC = ROOT / "data" / "eval" / "cmrc2018-dev"
SUBSAMPLE = 80  # squad2-dev held-out questions asked by the test (seeded; `make eval` asks all 200)
# Floors: the figures measured on these subsamples (2026-11-30: squad2-dev accuracy 0.673, refusal
# 0.32, false refusal 0.127; cmrc2018-dev accuracy 0.30, gold shown 0.85), less a margin.
SQUAD_FLOORS = {"accuracy": 0.6, "refusal_rate": 0.25}
SQUAD_MAX_FALSE_REFUSALS = 0.2
CMRC_MIN_ACCURACY = 0.25


@pytest.mark.integration
@pytest.mark.slow
def test_held_out_english_wikipedia_subsample(
    make_settings: Any, embedder: Any, sample_assistant: Any
) -> None:
    """SQuAD 2.0 questions the refusal model and the fusion weights were not fitted on (a fixed,
    seeded subsample of `squad2-dev/qa.jsonl`; `make eval` runs all 200). Floors: the figures
    measured on this subsample, less a margin (see the README for the full-set figures)."""
    from rag.eval.runner import run_qa_set

    found = run_qa_set(
        "squad2-dev", SQUAD / "qa.jsonl", SQUAD / "corpus", make_settings(collection="squad-held-out"),
        ["few_shot"], limit=SUBSAMPLE, embedder=embedder, llm=sample_assistant.llm,
    )  # fmt: skip
    got = found["summary"]["few_shot"]
    assert got["hit@5"] >= 0.95, got
    for metric, floor in SQUAD_FLOORS.items():
        assert got[metric] >= floor, (metric, got)
    assert got["false_refusal_rate"] <= SQUAD_MAX_FALSE_REFUSALS, got
    assert found["curves"]["few_shot"]["points"], "every candidate answer has a confidence"


@pytest.mark.integration
@pytest.mark.slow
def test_held_out_chinese_wikipedia_subsample(
    make_settings: Any, embedder: Any, sample_assistant: Any, tmp_path: Path
) -> None:
    """CMRC 2018 questions (a fixed subsample of `cmrc2018-dev/qa.jsonl`) over the articles they
    are about plus 60 others (the full 424-article corpus is `make eval`'s)."""
    import random
    import shutil

    from rag.eval.runner import run_qa_set, sample

    items = sample(load_qa(CMRC / "qa.jsonl"), 40)
    qa = tmp_path / "qa.jsonl"
    lines = {json.loads(line)["id"]: line for line in (CMRC / "qa.jsonl").read_text().splitlines()}
    qa.write_text("\n".join(lines[i.id] for i in items) + "\n", encoding="utf-8")
    gold = {s for i in items for s in i.sources}
    others = sorted(p.name for p in (CMRC / "corpus").iterdir() if p.name not in gold)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(gold) + random.Random(0).sample(others, 60):
        shutil.copy(CMRC / "corpus" / name, corpus / name)
    found = run_qa_set(
        "cmrc2018-dev", qa, corpus, make_settings(collection="cmrc-held-out"), ["few_shot"],
        embedder=embedder, llm=sample_assistant.llm,
    )  # fmt: skip
    got = found["summary"]["few_shot"]
    assert got["gold_shown"] >= 0.85, got  # the issue's target: gold article among the shown passages
    assert got["accuracy"] >= CMRC_MIN_ACCURACY, got
