"""Batch APIs through the fake server's OpenAI and Anthropic batch protocols: submit, poll, partial
failures, expiry, kill -9 and resume without resubmitting, and no double pay across batch/online."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskforge._llm import LLM, LLMRequest
from taskforge.testing import FakeLLMServer

os.environ["TASKFORGE_QUIET"] = "1"


def reqs(n: int, prefix: str = "b") -> list[LLMRequest]:
    return [
        LLMRequest(key=f"{prefix}{i}", messages=[{"role": "user", "content": f"{prefix} item {i}"}])
        for i in range(n)
    ]


def url_of(server: FakeLLMServer, backend: str) -> str:
    return server.openai_url if backend == "openai" else server.anthropic_url


def batch_llm(server: FakeLLMServer, backend: str, cache: Path, **kw: object) -> LLM:
    kw = {"batch": True, "batch_poll": 0.05, "backoff_base": 0.01, "prices": (2.0, 8.0), **kw}
    return LLM.from_spec(f"{backend}:fake", base_url=url_of(server, backend), cache_path=cache, **kw)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_batch_answers_every_request_at_half_price(backend: str, tmp_path: Path) -> None:
    with FakeLLMServer(batch_delay=0.2) as s:
        llm = batch_llm(s, backend, tmp_path / "c.sqlite")
        results = list(llm.run(reqs(40)))
        assert sorted(r.request.key for r in results) == sorted(f"b{i}" for i in range(40))
        assert all(r.ok and r.text == f"echo: {r.request.messages[0]['content']}" for r in results)
        assert s.request_count == 0  # nothing went through the online endpoint
        assert s.batches.created == 1 and s.batches.processed == 40
        batches = llm.cache.batches()  # type: ignore[union-attr]
        assert len(batches) == 1 and batches[0]["n"] == 40 and batches[0]["ended"] is not None
        stats = llm.stats
        online = (stats.input_tokens * 2.0 + stats.output_tokens * 8.0) / 1e6
        assert stats.batch_requests == 40 and stats.cost == pytest.approx(online * 0.5)
        llm.close()

        # the same requests online: every answer comes from the cache, nothing is paid twice
        online_llm = LLM.from_spec(
            f"{backend}:fake", base_url=url_of(s, backend), cache_path=tmp_path / "c.sqlite"
        )
        again = list(online_llm.run(reqs(40)))
        assert all(r.cached for r in again) and s.request_count == 0
        online_llm.close()


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_partial_failures_are_retried_in_a_new_batch_next_run(backend: str, tmp_path: Path) -> None:
    with FakeLLMServer(batch_delay=0.1, batch_fail_rate=0.25) as s:
        llm = batch_llm(s, backend, tmp_path / "c.sqlite")
        first = list(llm.run(reqs(60)))
        failed = {r.request.key for r in first if not r.ok}
        assert 3 < len(failed) < 30 and all("batch" in (r.error or "") for r in first if not r.ok)
        assert s.batches.processed == 60 - len(failed)
        s.batches.fail_rate = 0.0
        second = list(llm.run(reqs(60)))
        assert all(r.ok for r in second)
        assert {r.request.key for r in second if not r.cached} == failed
        assert s.batches.created == 2 and s.batches.processed == 60  # each answer paid once
        llm.close()


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_an_expired_batch_keeps_what_finished(backend: str, tmp_path: Path) -> None:
    with FakeLLMServer(batch_delay=0.1, batch_expire=True) as s:
        llm = batch_llm(s, backend, tmp_path / "c.sqlite")
        first = list(llm.run(reqs(20)))
        assert sum(r.ok for r in first) == 10
        assert all("expired" in (r.error or "") for r in first if not r.ok)
        s.batches.expire = False
        second = list(llm.run(reqs(20)))
        assert all(r.ok for r in second) and sum(not r.cached for r in second) == 10
        assert s.batches.processed == 20
        llm.close()


CHILD = """
import sys
from taskforge._llm import LLM, LLMRequest
llm = LLM.from_spec(sys.argv[1] + ":fake", base_url=sys.argv[2], cache_path=sys.argv[3], batch=True, batch_poll=0.05)
reqs = [LLMRequest(key=f"b{i}", messages=[{"role": "user", "content": f"b item {i}"}]) for i in range(30)]
for r in llm.run(reqs):
    print(r.request.key, flush=True)
"""


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_kill_9_while_polling_then_resume_polls_the_same_batch(backend: str, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    with FakeLLMServer(batch_delay=3.0) as s:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, backend, url_of(s, backend), str(cache)],
            stdout=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while s.batches.polls == 0 and time.monotonic() < deadline:  # submitted and recorded, now polling
            time.sleep(0.05)
        assert s.batches.created == 1
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None and child.stdout.read() == ""  # killed before any answer

        llm = batch_llm(s, backend, cache)
        results = list(llm.run(reqs(30)))
        assert len(results) == 30 and all(r.ok for r in results)
        assert s.batches.created == 1  # polled the recorded batch, submitted nothing new
        assert s.batches.processed == 30
        llm.close()


def test_openai_upload_recorded_but_batch_not_created_is_recovered(tmp_path: Path) -> None:
    """A kill between the upload and the batch creation: the next run creates it from the same file."""
    with FakeLLMServer(batch_delay=0.1) as s:
        llm = batch_llm(s, "openai", tmp_path / "c.sqlite")
        keys = [llm.key_of(r) for r in reqs(5)]
        # simulate: the upload happened and was recorded, then the process died
        from taskforge._llm._batch import OpenAIBatchAPI

        async def upload_only() -> str:
            api = OpenAIBatchAPI(llm, llm._state().session)
            lines = [
                api.line(k, llm.backend.payload(r.messages, r.options, 0))
                for k, r in zip(keys, reqs(5), strict=True)
            ]
            api._create = _no_create  # type: ignore[method-assign]
            return await api.submit(lines, keys)

        async def _no_create(file_id: str) -> str:
            return f"pending:{file_id}"

        pending = llm._background().submit(upload_only()).result(10)
        assert pending.startswith("pending:") and s.batches.created == 0
        results = list(llm.run(reqs(5)))
        assert all(r.ok for r in results) and s.batches.created == 1 and s.batches.processed == 5
        llm.close()


def test_batch_mode_needs_a_cache_and_a_batch_protocol(tmp_path: Path) -> None:
    from taskforge._llm import LLMError

    with FakeLLMServer() as s:
        llm = LLM.from_spec("openai:fake", base_url=s.openai_url, cache_path=None, batch=True)
        with pytest.raises(LLMError, match="needs the response cache"):
            list(llm.run(reqs(1)))
        llm.close()
