"""Stores of millions of vectors on one machine, by simulation: exact scoring vs the IVF index.

Real data at 10M vectors cannot be embedded on 2 cores, so the store is grown from a real one
(default the shared full store): copy c of its vectors is the real vectors plus Gaussian noise
(cosine ~0.94 to the original, renormalised), with its rows and sources copied in proportion
(copy c has its own rows, its own sources, perturbed descriptions). Vectors are written once,
for the largest size, as float16 (as a built store keeps them); a smaller size is a prefix of
whole copies, memory-mapped.

Per size, each phase in a fresh process (so its peak RSS is its own): the index build
(IVF-SQ8 below 2M vectors, IVF-PQ from 2M: ``taskforge._datastore._ann``; vectors streamed in
chunks by ``pread``, so the build's RSS is its own memory, not the page cache), then a task's
top-1000 (ReBase score, paper formula) through the index with exact re-scoring of the
candidates from the memory-mapped vectors, then by exact scoring of every vector (the
baseline, same run; a full pass maps every page of the vectors, so its RSS includes them).
It prints disk, peak RSS of each phase, both latencies, their ratio, the overlap of the two
top-1000 (target >= 0.95; at 10M: retrieval < 2 s, peak RSS < 8 GB) and ``uptime``.

    python benchmarks/scale.py --base /work/stores/full1000 --work /tmp/scale \\
        [--sizes 1000000,2000000,5000000,10000000] [--tasks nli3,topic,extractive_qa] [--codes auto|sq8|pq] [--nlist N] [--keep]
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
    sigma = math.sqrt(1 / NOISE_COS**2 - 1) / math.sqrt(d)  # noise norm ~ tan(acos(NOISE_COS))
    rng = np.random.default_rng(seed)
    block = 65536
    with open(work / "vectors.npy", "wb") as f:  # written, not memory-mapped: no dirty mapped pages
        np.lib.format.write_array_header_1_0(
            f,
            {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                "fortran_order": False,
                "shape": (n, d),
            },
        )
        for c in range(copies):
            for s in range(0, len(vecs), block):
                v = vecs[s : s + block]
                if c:
                    v = v + rng.standard_normal(v.shape, dtype=np.float32) * sigma
                    v /= np.linalg.norm(v, axis=1, keepdims=True)
                f.write(v.astype(np.float16).tobytes())
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
    return {"copies": copies, "per_copy": [len(vecs), n_rows, n_src]}


class FileVectors:
    """The first ``n`` rows of a .npy matrix, read by ``pread`` (not mapped): slices in one read,
    index arrays row by row. What ``build_ann`` streams over, without the page cache counting
    in this process's RSS."""

    def __init__(self, path: Path, n: int) -> None:
        mm = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self._offset = (n, mm.shape[1]), mm.dtype, mm.offset
        self._row = mm.shape[1] * mm.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        del mm

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, start: int, count: int) -> np.ndarray:
        buf = os.pread(self._fd, count * self._row, self._offset + start * self._row)
        return np.frombuffer(buf, dtype=self.dtype).reshape(count, self.shape[1])

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.shape[0])
            return self._read(start, max(0, stop - start))
        ids = np.asarray(key).ravel()
        out = np.empty((len(ids), self.shape[1]), dtype=self.dtype)
        for i, j in enumerate(ids.tolist()):
            out[i] = self._read(j, 1)[0]
        return out


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def sized_store(args: argparse.Namespace):  # -> StoreArrays
    """The first ``copies`` copies of the grown store, memory-mapped."""
    from taskforge._retrieval import StoreArrays

    shape = json.loads((args.work / "store" / "shape.json").read_text())
    nv, nr, ns = (c * args.copies for c in shape["per_copy"])
    store = args.work / "store"
    return StoreArrays(
        vectors=np.load(store / "vectors.npy", mmap_mode="r")[:nv],
        vector_row=np.load(store / "vector_row.npy", mmap_mode="r")[:nv],
        row_source=np.load(store / "row_source.npy")[:nr],
        description_vectors=np.load(store / "description_vectors.npy")[:ns],
    )


def phase_build(args: argparse.Namespace) -> dict[str, object]:
    from taskforge._datastore._ann import build_ann

    nv = sized_store(args).vectors.shape[0]
    out = args.work / f"c{args.copies}"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    entry = build_ann(
        out, FileVectors(args.work / "store" / "vectors.npy", nv), codes=args.codes, nlist=args.nlist
    )
    (out / "entry.json").write_text(json.dumps(entry))
    return {"index_s": time.perf_counter() - t0, "rss_gb": peak_rss_gb(), **entry}


