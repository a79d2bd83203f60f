"""llama.cpp's extra CPU buffer types (AMX repack) are off where they crash: on CPUs with AMX."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rag.answer.llm import cpu_flags, cpu_has_amx, extra_buffers, extra_buffers_on, model_buffers

pytestmark = pytest.mark.unit

SAPPHIRE = "processor : 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8\n"
EPYC = "processor : 0\nflags\t\t: fpu sse2 avx2 fma\n"


def test_auto_turns_them_off_on_amx_cpus_only() -> None:
    assert cpu_has_amx(SAPPHIRE) and not cpu_has_amx(EPYC)
    assert not extra_buffers_on("auto", SAPPHIRE)
    assert extra_buffers_on("auto", EPYC)
    assert extra_buffers_on("on", SAPPHIRE) and not extra_buffers_on("off", EPYC)
    assert "amx_int8" in cpu_flags(SAPPHIRE) and "flags" not in cpu_flags(SAPPHIRE)


def test_auto_keeps_them_where_the_library_was_built_without_amx() -> None:
    with_amx = "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |"
    without_amx = "CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |"
    assert not extra_buffers_on("auto", SAPPHIRE, with_amx)
    assert extra_buffers_on("auto", SAPPHIRE, without_amx)  # make setup's build: repack stays
    assert extra_buffers_on("auto", EPYC, with_amx)
    assert not extra_buffers_on("off", EPYC, without_amx)


def test_the_load_log_says_where_the_weights_are() -> None:
    log = (
        "load_tensors:          AMX model buffer size =   213.91 MiB\n"
        "load_tensors:   CPU_Mapped model buffer size =   235.16 MiB\n"
        "llama_kv_cache:        CPU KV buffer size =     1.50 MiB\n"
    )
    assert model_buffers(log) == ["AMX", "CPU_Mapped"]
    assert model_buffers("") == []


def test_the_model_parameters_llama_loads_with_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    params = SimpleNamespace(use_extra_bufts=True)
    module = SimpleNamespace(llama_model_default_params=lambda: SimpleNamespace(**vars(params)))
    fake: Any = SimpleNamespace(
        llama_cpp=module, llama_print_system_info=lambda: b"CPU : AVX2 = 1 | AMX_INT8 = 1 |"
    )
    original = module.llama_model_default_params
    with extra_buffers(fake, "off"):
        assert module.llama_model_default_params().use_extra_bufts is False
    assert module.llama_model_default_params is original
    with extra_buffers(fake, "on"):
        assert module.llama_model_default_params().use_extra_bufts is True
