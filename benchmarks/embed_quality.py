"""Does the onnx int8 embedder retrieve what fp32 retrieves? Top-N overlap on the quality suite.

Two measurements, same run, every task of ``retrieval_quality.py``'s suite (method
rebase_tuned, own source excluded):

* store and queries: the shared sources are built twice at ``--max-rows`` rows each, once with
  torch fp32 (the reference) and once with onnx int8, and each task's top N from the two stores
  are compared (same sources, same rows, so the same global row ids);
* queries only (``--datastore``, e.g. the full store): the store's own vectors, the task
  embedded by the store's backend vs by onnx int8.

Prints per task the overlap of the top-N row ids (issue 16 target: >= 0.98) and each side's
relevant-source precision, so a change in overlap can be read as better or worse retrieval.

    python benchmarks/embed_quality.py [--sources ../shared/datastore-sources] [--max-rows 60]
        [--datastore /work/stores/full1000] [-n 1000] [--work DIR] [--queries-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import SUITE, precision
from taskforge import Datastore, build_datastore, retrieve
from taskforge._embed import Embedder


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


SHARED = Path(__file__).resolve().parents[1].parent.parent / "shared" / "datastore-sources"


def top_rows(ds: Datastore, ns: list[int]) -> dict[int, dict[str, tuple[set[int], float]]]:
    """Per N and task: the top-N global row ids and their relevant-source precision."""
    names = {s.name for s in ds.sources}
    out: dict[int, dict[str, tuple[set[int], float]]] = {n: {} for n in ns}
    for st in SUITE:
        rel = st.relevant & names
        for n in ns:
            res = retrieve(st.task(), ds, n=n, method="rebase_tuned", show=False)
            out[n][st.name] = (
                {int(it["global_row"]) for it in res.items},
                precision(res.items, rel) if rel else float("nan"),
            )
    return out


def compare_all(title: str, a: dict, b: dict, labels: tuple[str, str]) -> None:
    for n in a:
        compare(f"{title}, top {n}", a[n], b[n], n, labels)


def compare(title: str, a: dict, b: dict, n: int, labels: tuple[str, str]) -> list[float]:
    print(f"\n{title}")
    print(f"{'task':22s} {'overlap':>8s}  {'precision ' + labels[0]:>18s}  {'precision ' + labels[1]:>18s}")
    overlaps = []
    for name, (rows_a, p_a) in a.items():
        rows_b, p_b = b[name]
        ov = len(rows_a & rows_b) / max(1, min(n, len(rows_a)))
        overlaps.append(ov)
        print(f"{name:22s} {ov:8.3f}  {p_a:18.3f}  {p_b:18.3f}")
    print(f"{'mean':22s} {sum(overlaps) / len(overlaps):8.3f}   min {min(overlaps):.3f}  (target >= 0.98)")
    return overlaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=Path, default=SHARED)
    ap.add_argument("--max-rows", type=int, default=60)
    ap.add_argument("--datastore", type=Path, default=None, help="a built store for the queries-only check")
    ap.add_argument("-n", default="1000", help="top N to compare; several: 100,1000")
    ap.add_argument("--work", type=Path, default=None, help="where to build the two stores (kept if given)")
    ap.add_argument("--queries-only", action="store_true", help="skip building the two stores")
    args = ap.parse_args()

    ns = [int(x) for x in args.n.split(",")]
    print(f"start [{uptime()}]", flush=True)
    int8 = Embedder.load(backend="onnx", precision="int8")
    if args.datastore is not None:
        ds = Datastore.open(args.datastore)
        own = top_rows(ds, ns)
        ds.embedder = lambda: int8  # type: ignore[method-assign]  # same store, queries by onnx int8
        compare_all(
            f"queries only: {args.datastore} ({ds.n_vectors:,} vectors, "
            f"{ds.manifest['model'].get('backend', 'torch')} {ds.manifest['model']['precision']}) vs int8 queries",
            own, top_rows(ds, ns), ("store's", "int8 q"),
        )  # fmt: skip

    if args.queries_only:
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="tf_embq_"))
    sources = sorted(p for p in args.sources.iterdir() if p.is_dir())
    stores = {}
    for backend, prec in (("torch", "fp32"), ("onnx", "int8")):
        out = work / f"{backend}_{prec}"
        t0 = time.perf_counter()
        build_datastore(sources, out, max_rows=args.max_rows, backend=backend, precision=prec)
        stores[prec] = Datastore.open(out)
        print(f"built {out}: {stores[prec].n_vectors:,} vectors in {time.perf_counter() - t0:.0f} s")
    compare_all(
        f"store and queries: {len(sources)} sources x {args.max_rows} rows "
        f"({stores['fp32'].n_rows:,} rows, {stores['fp32'].n_vectors:,} vectors), fp32 vs int8",
        top_rows(stores["fp32"], ns), top_rows(stores["int8"], ns), ("fp32", "int8"),
    )  # fmt: skip
    print(f"end [{uptime()}]")
    if args.work is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