def phase_query(args: argparse.Namespace) -> dict[str, object]:
    """Each task's top-N, by the index (``--phase ann``) or by exact scoring (``--phase exact``)."""
    from taskforge import Datastore
    from taskforge._datastore._ann import load_ann
    from taskforge._retrieval import METHODS, top_k
    from taskforge._retrieval._ann import ann_scored
    from taskforge._retrieval._retrieve import embed_task

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from retrieval_quality import SUITE

    store = sized_store(args)
    embedder = Datastore.open(args.base).embedder()
    method = METHODS["rebase"]
    if args.phase == "ann":
        entry = json.loads((args.work / f"c{args.copies}" / "entry.json").read_text())
        index = load_ann(args.work / f"c{args.copies}", entry)
        row_ok = np.ones(store.n_rows, dtype=bool)
    out = {}
    for st in [t for t in SUITE if t.name in args.tasks.split(",")]:
        q = embed_task(st.task(), embedder)
        t0 = time.perf_counter()
        if args.phase == "ann":
            scored, info = ann_scored(
                "rebase", method, store, q, args.n, row_ok, index, margin=entry["margin"]
            )
        else:
            scored, info = method(store, q, args.n), {}
        top = top_k(scored.components["final"], args.n)
        out[st.name] = {"s": time.perf_counter() - t0, "top": top.tolist(), **info}
    return {"rss_gb": peak_rss_gb(), "tasks": out}


def run_phase(args: argparse.Namespace, phase: str, copies: int = 0) -> dict:
    """One phase in a fresh process; its JSON result (raises with the last stderr line)."""
    cmd = [sys.executable, __file__, "--phase", phase, "--copies", str(copies), *sys.argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def one_size(args: argparse.Namespace, copies: int, per_copy: list[int]) -> None:
    """Build, query by index, query exactly; print the rows of one size."""
    nv, nr, ns = (c * copies for c in per_copy)
    try:
        b = run_phase(args, "build", copies)
        ann = run_phase(args, "ann", copies)
        exact = run_phase(args, "exact", copies)
    except RuntimeError as err:
        print(f"{nv:>11,d} {err}  [{uptime()}]", flush=True)
        return
    idx_gb = (args.work / f"c{copies}" / b["file"]).stat().st_size / 1e9
    disk = f"{nv * 384 * 2 / 1e9:.2f} + {idx_gb:.2f}"
    for i, (task, e) in enumerate(exact["tasks"].items()):
        a = ann["tasks"][task]
        overlap = len(set(e["top"]) & set(a["top"])) / args.n
        lead = (
            f"{nv:>11,d} {b['type']:>14s} {b['index_s']:7.0f} {disk:>13s} "
            f"{b['rss_gb']:6.2f} {ann['rss_gb']:6.2f} {exact['rss_gb']:6.2f}"
            if i == 0
            else " " * 74
        )
        print(
            f"{lead} {task:>13s} {e['s']:7.2f} {a['s']:7.2f} {e['s'] / a['s']:7.1f}x {overlap:7.3f}"
            f"  {int(a['fetched_per_query']):>7,d} {int(a['open_source_rows']):>7,d}",
            flush=True,
        )
    print(
        f"{'':11s} nprobe {b['nprobe']}, build recall@10 {b['recall']:.3f}, similarity margin "
        f"{b['margin']:.3f}, rows {nr:,}, sources {ns:,}  [{uptime()}]",
        flush=True,
    )
    if not args.keep:
        shutil.rmtree(args.work / f"c{copies}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=Path("/work/stores/full1000"))
    ap.add_argument("--work", type=Path, required=True, help="scratch folder for the simulated stores")
    ap.add_argument("--sizes", default="1000000,2000000,5000000,10000000")
    ap.add_argument("--tasks", default="nli3,topic,extractive_qa")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the simulated stores")
    ap.add_argument("--nlist", type=int, default=None, help="inverted lists (default: by size)")
    ap.add_argument(
        "--codes", choices=["auto", "sq8", "pq"], default="auto", help="index codes (auto: by size)"
    )
    ap.add_argument("--phase", choices=["build", "ann", "exact"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--copies", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase is not None:
        print(json.dumps(phase_build(args) if args.phase == "build" else phase_query(args)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"base {args.base}; copies perturbed to cosine {NOISE_COS}; top-{args.n}, ReBase score (paper formula)"
    )
    print(f"start [{uptime()}]", flush=True)
    from taskforge import Datastore

    t0 = time.perf_counter()
    shape_file = args.work / "store" / "shape.json"
    shape = json.loads(shape_file.read_text()) if shape_file.exists() else {"copies": 0}
    how = "reused"
    if shape["copies"] < round(max(sizes) / Datastore.open(args.base).n_vectors):  # else: reuse (--keep)
        shape, how = grow(args.base, args.work / "store", max(sizes)), "grown"
        shape_file.write_text(json.dumps(shape))
    print(f"{how}: {shape['copies']} copies in {time.perf_counter() - t0:.0f} s  [{uptime()}]", flush=True)
    print(
        f"{'vectors':>11s} {'index':>14s} {'build s':>7s} {'disk GB':>13s} "
        f"{'RSS GB: build':>13s} {'ann':>6s} {'exact':>6s} {'task':>13s} {'exact s':>7s} {'index s':>7s} "
        f"{'speed-up':>8s} {'overlap':>7s} {'fetched':>8s} {'+ rows':>7s}",
        flush=True,
    )
    nv = shape["per_copy"][0]
    for size in sizes:
        one_size(args, max(1, round(size / nv)), shape["per_copy"])
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
