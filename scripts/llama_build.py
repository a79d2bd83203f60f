"""llama-cpp-python built once per CPU, from a wheel cache keyed to that CPU (used by ``make setup``).

Why (README, "Why llama.cpp is built this way"): the native build takes llama.cpp's AMX path on Xeons
with AMX and crashes on the first token (ggml-org/llama.cpp #20824), so on x86_64 the compilers get
``-mno-amx-*``; and a ``-march=native`` wheel reused on a CPU with fewer instructions dies with
SIGILL, so wheels are cached under a key made of the CPU's flags, the CMake arguments, the
llama-cpp-python version and the Python version, never in pip's own wheel cache.

    python scripts/llama_build.py key [--variant cuda --cmake-args="-DGGML_CUDA=on"]
    python scripts/llama_build.py install [...]   # build the wheel if the key has none, install it

The cache is ``$LLAMA_WHEEL_CACHE`` (default ``$XDG_CACHE_HOME/brightdocs-rag/llama-cpp-python``,
i.e. ``~/.cache/brightdocs-rag/llama-cpp-python``): ``sdist/`` holds the source download, ``<key>/``
one wheel and ``build.txt`` (what went into the key). ``LLAMA_BUILD_CPU`` replaces the CPU flags in
the key (for tests: it simulates another CPU). Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "llama-cpp-python"
X86 = {"x86_64", "amd64", "i386", "i686"}
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def cpu_flags() -> str:
    """The instruction sets this CPU has, as one sorted, space-separated string."""
    override = os.environ.get("LLAMA_BUILD_CPU")
    if override:
        return override
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("flags", "Features"):  # x86 / Arm
                return " ".join(sorted(set(value.split())))
    if platform.system() == "Darwin":
        names = ["machdep.cpu.brand_string", "machdep.cpu.features", "machdep.cpu.leaf7_features"]
        # Unknown names (the machdep.cpu features on Apple silicon) only print an error.
        result = subprocess.run(
            ["sysctl", *names, "hw.optional"], capture_output=True, text=True, check=False
        )
        if result.stdout.strip():
            return " ".join(sorted(result.stdout.split()))
    return platform.processor() or "unknown"


def cmake_args(extra: str) -> list[str]:
    """The CMake arguments of the build: no AMX on x86_64 (see the module docstring), then ``extra``."""
    args: list[str] = []
    if platform.machine().lower() in X86:
        args += [f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}"]
    return args + shlex.split(extra)


def key_inputs(version: str, extra: str) -> dict[str, str]:
    return {
        "package": f"{PACKAGE}=={version}",
        "python": sys.implementation.cache_tag or platform.python_version(),
        "system": platform.system(),
        "machine": platform.machine(),
        "cmake_args": shlex.join(cmake_args(extra)),
        "cpu_flags": cpu_flags(),
    }


def build_key(version: str, variant: str, extra: str) -> str:
    inputs = key_inputs(version, extra)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    return f"{version}-{inputs['python']}-{inputs['machine']}-{variant or 'cpu'}-{digest}"


def cache_root() -> Path:
    configured = os.environ.get("LLAMA_WHEEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "brightdocs-rag" / PACKAGE


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def sdist(root: Path, version: str) -> Path:
    """The source archive, downloaded once (pip's HTTP cache makes a second download offline)."""
    folder = root / "sdist"
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        pip("download", "--no-deps", "--no-binary", ":all:", f"{PACKAGE}=={version}", "-d", tmp)
        (archive,) = Path(tmp).glob("*.tar.gz")
        target = folder / archive.name
        os.replace(archive, target)
    return target


def wheel(version: str, variant: str, extra: str) -> Path:
    """This key's wheel, built (several minutes) if the cache has none."""
    root = cache_root()
    key = build_key(version, variant, extra)
    folder = root / key
    found = sorted(folder.glob("llama_cpp_python-*.whl"))
    if found:
        print(f"llama-cpp-python: cached build {folder}", flush=True)
        return found[0]
    source = sdist(root, version)
    args = shlex.join(cmake_args(extra))
    print(f"llama-cpp-python: building for this CPU, once (several minutes): {key}", flush=True)
    print(f"  CMAKE_ARGS={args}", flush=True)
    env = dict(os.environ, CMAKE_ARGS=args)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder is an ordinary one
    try:
        pip("wheel", "--no-deps", "--no-cache-dir", str(source), "-w", str(tmp), env=env)
        inputs = key_inputs(version, extra)
        (tmp / "build.txt").write_text(
            "".join(f"{name}: {value}\n" for name, value in inputs.items()), encoding="utf-8"
        )
        try:
            tmp.rename(folder)  # atomic; another setup may have finished the same key first
        except OSError:
            if not any(folder.glob("llama_cpp_python-*.whl")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return next(folder.glob("llama_cpp_python-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["key", "wheel", "install"])
    parser.add_argument("--version", default="0.3.36", help="llama-cpp-python version")
    parser.add_argument("--variant", default="", help="label in the key: cpu (empty), cuda, metal")
    parser.add_argument("--cmake-args", default="", help="extra CMake arguments (GPU offload)")
    args = parser.parse_args()
    variant = "" if args.variant == "cpu" else args.variant
    if args.action == "key":
        print(build_key(args.version, variant, args.cmake_args))
        return
    built = wheel(args.version, variant, args.cmake_args)
    if args.action == "wheel":
        print(built)
        return
    # --no-deps: its dependencies come with the project's install, which then keeps this build.
    pip("install", "--force-reinstall", "--no-deps", str(built))


if __name__ == "__main__":
    main()
