"""LLM client throughput against the fake server run as a separate process (so it has its own CPU).

    python benchmarks/llm_throughput.py [--in-flight 64] [--latency 0.2 0.05] [--seconds 5]

For each latency it prints achieved requests/s, the ideal (in flight / latency), their ratio
(target >= 0.9 at 64 in flight) and the client's CPU time per request (time.process_time of
this process only), with the SQLite cache on (the default in real runs) and off, and for bare
aiohttp with a semaphore as the floor: on a busy machine the ratio is limited by CPU contention,
and the floor shows how much of the gap is the machine rather than the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import aiohttp

os.environ.setdefault("TASKFORGE_QUIET", "1")

from taskforge import LLM, LLMRequest
from taskforge._console import console, summary_table


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskforge.testing.fake_llm", "--port", "0", "--latency", str(latency)],
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--latency", type=float, nargs="+", default=[0.2, 0.05])
    p.add_argument("--seconds", type=float, default=5.0, help="aim for about this long per measurement")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.latency:
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
            f"LLM client throughput, {args.in_flight} in flight (fake server in its own process; {os.cpu_count()} CPUs)",
            ["latency", "client", "requests", "req/s", "ideal req/s", "ratio", "client CPU ms/req", "failed"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
