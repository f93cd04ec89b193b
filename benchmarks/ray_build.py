"""Datastore build rate: the local executor vs the Ray executor with 1 and 2 workers, same run.

Builds the same demo sources (``--max-rows`` each) three ways into fresh folders and prints
vectors/s and the ratio to the local executor. Ray workers each load the model (counted: that
is what a cluster pays too). On one 2-core machine Ray cannot beat one process (MEASURED.md:
~80 texts/s in Ray against 142 in-process); the point of the executor is many machines.

    python benchmarks/ray_build.py [--max-rows 200] [--sources snli_dev,boolq,gsm8k,scitldr]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import ray

from taskforge import build_datastore

DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-rows", type=int, default=200)
    ap.add_argument("--sources", default="snli_dev,boolq,gsm8k,scitldr")
    args = ap.parse_args()
    sources = [DEMO / s for s in args.sources.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="tf_ray_"))
    start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rates: dict[str, float] = {}
    for label, workers in (("local executor", 0), ("ray, 1 worker", 1), ("ray, 2 workers", 2)):
        if workers:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        t0 = time.perf_counter()
        report = build_datastore(
            sources,
            tmp / label.replace(" ", "_"),
            max_rows=args.max_rows,
            executor="ray" if workers else "local",
        )
        rates[label] = sum(s["n_vectors"] for s in report.sources) / (time.perf_counter() - t0)
        if workers:
            ray.shutdown()
    shutil.rmtree(tmp)
    end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{len(sources)} demo sources x {args.max_rows} rows\nstart [{start}]\nend   [{end}]")
    for label, rate in rates.items():
        print(f"{label:16s} {rate:8.1f} vectors/s  {rate / rates['local executor']:5.2f}x local")


if __name__ == "__main__":
    main()
