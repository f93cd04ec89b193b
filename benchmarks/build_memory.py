"""Peak memory of a datastore build: N rows vs 10N rows (the same sources repeated under new names).

A build streams: rows are read, embedded and written chunk by chunk, and the merge appends
arrays front to back, so peak resident memory should not grow with the size of the store
(target ratio < 1.5). ``--huge-row-mb`` adds a third build: the N rows plus one row of that
many MB, against the N-row build (the cell is cut for the embedder; the row store keeps it).

Each build is a real ``taskforge datastore build`` process; its peak RSS comes from the
kernel (``wait4``'s ``ru_maxrss``), not from sampling.

    python benchmarks/build_memory.py [--sources 9] [--max-rows 60] [--times 10] [--precision auto]
                                      [--huge-row-mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def copies(sources: list[Path], times: int, into: Path) -> list[Path]:
    """``times`` copies of each source folder under new names (files linked, not copied)."""
    out = []
    for k in range(times):
        for src in sources:
            dst = into / f"{src.name}_copy{k}"
            dst.mkdir(parents=True)
            for f in src.iterdir():
                if f.is_file():
                    (dst / f.name).symlink_to(f.resolve())
            out.append(dst)
    return out


def build(sources: list[Path], out: Path, max_rows: int, precision: str) -> dict[str, float]:
    """Run one build process to the end: its peak RSS (MB), seconds, rows and vectors."""
    cmd = [sys.executable, "-m", "taskforge", "datastore", "build", *map(str, sources), "--out", str(out),
           "--max-rows", str(max_rows), "--precision", precision]  # fmt: skip
    env = {**os.environ, "TASKFORGE_QUIET": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed:\n{log.read_text()[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "peak_mb": usage.ru_maxrss / 1024,
        "seconds": seconds,
        "rows": manifest["n_rows"],
        "vectors": manifest["n_vectors"],
    }


def huge_source(base: Path, into: Path, mb: float) -> Path:
    """A copy of ``base`` with one more JSONL file holding a single row of ``mb`` megabytes."""
    dst = into / f"{base.name}_huge"
    shutil.copytree(base, dst, symlinks=True)
    row = {"text": "many words in one row " * int(mb * 2**20 / 22), "note": "one huge row"}
    (dst / "zz_huge.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=9, help="demo sources to use")
    ap.add_argument("--max-rows", type=int, default=60, help="rows per source")
    ap.add_argument("--times", type=int, default=10, help="the larger build repeats the sources this often")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--huge-row-mb", type=float, default=0.0, help="also build N rows + one row this big")
    args = ap.parse_args()

    base = sorted(p for p in DEMO.iterdir() if p.is_dir())[: args.sources]
    tmp = Path(tempfile.mkdtemp(prefix="tf_build_memory_"))
    try:
        small = build(copies(base, 1, tmp / "n"), tmp / "ds_n", args.max_rows, args.precision)
        large = build(copies(base, args.times, tmp / "10n"), tmp / "ds_10n", args.max_rows, args.precision)
        rows = [("N", small), (f"{args.times}N", large)]
        if args.huge_row_mb:
            srcs = copies(base, 1, tmp / "h")
            srcs[0] = huge_source(srcs[0], tmp / "h2", args.huge_row_mb)
            rows.append(
                (
                    f"N + one {args.huge_row_mb:g} MB row",
                    build(srcs, tmp / "ds_h", args.max_rows, args.precision),
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'build':24s} {'rows':>8s} {'vectors':>8s} {'peak RSS MB':>12s} {'seconds':>8s}")
    for name, r in rows:
        print(f"{name:24s} {r['rows']:8,d} {r['vectors']:8,d} {r['peak_mb']:12.0f} {r['seconds']:8.1f}")
    print(f"peak RSS ratio {args.times}N / N: {large['peak_mb'] / small['peak_mb']:.2f} (target < 1.5)")
    if args.huge_row_mb:
        print(
            f"peak RSS ratio with the huge row / N: {rows[2][1]['peak_mb'] / small['peak_mb']:.2f} (target < 1.5)"
        )


if __name__ == "__main__":
    main()
