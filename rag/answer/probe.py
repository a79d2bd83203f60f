"""Does the local model run on this machine? Generate a few tokens in a child process and say.

A llama.cpp build can fail in ways that end its process: SIGILL when it was compiled for another
CPU (a wheel reused from a cache), a segmentation fault on the AMX path of llama.cpp 0.3.36
(ggml-org/llama.cpp #20824). :func:`probe` loads the model through the engine
(:class:`~rag.answer.llm.LlamaCppLLM`, as every question does) in a child process, generates a
few tokens, and reports what happened with what explains it: the CPU's flags, llama.cpp's system
info, where the weights went (AMX or repack buffers are llama.cpp's extra CPU buffer types) and
the speed. ``make doctor`` prints it.

The child (``python -m rag.answer.probe [--cpuinfo FILE]``) reads the settings as JSON on its
standard input and writes one ``PROBE {json}`` line per stage, so a crash still leaves what came
before it. ``--cpuinfo`` decides ``llama_extra_buffers: auto`` from another CPU's flags (tests).

Example::

    report = probe(load_settings())
    print(report.describe())
    assert report.outcome == "ok", report.detail
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answer.isolated import exit_reason
from rag.core.settings import Settings

_SHOWN_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16")
_EXTRA = ("AMX", "CPU_REPACK", "REPACK")
PROMPT = "The quick brown fox jumps over the lazy dog. " * 8 + "Once upon a time"


@dataclass(slots=True)
class ProbeReport:
    """What a probe found: ``outcome`` is ``ok``, ``crashed`` (a signal ended the child: its name
    is in ``detail``), ``illegal instruction`` or ``failed`` (an error it could name).

    Example::

        report = probe(settings)
        if report.amx_in_use:
            print("llama.cpp's AMX path is in use: it crashes on many Xeons")
    """

    outcome: str
    detail: str = ""
    cpu_flags: list[str] = field(default_factory=list)
    system_info: str = ""
    extra_buffers: str = ""  # what llama_extra_buffers resolved to: on or off
    model_buffers: list[str] = field(default_factory=list)
    load_s: float = 0.0
    tokens: int = 0
    first_token_s: float = 0.0
    tokens_per_s: float = 0.0

    @property
    def amx_in_use(self) -> bool:
        return "AMX" in self.model_buffers

    @property
    def extra_buffers_in_use(self) -> list[str]:
        return [name for name in self.model_buffers if name in _EXTRA]

    def describe(self) -> str:
        shown = [f for f in self.cpu_flags if f in _SHOWN_FLAGS or f.startswith("amx")]
        lines = [
            f"model probe (child process): {self.outcome}" + (f": {self.detail}" if self.detail else ""),
            f"CPU flags: {' '.join(shown) or 'unknown'}",
            f"llama.cpp system info: {self.system_info or 'not reached'}",
            f"extra CPU buffer types (llama_extra_buffers): {self.extra_buffers or 'not reached'}",
            f"model weights in: {', '.join(self.model_buffers) or 'not reached'}"
            + (" (llama.cpp's AMX path IS in use)" if self.amx_in_use else ""),
        ]
        if self.tokens:
            lines += [
                f"model loaded in {self.load_s:.2f} s",
                f"time to first token: {self.first_token_s:.3f} s",
                f"generation: {self.tokens_per_s:.1f} tokens/s over {self.tokens} tokens",
            ]
        return "\n".join(lines)


def probe(
    settings: Settings, *, cpuinfo: Path | None = None, tokens: int = 32, timeout: float = 600
) -> ProbeReport:
    """Generate ``tokens`` tokens with the local model in a child process and report."""
    from rag.answer.llm import cpu_flags

    flags = sorted(cpu_flags(cpuinfo.read_text(errors="replace") if cpuinfo else None))
    command = [sys.executable, "-m", "rag.answer.probe", "--tokens", str(tokens)]
    if cpuinfo is not None:
        command += ["--cpuinfo", str(cpuinfo)]
    try:
        done = subprocess.run(
            command, input=settings.model_dump_json(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return ProbeReport("failed", f"no answer within {timeout:g} s", flags)
    stages: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("PROBE "):
            stages.update(json.loads(line[len("PROBE ") :]))
    report = ProbeReport(
        "ok",
        cpu_flags=flags,
        system_info=stages.get("system_info", ""),
        extra_buffers=stages.get("extra_buffers", ""),
        model_buffers=stages.get("model_buffers", []),
        load_s=stages.get("load_s", 0.0),
        tokens=stages.get("tokens", 0),
        first_token_s=stages.get("first_token_s", 0.0),
        tokens_per_s=stages.get("tokens_per_s", 0.0),
    )
    if done.returncode < 0:
        report.outcome = "illegal instruction" if done.returncode == -4 else "crashed"
        stage = "generating" if "load_s" in stages else "loading the model" if stages else "starting"
        report.detail = f"{exit_reason(done.returncode)} (while {stage})"
    elif done.returncode != 0 or "error" in stages:
        report.outcome = "failed"
        report.detail = stages.get("error") or _last_line(done.stderr) or f"exit status {done.returncode}"
    elif report.tokens < 1:
        report.outcome, report.detail = "failed", "the model generated nothing"
    return report


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _say(**values: Any) -> None:
    print("PROBE " + json.dumps(values), flush=True)


def main(argv: list[str] | None = None) -> int:
    """The child: load through the engine, generate, report each stage as it is reached."""
    parser = argparse.ArgumentParser(prog="python -m rag.answer.probe")
    parser.add_argument("--cpuinfo", type=Path, help="decide extra buffers from this cpuinfo file")
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args(argv)
    settings = Settings.model_validate_json(sys.stdin.read())
    import llama_cpp

    from rag.answer.llm import LlamaCppLLM, LLMError, extra_buffers_on

    system_info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    cpuinfo = args.cpuinfo.read_text(errors="replace") if args.cpuinfo else None
    resolved = "on" if extra_buffers_on(settings.llama_extra_buffers, cpuinfo, system_info) else "off"
    _say(system_info=system_info, extra_buffers=resolved)
    started = time.perf_counter()
    try:
        llm = LlamaCppLLM(settings.model_copy(update={"llama_extra_buffers": resolved}))
    except LLMError as error:
        _say(error=str(error))
        return 1
    _say(load_s=round(time.perf_counter() - started, 3), model_buffers=llm.info.model_buffers)
    started = time.perf_counter()
    first = last = 0.0
    count = 0
    for _ in llm.complete(PROMPT, max_tokens=args.tokens):
        last = time.perf_counter()
        first = first or last
        count += 1
    rate = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    _say(tokens=count, first_token_s=round(first - started, 4), tokens_per_s=round(rate, 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
