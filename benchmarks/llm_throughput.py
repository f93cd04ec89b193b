"""LLM client throughput against the fake server run as a separate process (so it has its own CPU).

    python benchmarks/llm_throughput.py [--in-flight 64] [--latency 0.2 0.05] [--seconds 5]
                                        [--only latency|endpoints|halving]

For each latency it prints achieved requests/s, the ideal (in flight / latency), their ratio
(target >= 0.9 at 64 in flight) and the client's CPU time per request (time.process_time of
this process only), with the SQLite cache on (the default in real runs) and off, and for bare
aiohttp with a semaphore as the floor: on a busy machine the ratio is limited by CPU contention,
and the floor shows how much of the gap is the machine rather than the client.

``endpoints``: two fake servers of one model with different capacity (slots that queue, like
vLLM or llama.cpp replicas) behind one ``LLM`` with two base URLs: achieved req/s over the sum
of their capacities (slots / latency). ``halving``: one server that answers 429 beyond its
capacity, halved a third of the way through: requests that still failed after retries (the
"error storm" count) and the share of calls that were 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

os.environ.setdefault("TASKFORGE_QUIET", "1")

from taskforge import LLM, LLMRequest
from taskforge._console import console, summary_table


def start_server(latency: float, *extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskforge.testing.fake_llm",
            "--port",
            "0",
            "--latency",
            str(latency),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        raise RuntimeError("fake server did not start")
    return proc, url


def measure(url: str, in_flight: int, n: int, cache_path: Path | None) -> tuple[float, float, int]:
    """(requests/s, client CPU ms per request, failures) for n fresh requests."""
    llm = LLM.from_spec("openai:bench", base_url=url + "/v1", cache_path=cache_path, max_in_flight=in_flight)
    tag = uuid.uuid4().hex
    warm = [
        LLMRequest(key=f"w{i}", messages=[{"role": "user", "content": f"warm {tag} {i}"}])
        for i in range(in_flight)
    ]
    list(llm.run(warm))  # open the connections
    reqs = [
        LLMRequest(key=str(i), messages=[{"role": "user", "content": f"bench {tag} {i}"}]) for i in range(n)
    ]
    cpu0, t0 = time.process_time(), time.perf_counter()
    failures = sum(not r.ok for r in llm.run(reqs))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    llm.close()
    return n / wall, cpu / n * 1000, failures


def measure_raw(url: str, in_flight: int, n: int) -> tuple[float, float, int]:
    """The floor: bare aiohttp with a semaphore, no retries/cache/limits (what MEASURED.md calls raw aiohttp)."""

    async def go() -> tuple[float, float, int]:
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:
            sem = asyncio.Semaphore(in_flight)
            tag = uuid.uuid4().hex

            async def one(i: int) -> bool:
                body = {"model": "bench", "messages": [{"role": "user", "content": f"raw {tag} {i}"}]}
                async with sem, session.post(url + "/v1/chat/completions", json=body) as r:
                    data = await r.json()
                    return bool(data["choices"][0]["message"]["content"])

            await asyncio.gather(*(one(-i - 1) for i in range(in_flight)))  # warm up
            cpu0, t0 = time.process_time(), time.perf_counter()
            ok = await asyncio.gather(*(one(i) for i in range(n)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            return n / wall, cpu / n * 1000, n - sum(ok)

    return asyncio.run(go())


def _requests(n: int, tag: str) -> list[LLMRequest]:
    return [LLMRequest(key=str(i), messages=[{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


def measure_endpoints(
    latency: float, capacities: list[int], in_flight: int, seconds: float
) -> list[list[Any]]:
    """Two (or more) queueing servers behind one LLM: achieved req/s / sum of capacities."""
    servers = [start_server(latency, "--capacity", str(c)) for c in capacities]
    try:
        urls = [url + "/v1" for _, url in servers]
        ideal = sum(capacities) / latency
        n = int(ideal * seconds)
        llm = LLM.from_spec("openai:bench", base_url=urls, cache_path=None, max_in_flight=in_flight)
        list(llm.run(_requests(sum(capacities), "warm " + uuid.uuid4().hex)))
        t0 = time.perf_counter()
        results = list(llm.run(_requests(n, "bench " + uuid.uuid4().hex)))
        wall = time.perf_counter() - t0
        by_url = Counter(r.endpoint for r in results)
        (state,) = llm._states.values()
        limits = {e.url: e.limit for e in state.pool.endpoints}
        llm.close()
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()
    share = ", ".join(
        f"{c} slots: {by_url[u] / n:.0%} (limit {limits[u]:.0f})"
        for c, u in zip(capacities, urls, strict=True)
    )
    failed = sum(not r.ok for r in results)
    return [
        [
            f"{latency * 1000:g} ms",
            f"{len(capacities)} endpoints ({share})",
            n,
            n / wall,
            ideal,
            n / wall / ideal,
            "",
            failed,
        ]
    ]


def measure_halving(latency: float, capacity: int, in_flight: int, seconds: float) -> list[list[Any]]:
    """One server that 429s beyond its capacity, halved a third of the way through."""
    proc, url = start_server(latency, "--capacity", str(capacity), "--overload", "429")
    try:
        n = int(capacity / latency * seconds)
        llm = LLM.from_spec("openai:bench", base_url=url + "/v1", cache_path=None, max_in_flight=in_flight)
        t0 = time.perf_counter()
        failed = 0
        for i, r in enumerate(llm.run(_requests(n, "halve " + uuid.uuid4().hex))):
            failed += not r.ok
            if i == n // 3:
                req = urllib.request.Request(
                    url + "/_fake/capacity", json.dumps({"capacity": capacity // 2}).encode(), method="POST"
                )
                urllib.request.urlopen(req, timeout=10).read()
        wall = time.perf_counter() - t0
        stats = llm.stats
        llm.close()
    finally:
        proc.kill()
        proc.wait()
    ideal_wall = (n / 3) / (capacity / latency) + (2 * n / 3) / (capacity / 2 / latency)
    label = f"capacity {capacity} -> {capacity // 2} (429 beyond): 429s {stats.throttled / stats.calls:.1%} of calls"
    return [
        [
            f"{latency * 1000:g} ms",
            label,
            n,
            n / wall,
            n / ideal_wall,
            ideal_wall / wall,
            "",
            f"{failed} ({failed / n:.2%})",
        ]
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--latency", type=float, nargs="+", default=[0.2, 0.05])
    p.add_argument("--seconds", type=float, default=5.0, help="aim for about this long per measurement")
    p.add_argument("--only", choices=["latency", "endpoints", "halving"], action="append")
    args = p.parse_args()
    only = set(args.only or ["latency", "endpoints", "halving"])
    rows = []
    load = os.getloadavg()[0]
    if "endpoints" in only:
        rows += measure_endpoints(0.1, [24, 8], args.in_flight, args.seconds * 2)
    if "halving" in only:
        rows += measure_halving(0.1, 32, args.in_flight, args.seconds * 2)
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.latency if "latency" in only else []:
            proc, url = start_server(latency)
            try:
                ideal = args.in_flight / latency
                n = max(args.in_flight * 4, int(ideal * args.seconds))
                runs = {
                    "LLM.run, cache on": partial(
                        measure, url, args.in_flight, n, Path(tmp) / f"c{latency}.sqlite"
                    ),
                    "LLM.run, cache off": partial(measure, url, args.in_flight, n, None),
                    "raw aiohttp (floor)": partial(measure_raw, url, args.in_flight, n),
                }
                for label, run in runs.items():
                    rps, cpu_ms, failures = run()
                    rows.append(
                        [f"{latency * 1000:g} ms", label, n, rps, ideal, rps / ideal, cpu_ms, failures]
                    )
            finally:
                proc.kill()
                proc.wait()
    console.width = max(console.width, 110)
    console.print(
        summary_table(
            f"LLM client throughput, {args.in_flight} in flight (fake server in its own process; "
            f"{os.cpu_count()} CPUs; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)",
            ["latency", "client", "requests", "req/s", "ideal req/s", "ratio", "client CPU ms/req", "failed"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
