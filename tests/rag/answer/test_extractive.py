"""Extractive decoding, Unicode words, the support check in every script and the calibrated
refusal model (issue 13): logic with a character tokenizer here, the real model in
test_languages.py and test_eval.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.answer.extractive import SpanConstraint, locate
from rag.answer.refusal import RefusalModel, fit
from rag.answer.verify import support
from rag.core.text import content_words, stop_words, words

VOCAB = 70_000  # character codes: covers ASCII and the CJK block
EOS = 1


def _tokenize(text: str) -> list[int]:
    return [ord(c) for c in text]


def _piece(token: int) -> bytes:
    return chr(token).encode("utf-8") if token != EOS else b""


def generate(constraint: SpanConstraint, wanted: str, steps: int = 60) -> str:
    """Greedy decoding of a 'model' that wants to write ``wanted`` (then stop), kept inside the
    sources by ``constraint``; other tokens get small fixed preferences."""
    constraint.bind(_tokenize, _piece, EOS)
    prompt = [5, 6, 7]
    generated: list[int] = []
    noise = np.random.default_rng(0).random(VOCAB)
    for _ in range(steps):
        scores = noise.copy()
        position = len(generated)
        scores[ord(wanted[position]) if position < len(wanted) else ord("\n")] = 100.0
        masked = constraint(np.array(prompt + generated), scores)
        token = int(np.argmax(masked))
        if token == EOS:
            break
        generated.append(token)
    return "".join(chr(t) for t in generated)


PASSAGES = ["Backups are retained for 35 days.", "The VPN locks after 5 failed logins."]


@pytest.mark.unit
def test_a_copied_span_is_kept_with_its_source_and_offsets() -> None:
    constraint = SpanConstraint(PASSAGES, "How long are backups retained?")
    text = generate(constraint, " 35 days\n")
    got = constraint.result(text)
    assert (got.text, got.source, got.refused) == ("35 days", 0, False)
    assert PASSAGES[0][got.start : got.end] == "35 days"


@pytest.mark.unit
def test_an_invented_answer_cannot_be_written() -> None:
    constraint = SpanConstraint(PASSAGES, "How long are backups retained?")
    got = constraint.result(generate(constraint, " 90 days\n"))
    assert "90" not in got.text
    assert got.source is not None and got.text in PASSAGES[got.source]


@pytest.mark.unit
def test_a_span_that_only_restates_the_question_cannot_end() -> None:
    constraint = SpanConstraint(PASSAGES, "How long are backups retained?")
    got = constraint.result(generate(constraint, " Backups are retained\n"))
    assert got.text != "Backups are retained" and got.text.startswith("Backups are retained")
    assert set(content_words(got.text)) - set(content_words("How long are backups retained?"))


@pytest.mark.unit
def test_the_refusal_phrase_is_allowed() -> None:
    constraint = SpanConstraint(PASSAGES, "Who cleans the windows?")
    got = constraint.result(generate(constraint, " I don't know.\n"))
    assert got.refused and got.source is None


@pytest.mark.unit
def test_chinese_spans_start_inside_a_run_and_lose_loose_punctuation() -> None:
    passages = ["罗店镇是上海市宝山区下辖的一个镇。全镇面积72平方公里。"]
    constraint = SpanConstraint(passages, "罗店镇全镇面积是多大？")
    got = constraint.result(generate(constraint, "72平方公里。\n"))
    assert (got.text, got.source) == ("72平方公里", 0)
    assert passages[0][got.start : got.end] == "72平方公里"


@pytest.mark.unit
def test_locate_finds_the_first_source_holding_the_span() -> None:
    assert locate("5 failed", PASSAGES).source == 1
    assert locate("not there", PASSAGES).source is None


@pytest.mark.unit
def test_words_of_every_script() -> None:
    assert words("默认512，1.0即禁用") == ["默认", "512", "1", "0", "即禁", "禁用"]
    assert words("--repeat-penalty 1.0即禁用") == ["repeat", "penalty", "1", "0", "即禁", "禁用"]
    assert words("東京タワー") == ["東京", "京タ", "タワ", "ワー"]
    assert words("حمزة بن عبد المطلب") == ["حمزة", "بن", "عبد", "المطلب"]
    assert words("ΣΟΦΙΑ Straße") == ["σοφια", "strasse"]  # case folded where a script has case
    # stop words come from spaCy's list of each word's script; numbers always count
    assert content_words("What is the size of the office?") == ["size", "office"]
    assert content_words("six of them") == ["six"]
    assert "的" in stop_words("han") and "the" in stop_words("latin") and "في" in stop_words("arabic")
    assert "the" not in stop_words("han")


@pytest.mark.unit
def test_support_reads_numbers_glued_to_chinese() -> None:
    passage = "上下文长度默认512，设为1.0即禁用重复惩罚。"
    assert support("512", passage) == 1.0  # \w+ read "默认512" as one word: 0 before
    assert support("1.0", passage) == 1.0
    assert support("1024", passage) == 0.0
    assert support("72平方公里", "全镇面积72平方公里。") == 1.0
    assert support("المطلب", "حمزة بن عبد المطلب صحابي") == 1.0


@pytest.mark.unit
def test_the_refusal_model_is_a_fitted_probability_saved_as_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [{"passage_score": float(x), "noise": float(n)} for x, n in rng.random((200, 2))]
    correct = [r["passage_score"] > 0.5 for r in rows]
    model = fit(rows, correct, ["passage_score", "noise"], fitted_on="synthetic")
    assert model.confidence({"passage_score": 0.95, "noise": 0.5}) > 0.8
    assert model.confidence({"passage_score": 0.05, "noise": 0.5}) < 0.2
    assert abs(model.coef[0]) > 5 * abs(model.coef[1])
    model.save(tmp_path / "m.json")
    again = RefusalModel.load(tmp_path / "m.json")
    assert again.confidence({"passage_score": 0.7, "noise": 0.1}) == model.confidence(
        {"passage_score": 0.7, "noise": 0.1}
    )
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match=r"bad\.json"):
        RefusalModel.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="both"):
        fit(rows, [True] * len(rows), ["passage_score"], fitted_on="x")


@pytest.mark.unit
def test_the_operating_point_and_the_risk_coverage_curve() -> None:
    from rag.answer.refusal import choose_threshold
    from rag.eval.qa import ItemResult
    from rag.eval.runner import risk_coverage

    # answerable: 0.9 right, 0.6 right, 0.2 wrong, None (no candidate); unanswerable: 0.7, 0.3
    confidences = [0.9, 0.6, 0.2, None, 0.7, 0.3]
    answerable = [True, True, True, True, False, False]
    # refusing below 0.3 refuses 2 of 4 answerable (0.2 and None): too many for 0.25 ...
    assert choose_threshold(confidences, answerable, max_false_refusals=0.25) == 0.2
    # ... with 0.5 allowed, the threshold rises until a third answerable one (0.6) would go
    assert choose_threshold(confidences, answerable, max_false_refusals=0.5) == 0.6

    def row(confidence: float | None, answerable: bool, right: bool) -> ItemResult:
        return ItemResult(
            "i", "t", "q", answerable, "", "a", False, right, 0.0, 1, False, 0.1,
            confidence=confidence, candidate_correct=right,
        )  # fmt: skip

    rows = [row(0.9, True, True), row(0.6, True, True), row(0.2, True, False), row(None, True, False)]
    rows += [row(0.7, False, False), row(0.3, False, False)]
    curve = risk_coverage(rows, threshold=0.5)
    assert [round(p["coverage"], 3) for p in curve["points"]] == [0.167, 0.333, 0.5, 0.667, 0.833]
    assert [round(p["accuracy"], 3) for p in curve["points"]] == [1.0, 0.5, 0.667, 0.5, 0.4]
    assert curve["operating"] == {"threshold": 0.5, "coverage": 0.5, "accuracy": pytest.approx(2 / 3)}


@pytest.mark.unit
def test_a_span_never_cuts_a_compound_word() -> None:
    passages = ["The VPN shows error SEC-4012 after 5 failed sign-ins; version 1.0 fixed it at 18:00."]
    constraint = SpanConstraint(passages, "What error code does the VPN show?")
    got = constraint.result(generate(constraint, " 4012\n"))
    assert got.text == "SEC-4012", got  # a small model starts codes at their digits: widened
    assert passages[0][got.start : got.end] == "SEC-4012"
    constraint = SpanConstraint(passages, "What error code does the VPN show?")
    assert constraint.result(generate(constraint, " SEC-4012\n")).text == "SEC-4012"
    constraint = SpanConstraint(passages, "When was it fixed?")
    assert constraint.result(generate(constraint, " 18:00\n")).text == "18:00"
    constraint = SpanConstraint(passages, "When was it fixed?")
    assert constraint.result(generate(constraint, " 18\n")).text == "18:00"
    assert locate("4012", passages).text == "SEC-4012" and locate("1", ["v 1.0 x"]).text == "1.0"
