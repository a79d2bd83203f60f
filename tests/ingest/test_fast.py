"""The parse service: a coordinator process that forks the parse workers from itself."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingest.fast.workers import ParseService, objects_frozen

pytestmark = pytest.mark.unit


@dataclass
class FakeJob:
    path: Path
    number: int


def describe(job: FakeJob) -> tuple[int, int]:
    if job.number < 0:
        raise ValueError(f"job {job.number} is broken")
    return job.number, os.getpid()


def test_results_come_back_in_order_from_several_workers(tmp_path: Path) -> None:
    sizes = [5, 500, 50, 0, 5000, 1, 20, 300]
    jobs = []
    for number, size in enumerate(sizes):
        (tmp_path / f"{number}.txt").write_bytes(b"x" * size)
        jobs.append(FakeJob(tmp_path / f"{number}.txt", number))
    jobs.append(FakeJob(tmp_path / "missing.txt", len(sizes)))  # a file gone since the plan
    service = ParseService(describe, [], workers=2)
    try:
        for window in (jobs, jobs[:3]):
            service.submit(window)
            results = service.results()
            assert [number for number, _ in results] == [job.number for job in window]
        pids = {pid for _, pid in results}
        assert os.getpid() not in pids
    finally:
        service.close()


def test_a_failure_in_the_workers_is_raised_here_and_the_service_goes_on(tmp_path: Path) -> None:
    service = ParseService(describe, [], workers=2)
    try:
        service.submit([FakeJob(tmp_path / "a", 1), FakeJob(tmp_path / "b", -1)])
        with pytest.raises(ValueError, match="job -1 is broken"):
            service.results()
        service.submit([FakeJob(tmp_path / "c", 3)])
        assert [number for number, _ in service.results()] == [3]
    finally:
        service.close()
    assert not service._process.is_alive() and service._process.exitcode == 0


def test_closing_with_a_window_in_flight_stops_every_process(tmp_path: Path) -> None:
    """What an interrupted ingestion does (its ``finally`` closes the service mid-window)."""
    service = ParseService(describe, [], workers=2)
    service.submit([FakeJob(tmp_path / str(n), n) for n in range(50)])
    service.close()  # the results were never read
    assert not service._process.is_alive() and service._process.exitcode == 0


def test_objects_frozen_keeps_the_collector_off_existing_objects_and_thaws_after() -> None:
    gc.unfreeze()
    before: list[int] = []  # a container: the collector tracks it
    assert any(item is before for item in gc.get_objects())
    with objects_frozen():
        assert gc.get_freeze_count() > 0
        assert not any(item is before for item in gc.get_objects())  # in no generation now
        inside: list[int] = []  # created in the block: collected as usual
        assert any(item is inside for item in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(item is before for item in gc.get_objects())


def test_objects_frozen_leaves_a_callers_own_freeze_in_place() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with objects_frozen():
            pass
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()


# --- the narrative-check patch: what it patches must still be there, as it was ----------------
PATCHED_PARAMETERS = ["text", "cap_threshold", "non_alpha_threshold", "languages", "language_checks"]


def test_the_patched_unstructured_functions_still_exist_with_their_signature() -> None:
    """ingest.fast.narrative replaces ``is_possible_narrative_text`` inside five unstructured modules
    (unstructured is pinned for it in pyproject.toml). If an upgrade moves or changes it, this fails
    and names the module, rather than the speed-up silently patching nothing or the wrong thing."""
    import importlib
    import inspect

    from ingest.fast.narrative import TRIMMED

    assert len(TRIMMED) == 5
    for name in TRIMMED:
        module = importlib.import_module(name)
        check = getattr(module, "is_possible_narrative_text", None)
        assert callable(check), f"{name} has no is_possible_narrative_text any more"
        assert check.__module__ == "unstructured.partition.text_type", name
        assert list(inspect.signature(check).parameters) == PATCHED_PARAMETERS, name


def test_the_switch_selects_the_path(make_settings: Any) -> None:
    from ingest import fast

    default, serial, two = make_settings(), make_settings(parse_workers=0), make_settings(parse_workers=2)
    assert fast.enabled(default) and not fast.enabled(serial) and fast.enabled(two)
    assert fast.worker_count(two) == 2 and 1 <= fast.worker_count(default) <= fast.MAX_PARSE_WORKERS
    with fast.trimmed_if_fast(serial, ".md"):  # the serial path leaves unstructured as it is
        from unstructured.partition.html import parser

        assert parser.is_possible_narrative_text.__module__ == "unstructured.partition.text_type"
    with fast.trimmed_if_fast(default, ".md"):
        assert parser.is_possible_narrative_text.__module__ == "ingest.fast.narrative"
