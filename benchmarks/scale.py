"""Stores of millions of vectors on one machine, by simulation: exact scoring vs the IVF index.

Real data at 10M vectors cannot be embedded on 2 cores, so the store is grown from a real one
(default the shared full store): copy c of its vectors is the real vectors plus Gaussian noise
(cosine ~0.94 to the original, renormalised), with its rows and sources copied in proportion
(copy c has its own rows, its own sources, perturbed descriptions). Vectors are written as
float16, memory-mapped, as a built store keeps them.

Per size, in a fresh process (so peak RSS is that size's alone), it prints: the index build time
(IVF-SQ8 below 2M vectors, IVF-PQ from 2M: ``taskforge._datastore._ann``), disk of vectors and
index, peak RSS, the latency of a task's top-1000 (ReBase score, paper formula) by exact
scoring of every vector (the baseline, same run) and by the index's candidates re-scored
exactly, their ratio, and the overlap of the two top-1000 (target >= 0.95; at 10M: retrieval
< 2 s, peak RSS < 8 GB).

    python benchmarks/scale.py --base /work/stores/full1000 --work /tmp/scale \\
        [--sizes 1000000,2000000,5000000,10000000] [--tasks nli,topic] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

NOISE_COS = 0.94  # cosine of a perturbed copy to its original vector


def grow(base: Path, work: Path, size: int, seed: int = 0) -> dict[str, int]:
    """Write a simulated store of ~``size`` vectors (whole copies of the base) under ``work``."""
    from taskforge import Datastore

    ds = Datastore.open(base)
    vecs = np.asarray(ds.vectors(), dtype=np.float32)
    vrow, rsrc = np.asarray(ds.vector_row()), np.asarray(ds.row_source())
    desc = np.asarray(ds.description_vectors(), dtype=np.float32)
    copies = max(1, round(size / len(vecs)))
    n, d = len(vecs) * copies, vecs.shape[1]
    work.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(work / "vectors.npy", mode="w+", dtype=np.float16, shape=(n, d))
    sigma = math.sqrt(1 / NOISE_COS**2 - 1) / math.sqrt(d)  # noise norm ~ tan(acos(NOISE_COS))
    rng = np.random.default_rng(seed)
    block = 65536
    for c in range(copies):
        for s in range(0, len(vecs), block):
            v = vecs[s : s + block]
            if c:
                v = v + rng.standard_normal(v.shape, dtype=np.float32) * sigma
                v /= np.linalg.norm(v, axis=1, keepdims=True)
            out[c * len(vecs) + s : c * len(vecs) + s + len(v)] = v
    out.flush()
    del out
    n_rows, n_src = len(rsrc), len(desc)
    np.save(work / "vector_row.npy", np.concatenate([vrow + c * n_rows for c in range(copies)]))
    np.save(
        work / "row_source.npy", np.concatenate([rsrc + c * n_src for c in range(copies)]).astype(np.int32)
    )
    noisy = [desc] + [
        desc + rng.standard_normal(desc.shape, dtype=np.float32) * sigma for _ in range(copies - 1)
    ]
    all_desc = np.vstack(noisy)
    np.save(work / "description_vectors.npy", all_desc / np.linalg.norm(all_desc, axis=1, keepdims=True))
    return {"copies": copies, "n_vectors": n, "n_rows": n_rows * copies, "n_sources": n_src * copies}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def one_size(args: argparse.Namespace) -> dict[str, object]:
    """Grow, index and query one size; runs in its own process."""
    import faiss

    from taskforge import Datastore
    from taskforge._datastore._ann import build_ann, load_ann
    from taskforge._retrieval import METHODS, StoreArrays, top_k
    from taskforge._retrieval._ann import ann_scored
    from taskforge._retrieval._retrieve import embed_task

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from retrieval_quality import SUITE

    work = args.work / f"n{args.one}"
    t0 = time.perf_counter()
    shape = grow(args.base, work, args.one)
    t_grow = time.perf_counter() - t0
    vectors = np.load(work / "vectors.npy", mmap_mode="r")
    t0 = time.perf_counter()
    entry = build_ann(work, vectors)
    t_index = time.perf_counter() - t0
    rss_build = peak_rss_gb()
    index = load_ann(work, entry)
    store = StoreArrays(
        vectors=vectors,
        vector_row=np.load(work / "vector_row.npy", mmap_mode="r"),
        row_source=np.load(work / "row_source.npy"),
        description_vectors=np.load(work / "description_vectors.npy"),
    )
    embedder = Datastore.open(args.base).embedder()
    method = METHODS["rebase"]
    row_ok = np.ones(store.n_rows, dtype=bool)
    per_task = []
    for st in [t for t in SUITE if t.name in args.tasks.split(",")]:
        q = embed_task(st.task(), embedder)
        t0 = time.perf_counter()
        exact = method(store, q, args.n)
        exact_top = top_k(exact.components["final"], args.n)
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        approx, info = ann_scored("rebase", method, store, q, args.n, row_ok, index, margin=entry["margin"])
        ann_top = top_k(approx.components["final"], args.n)
        t_ann = time.perf_counter() - t0
        overlap = len(set(exact_top.tolist()) & set(ann_top.tolist())) / args.n
        per_task.append({"task": st.name, "exact_s": t_exact, "ann_s": t_ann, "overlap": overlap, **info})
    disk = {
        "vectors_gb": (work / "vectors.npy").stat().st_size / 1e9,
        "index_gb": (work / entry["file"]).stat().st_size / 1e9,
    }
    del index, store, vectors
    faiss.omp_set_num_threads(faiss.omp_get_max_threads())
    if not args.keep:
        shutil.rmtree(work)
    return {
        **shape,
        "index": entry["type"],
        "nprobe": entry["nprobe"],
        "recall10": entry["recall"],
        "margin": entry["margin"],
        "grow_s": t_grow,
        "index_s": t_index,
        "rss_build_gb": rss_build,
        "rss_peak_gb": peak_rss_gb(),
        **disk,
        "tasks": per_task,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=Path("/work/stores/full1000"))
    ap.add_argument("--work", type=Path, required=True, help="scratch folder for the simulated stores")
    ap.add_argument("--sizes", default="1000000,2000000,5000000,10000000")
    ap.add_argument("--tasks", default="nli,topic")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the simulated stores")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args)))
        return
    print(
        f"base {args.base}; copies perturbed to cosine {NOISE_COS}; top-{args.n}, ReBase score (paper formula)"
    )
    head = (
        f"{'vectors':>11s} {'index':>16s} {'index s':>8s} {'disk GB':>13s} {'peak GB':>7s} "
        f"{'task':>12s} {'exact s':>8s} {'index s':>8s} {'speed-up':>8s} {'overlap':>7s}"
    )
    print(head)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        cmd = [sys.executable, __file__, "--one", str(size), *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{size:>11,d} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        disk = f"{r['vectors_gb']:.2f} + {r['index_gb']:.2f}"
        for i, t in enumerate(r["tasks"]):
            lead = (
                f"{r['n_vectors']:>11,d} {r['index']:>16s} {r['index_s']:8.0f} {disk:>13s} {r['rss_peak_gb']:7.2f}"
                if i == 0
                else " " * 59
            )
            print(
                f"{lead} {t['task']:>12s} {t['exact_s']:8.2f} {t['ann_s']:8.2f} "
                f"{t['exact_s'] / t['ann_s']:7.1f}x {t['overlap']:7.3f}"
            )
        print(
            f"{'':11s} nprobe {r['nprobe']}, build recall@10 {r['recall10']:.3f}, similarity margin "
            f"{r['margin']:.3f}, grow {r['grow_s']:.0f} s, rows {r['n_rows']:,}, sources {r['n_sources']:,}"
        )


if __name__ == "__main__":
    main()
