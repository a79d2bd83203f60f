"""llama.cpp's extra CPU buffer types (AMX repack) are off where they crash: on CPUs with AMX."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rag.answer.llm import cpu_has_amx, extra_buffers, extra_buffers_on

pytestmark = pytest.mark.unit

SAPPHIRE = "processor : 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8\n"
EPYC = "processor : 0\nflags\t\t: fpu sse2 avx2 fma\n"


def test_auto_turns_them_off_on_amx_cpus_only() -> None:
    assert cpu_has_amx(SAPPHIRE) and not cpu_has_amx(EPYC)
    assert not extra_buffers_on("auto", SAPPHIRE)
    assert extra_buffers_on("auto", EPYC)
    assert extra_buffers_on("on", SAPPHIRE) and not extra_buffers_on("off", EPYC)


def test_the_model_parameters_llama_loads_with_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    params = SimpleNamespace(use_extra_bufts=True)
    module = SimpleNamespace(llama_model_default_params=lambda: SimpleNamespace(**vars(params)))
    fake: Any = SimpleNamespace(llama_cpp=module)
    original = module.llama_model_default_params
    with extra_buffers(fake, "off"):
        assert module.llama_model_default_params().use_extra_bufts is False
    assert module.llama_model_default_params is original
    with extra_buffers(fake, "on"):
        assert module.llama_model_default_params().use_extra_bufts is True
