"""The local model in a child process: a native crash in llama.cpp is an LLMError for the question
it was answering, and the next question is answered by a reloaded model; and ``make doctor``'s probe
proves the model runs here without llama.cpp's AMX path on CPUs that have AMX."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rag.answer.isolated import ProcessLLM, exit_reason
from rag.answer.llm import cpu_has_amx
from rag.answer.probe import probe
from rag.core.errors import LLMError

pytestmark = pytest.mark.integration

SAPPHIRE = "processor : 0\nflags\t\t: fpu sse2 avx avx2 fma f16c avx512f amx_bf16 amx_tile amx_int8\n"
LONG = "Once upon a time, in a small village by the sea, there lived"


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rag.core.settings import load_settings
    from tests.helpers import ROOT

    settings = load_settings(ROOT / "settings.yaml", models_dir=ROOT / "data" / "models")
    model = ProcessLLM(settings)
    yield model
    model.close()


def test_the_model_answers_from_its_child_process(llm: ProcessLLM) -> None:
    assert llm.pid is not None and llm.pid != os.getpid()
    assert llm.info.mode == "local" and llm.info.model_buffers
    text = "".join(llm.complete("The capital of France is", max_tokens=8))
    assert "Paris" in text or text.strip()
    assert llm.count_tokens("hello world") == 2


def test_a_model_killed_mid_answer_fails_that_answer_and_the_next_is_answered(llm: ProcessLLM) -> None:
    before = llm.pid
    assert before is not None
    pieces = llm.complete(LONG, max_tokens=200)
    first = next(pieces)  # generating now: 200 tokens take seconds
    os.kill(before, signal.SIGSEGV)
    with pytest.raises(LLMError, match="SIGSEGV: a segmentation fault"):
        for _ in pieces:
            pass
    assert first
    again = "".join(llm.complete("The capital of France is", max_tokens=8))
    assert again.strip()
    assert llm.pid not in (None, before)
    assert llm.restarts >= 1


def test_an_abandoned_stream_stops_the_generation_and_the_model_goes_on(llm: ProcessLLM) -> None:
    pid = llm.pid
    pieces = llm.complete(LONG, max_tokens=200)
    next(pieces)
    pieces.close()  # type: ignore[attr-defined]
    started = time.monotonic()
    assert "".join(llm.complete("The capital of France is", max_tokens=8)).strip()
    assert time.monotonic() - started < 60  # not waiting for 200 tokens nobody reads
    assert llm.pid == pid  # the same child: stopping is not a crash


def test_a_model_that_died_between_questions_is_reloaded_for_the_next(llm: ProcessLLM) -> None:
    pid = llm.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the out-of-memory killer's signal, while nobody was asking
    time.sleep(0.2)
    assert llm.count_tokens("a text never counted before, so it is not in the cache") > 5
    assert "".join(llm.complete("The capital of France is", max_tokens=8)).strip()
    assert llm.pid not in (None, pid)


def test_exit_reasons_name_the_signal_and_the_cause() -> None:
    assert exit_reason(-11).startswith("SIGSEGV: a segmentation fault")
    assert "another CPU" in exit_reason(-4)
    assert "out-of-memory" in exit_reason(-9)
    assert exit_reason(3) == "exit status 3"


def test_the_assistant_survives_its_model_dying_mid_question(sample_assistant: Any) -> None:
    """The sample assistant runs its model isolated (the default): the question asked while the
    model dies gets an LLMError, the next one on the same Assistant is answered."""
    from rag import Answer

    assistant = sample_assistant
    assert assistant.settings.llm_isolation == "process"
    llm = assistant.llm
    assert isinstance(llm, ProcessLLM)
    assert "35 days" in assistant.ask("How long are backups retained?").text
    pid = llm.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # frozen: the question below reaches it and waits
    outcome: list[Any] = []

    def ask() -> None:
        try:
            outcome.append(assistant.ask("What is the minimum password length?"))
        except LLMError as error:
            outcome.append(error)

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(2.0)  # retrieval done, prompt sent: the question is with the frozen model
    assert asking.is_alive() and not outcome
    os.kill(pid, signal.SIGSEGV)
    os.kill(pid, signal.SIGCONT)  # it wakes only to die of the pending SIGSEGV
    asking.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], LLMError), outcome
    assert "SIGSEGV" in str(outcome[0])
    answer = assistant.ask("How long are backups retained?")
    assert isinstance(answer, Answer) and "35 days" in answer.text
    assert llm.pid not in (None, pid)


def test_doctor_probe_runs_the_model_without_the_amx_path(make_settings: Any) -> None:
    """On every machine: the engine loads the bundled model in a child process and generates;
    where /proc/cpuinfo lists AMX, the model's weights are not in llama.cpp's AMX buffers."""
    report = probe(make_settings(), tokens=8)
    assert report.outcome == "ok", report.describe()
    assert report.tokens >= 2 and report.tokens_per_s > 0
    assert "CPU" in report.system_info and report.model_buffers
    if cpu_has_amx():
        assert not report.amx_in_use, report.describe()
        if "AMX_INT8 = 1" in report.system_info:  # a library built with AMX: extra buffers off
            assert report.extra_buffers == "off" and not report.extra_buffers_in_use


def test_doctor_probe_decides_from_faked_amx_flags(make_settings: Any, tmp_path: Path) -> None:
    """The same decision on a machine without AMX, with a Sapphire Rapids' flags faked: where the
    library has the AMX path, auto turns the extra buffers off and llama.cpp really loads without."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(SAPPHIRE)
    report = probe(make_settings(), cpuinfo=cpuinfo, tokens=4)
    assert report.outcome == "ok", report.describe()
    assert "amx_int8" in report.cpu_flags
    library_has_amx = "AMX_INT8 = 1" in report.system_info
    assert report.extra_buffers == ("off" if library_has_amx else "on")
    assert not report.amx_in_use


def test_extra_buffers_off_reaches_llama_cpp(make_settings: Any) -> None:
    report = probe(make_settings(llama_extra_buffers="off"), tokens=4)
    assert report.outcome == "ok", report.describe()
    assert report.extra_buffers == "off" and not report.extra_buffers_in_use, report.model_buffers
