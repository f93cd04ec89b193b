"""Chaos: a transform of 500 items against a failing server, killed with SIGKILL three times, resumed.

The fake LLM server (real HTTP, in this process) answers like a model for the NLI task, but
20% of requests fail on purpose: 429 with Retry-After, 500, a hang past the client's timeout,
a dropped connection, an HTML page instead of JSON, and JSON cut off halfway. A real
``taskforge transform`` process runs against it and is killed with SIGKILL at three random
points (when the server has answered a random number of requests), then started again
with the same command until it finishes. The script then counts, from the files and the
server's own log:

- lost: items with neither a sample nor a reject in the final files (must be 0)
- duplicated: samples written twice, or items both kept and rejected (must be 0)
- re-paid: requests the server answered in full more than once; a kill can lose the
  answers in flight that were not yet committed to the cache, so the bound is
  kills x max-in-flight (nothing beyond it may be re-paid)

and prints the faults the server injected next to the fault counts the last run's console
summary showed (retries, throttles, failures, repairs): a fault the console did not count
would be a silent one.

    python benchmarks/chaos.py [--items 500] [--fault-rate 0.2] [--kills 3] [--max-in-flight 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from taskforge import Task
from taskforge._records import write_items
from taskforge.testing import FakeLLMServer, demo_items, task_responder
from taskforge.testing._fake_llm import FAULTS, MORE_FAULTS

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "examples" / "nli.yaml"
DEMO = ROOT / "demo" / "sources"
SOURCES = ("snli_dev", "scitail_test", "boolq", "openbookqa", "gsm8k", "svamp")


def items_file(n: int, path: Path) -> Path:
    """``n`` retrieved items from the demo sources, ranked 1..n."""
    items: list[dict[str, Any]] = []
    for source in SOURCES:
        items += [dict(it) for it in demo_items(DEMO, source)]
    if len(items) < n:
        sys.exit(f"the demo sources hold {len(items)} rows; ask for at most that many items")
    for rank, item in enumerate(items, 1):
        item["rank"] = rank
    return write_items(path, items[:n])


class PaidAnswers:
    """A responder wrapper that counts the answers the server delivered in full, per request."""

    def __init__(self, responder: Any) -> None:
        self.responder = responder
        self.count: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        key = json.dumps([body.get("messages"), body.get("seed")], sort_keys=True)
        with self.lock:
            self.count[key] += 1
        return self.responder(body)


def console_counts(text: str) -> dict[str, int]:
    """The LLM rows of the transform summary table the console printed (name -> number)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\W*((?:LLM|repair)[\w ()/-]*?)\s*[│|]\s*([\d,]+)\s*[│|]", line)
        if m:
            counts[m.group(1).strip()] = int(m.group(2).replace(",", ""))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--max-in-flight", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=2.0, help="client timeout; hung requests wait 1.5x this")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="tf_chaos_"))
    items = items_file(args.items, work / "items.jsonl")
    out = work / "out" / "samples.jsonl"
    paid = PaidAnswers(task_responder(Task.load(TASK), bad_share=0.05))
    kill_at = sorted(rng.sample(range(args.items // 20, args.items * 19 // 20), args.kills))
    faults = (*FAULTS, *MORE_FAULTS)
    env = {**os.environ, "TASKFORGE_QUIET": "1", "COLUMNS": "200"}
    runs: list[dict[str, Any]] = []
    with FakeLLMServer(
        responder=paid,
        latency=0.02,
        fault_rate=args.fault_rate,
        faults=faults,
        retry_after=0.2,
        hang=args.timeout * 1.5,
        seed=args.seed,
    ) as server:
        cmd = [sys.executable, "-m", "taskforge", "transform", str(TASK), str(items), "--out", str(out),
               "--llm", "openai:fake", "--base-url", server.openai_url,
               "--max-in-flight", str(args.max_in_flight), "--timeout", str(args.timeout)]  # fmt: skip
        for point in [*kill_at, None]:
            before = Counter(server.fault_counts)
            t0 = time.monotonic()
            log = work / f"run{len(runs)}.log"
            with log.open("w") as sink:
                proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
                while point is not None and server.completed_count < point and proc.poll() is None:
                    time.sleep(0.005)
                if point is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                code = proc.wait()
            if code == -signal.SIGKILL:
                time.sleep(0.5)  # requests the killed process sent still draw their faults: count them here
            runs.append(
                {
                    "killed at": f"{server.completed_count} answers" if code == -signal.SIGKILL else "-",
                    "exit": code,
                    "seconds": time.monotonic() - t0,
                    "faults": server.fault_counts - before,
                    "console": console_counts(log.read_text()),
                }
            )
            if point is None and code != 0:
                sys.exit(f"the last run failed (exit {code}):\n{log.read_text()[-3000:]}")

    samples = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    rejects = [json.loads(x) for x in (out.parent / "rejects.jsonl").read_text().splitlines() if x.strip()]
    wanted = [(i["source"], i["row_id"]) for i in map(json.loads, items.read_text().splitlines())]
    kept = Counter((s["provenance"]["source"], s["provenance"]["row_id"]) for s in samples)
    dropped = Counter((r["item"]["source"], r["item"]["row_id"]) for r in rejects)
    lost = sum(1 for k in wanted if k not in kept and k not in dropped)
    duplicated = sum(n - 1 for n in kept.values() if n > 1) + sum(1 for k in kept if k in dropped)
    duplicated += len(samples) - len({s["id"] for s in samples})
    repaid = sum(n - 1 for n in paid.count.values() if n > 1)
    kills = sum(1 for r in runs if r["exit"] == -signal.SIGKILL)
    bound = kills * args.max_in_flight
    llm_errors = sum(1 for r in rejects if r["filter"] == "llm_error")

    print(f"{args.items} items, fault rate {args.fault_rate:.0%} ({', '.join(faults)}), "
          f"max in flight {args.max_in_flight}, {kills} kills (SIGKILL)")  # fmt: skip
    print(f"{'run':4s} {'killed at':>14s} {'exit':>5s} {'seconds':>8s}  faults injected -> console summary")
    for i, r in enumerate(runs):
        injected = ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items())) or "none"
        shown = ", ".join(f"{k} {v}" for k, v in r["console"].items()) or "(killed: no summary)"
        print(
            f"{i:<4d} {r['killed at']:>14s} {r['exit']:>5d} {r['seconds']:8.1f}  {injected}\n{'':35s}-> {shown}"
        )
    last = runs[-1]
    shown = last["console"].get("LLM retries", 0) + last["console"].get("LLM failures", 0)
    total = sum((r["faults"] for r in runs), Counter())
    print(
        f"faults injected in all runs: {total.total()} ({', '.join(f'{k} {v}' for k, v in sorted(total.items()))})"
    )
    print(
        f"last run: {last['faults'].total()} faults injected, its console counted {shown} (retries + failures)"
    )
    print(
        f"samples {len(samples)}, rejects {len(rejects)} (llm_error {llm_errors}), answers paid {paid.count.total()}"
    )
    print(
        f"lost {lost} | duplicated {duplicated} | re-paid {repaid} (bound: {kills} kills x {args.max_in_flight} in flight = {bound})"
    )
    ok = lost == 0 and duplicated == 0 and repaid <= bound and shown == last["faults"].total()
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
