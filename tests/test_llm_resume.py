"""kill -9 mid-run, resume: no repeated calls for responses already received, no duplicate output.

A real subprocess runs LLM.run over N requests and appends each result to a JSONL file;
the test kills it with SIGKILL after some results, then runs it again to the end, while the
in-process fake server counts every request it receives.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskforge._io import read_jsonl
from taskforge.testing import FakeLLMServer

os.environ["TASKFORGE_QUIET"] = "1"

N = 120
IN_FLIGHT = 4

SCRIPT = """
import os, sys
from taskforge._io import AppendLog, read_jsonl_tolerant
from taskforge._llm import LLM, LLMRequest

spec, base_url, cache, out, n = sys.argv[1:6]
done = {r["key"] for r in read_jsonl_tolerant(out)} if os.path.exists(out) else set()
llm = LLM.from_spec(
    spec, base_url=base_url, cache_path=cache, max_in_flight=int(os.environ["IN_FLIGHT"]), timeout=2.0, backoff_base=0.01
)
requests = (
    LLMRequest(key=str(i), messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": f"item {i}"}])
    for i in range(int(n))
    if str(i) not in done
)
with AppendLog(out) as log:
    for res in llm.run(requests):
        log.append(res.to_dict())
llm.close()
"""


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def cached_prompts(cache: Path) -> set[str]:
    db = sqlite3.connect(cache)
    try:
        rows = db.execute("SELECT messages FROM log WHERE ok = 1").fetchall()
    finally:
        db.close()
    return {json.loads(m)[-1]["content"] for (m,) in rows}


@pytest.mark.parametrize(
    ("backend", "fault_rate", "n"),
    [
        ("openai", 0.0, N),
        ("anthropic", 0.0, N),
        pytest.param("openai", 0.2, 400, marks=pytest.mark.slow),
        pytest.param("anthropic", 0.2, 400, marks=pytest.mark.slow),
    ],
)
def test_killed_run_resumes_without_repeating_calls(
    backend: str, fault_rate: float, n: int, tmp_path: Path
) -> None:
    script = tmp_path / "run_llm.py"
    script.write_text(SCRIPT)
    cache, out = tmp_path / "cache.sqlite", tmp_path / "out.jsonl"
    env = {
        **os.environ,
        "IN_FLIGHT": str(IN_FLIGHT),
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "TASKFORGE_QUIET": "1",
    }
    with FakeLLMServer(latency=0.05, fault_rate=fault_rate, hang=30, retry_after=0.05, seed=11) as server:
        url = server.openai_url if backend == "openai" else server.anthropic_url
        cmd = [sys.executable, str(script), f"{backend}:fake", url, str(cache), str(out), str(n)]

        proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 60
        while count_lines(out) < 30 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
        time.sleep(0.3)  # requests the child sent just before the kill may still sit in the server's socket
        settle = time.monotonic() + 10
        while server.in_flight and time.monotonic() < settle:
            time.sleep(0.01)
        first_run = server.request_count
        written = count_lines(out)
        done_before = cached_prompts(cache)
        assert 30 <= written <= len(done_before) < n  # cached (committed) before it was handed out

        subprocess.run(cmd, env=env, check=True, timeout=300)
        asked_again = {b["messages"][-1]["content"] for b in server.requests[first_run:]}
        assert not asked_again & done_before  # zero repeated calls for cached responses
        if fault_rate == 0:
            # lost to the kill: the calls in flight, plus answers received but not yet committed
            assert first_run - len(done_before) <= 2 * IN_FLIGHT
            assert server.request_count - first_run == n - len(done_before)  # one call per missing response

    results = list(read_jsonl(out))
    keys = [r["key"] for r in results]
    assert sorted(keys, key=int) == [str(i) for i in range(n)]  # complete, no duplicates
    ok = [r for r in results if r["ok"]]
    assert all(r["text"] == f"echo: item {r['key']}" for r in ok)
    assert len(ok) >= n - 2 and all(r["error"] for r in results if not r["ok"])
