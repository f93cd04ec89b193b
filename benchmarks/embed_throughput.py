"""Datastore build rate vs raw ``SentenceTransformer.encode`` on the same texts.

The build adds reading, cell extraction, chunk writes and the merge on top of encoding;
this measures how much of the raw encoder speed survives (target ratio >= 0.9).

    python benchmarks/embed_throughput.py [--n 1000] [--precision auto|fp32|bf16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from taskforge import build_datastore
from taskforge._cells import text_cells
from taskforge._datastore import resolve_source
from taskforge._datastore._readers import Row
from taskforge._embed import Embedder, _threads, compute_threads

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
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    texts = demo_cells(args.n)
    emb = Embedder.load(precision=args.precision)
    tmp = Path(tempfile.mkdtemp(prefix="tf_bench_"))
    src = tmp / "bench_source"
    src.mkdir()
    with open(src / "cells.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    emb.model.encode(texts[:64], batch_size=args.batch_size)  # warm up

    raw_rates, build_rates = [], []

    def run_raw() -> None:
        with _threads(compute_threads()):
            t0 = time.perf_counter()
            emb.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
            raw_rates.append(len(texts) / (time.perf_counter() - t0))

    def run_build(r: int) -> None:
        out = tmp / f"ds{r}"
        t0 = time.perf_counter()
        report = build_datastore([src], out, precision=args.precision, batch_size=args.batch_size)
        build_rates.append(report.sources[0]["n_vectors"] / (time.perf_counter() - t0))
        shutil.rmtree(out)

    for r in range(args.repeats):  # alternate the order: load on a shared machine drifts
        if r % 2 == 0:
            run_raw()
            run_build(r)
        else:
            run_build(r)
            run_raw()
    shutil.rmtree(tmp)

    raw, build = max(raw_rates), max(build_rates)
    print(f"texts: {len(texts)} real demo cells, model {emb.name} ({emb.precision}), batch {args.batch_size}, "
          f"torch threads {compute_threads() or 'default'}")  # fmt: skip
    print(
        f"raw SentenceTransformer.encode : {raw:8.1f} texts/s  (runs: {', '.join(f'{x:.1f}' for x in raw_rates)})"
    )
    print(
        f"datastore build (end to end)   : {build:8.1f} texts/s  (runs: {', '.join(f'{x:.1f}' for x in build_rates)})"
    )
    print(f"ratio build / raw              : {build / raw:8.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
