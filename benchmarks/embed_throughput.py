"""Embedding rates by backend, and the datastore build rate against raw fp32 ``encode``, same run.

On the same real demo cells it times, in one run, raw ``SentenceTransformer.encode`` in fp32
and bf16 (the baseline a user would write), the ONNX Runtime int8 embedder
(``taskforge._onnx``; needs the ``taskforge[onnx]`` extra), and a whole ``datastore build``
with ``--backend`` (default ``auto``: onnx where installed), and prints each rate with its ratio
to raw fp32 (issue 16 target for the build: >= 2.0x), the build's ratio to raw encode of its own
backend (overhead; target >= 0.9), and each backend's cosine agreement with fp32 vectors.

    python benchmarks/embed_throughput.py [--n 1000] [--backend auto|torch|onnx] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from taskforge import build_datastore
from taskforge._cells import text_cells
from taskforge._datastore import resolve_source
from taskforge._datastore._readers import Row
from taskforge._embed import Embedder, _threads, compute_threads
from taskforge._onnx import onnx_available

DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def demo_cells(n: int) -> list[str]:
    """Real text cells from the demo sources, round-robin so every source is represented."""
    per_source = []
    for folder in sorted(p for p in DEMO.iterdir() if p.is_dir()):
        cells = []
        for item in resolve_source(str(folder)).rows():
            if isinstance(item, Row):
                cells.extend(text_cells(item.record).values())
        per_source.append(cells)
    out: list[str] = []
    i = 0
    while len(out) < n and any(i < len(c) for c in per_source):
        out.extend(c[i] for c in per_source if i < len(c))
        i += 1
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--backend", default="auto", help="the build's backend: auto | torch | onnx")
    ap.add_argument("--precision", default="auto", help="the build's precision")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    texts = demo_cells(args.n)
    bs = args.batch_size
    encoders = {"torch fp32": Embedder.load(precision="fp32", backend="torch")}
    encoders["torch bf16"] = Embedder.load(precision="bf16", backend="torch")
    if onnx_available():
        encoders["onnx int8"] = Embedder.load(precision="int8", backend="onnx")
    build_emb = Embedder.load(precision=args.precision, backend=args.backend)
    build_key = f"{build_emb.backend} {build_emb.precision}"
    encoders.setdefault(build_key, build_emb)
    for e in encoders.values():
        e.model.encode(texts[:64], batch_size=bs)  # warm up (and export the onnx model once)

    tmp = Path(tempfile.mkdtemp(prefix="tf_bench_"))
    src = tmp / "bench_source"
    src.mkdir()
    with open(src / "cells.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")

    rates: dict[str, list[float]] = {k: [] for k in [*encoders, "datastore build"]}
    vectors: dict[str, np.ndarray] = {}

    def raw(key: str) -> Callable[[], None]:
        def run() -> None:
            e = encoders[key]
            with _threads(compute_threads()) if e.backend == "torch" else contextlib.nullcontext():
                t0 = time.perf_counter()
                v = e.model.encode(texts, batch_size=bs, normalize_embeddings=True)
                rates[key].append(len(texts) / (time.perf_counter() - t0))
            v = np.asarray(v, dtype=np.float32)
            vectors[key] = v / np.linalg.norm(v, axis=1, keepdims=True)

        return run

    def build() -> None:
        out = tmp / "ds"
        t0 = time.perf_counter()
        report = build_datastore([src], out, precision=args.precision, backend=args.backend, batch_size=bs)
        rates["datastore build"].append(report.sources[0]["n_vectors"] / (time.perf_counter() - t0))
        shutil.rmtree(out)

    runs = [raw(k) for k in encoders] + [build]
    for r in range(args.repeats):  # reverse the order every other repeat: load on a shared machine drifts
        for run in runs if r % 2 == 0 else runs[::-1]:
            run()
    shutil.rmtree(tmp)

    best = {k: max(v) for k, v in rates.items()}
    base = best["torch fp32"]
    print(
        f"texts: {len(texts)} real demo cells, model {build_emb.name}, batch {bs}, "
        f"threads {compute_threads() or 'default'}, best of {args.repeats} (runs alternate order)"
    )
    print(f"{'':34s} {'texts/s':>8s}  {'x fp32':>7s}  cos vs fp32 (min / mean)   runs")
    for k, rate in best.items():
        label = f"raw encode, {k}" if k in encoders else f"datastore build ({build_key})"
        cos = ""
        if k in vectors:
            c = (vectors[k] * vectors["torch fp32"]).sum(1)
            cos = f"{c.min():.4f} / {c.mean():.4f}"
        runs_s = ", ".join(f"{x:.1f}" for x in rates[k])
        print(f"{label:34s} {rate:8.1f}  {rate / base:6.2f}x  {cos:24s}   {runs_s}")
    print(
        f"build / raw fp32 encode: {best['datastore build'] / base:.2f}x (target >= 2.0); "
        f"build / raw {build_key} encode: {best['datastore build'] / best[build_key]:.3f} (overhead; target >= 0.9)"
    )


if __name__ == "__main__":
    main()
