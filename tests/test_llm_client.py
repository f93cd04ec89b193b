"""The LLM client against the fake server over real sockets: faults, retries, limits, cache, secrets."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskforge._llm import LLM, GenerationOptions, LLMError, LLMRequest, LLMResult
from taskforge.testing import FakeLLMServer

os.environ["TASKFORGE_QUIET"] = "1"


def requests(n: int, prefix: str = "q") -> list[LLMRequest]:
    return [
        LLMRequest(key=f"{prefix}{i}", messages=[{"role": "user", "content": f"{prefix} number {i}"}])
        for i in range(n)
    ]


def client(server: FakeLLMServer, tmp_path: Path, **kw: object) -> LLM:
    kw = {"timeout": 5.0, "backoff_base": 0.01, "backoff_cap": 0.1, **kw}
    return LLM.from_spec(
        "openai:fake", base_url=server.openai_url, cache_path=tmp_path / "cache.sqlite", **kw
    )


def test_500_items_at_20_percent_faults_lose_nothing(tmp_path: Path) -> None:
    with FakeLLMServer(fault_rate=0.2, seed=3, hang=30) as s:
        llm = client(s, tmp_path, max_in_flight=32, timeout=0.5)
        results = list(llm.run(requests(500)))
        keys = Counter(r.request.key for r in results)
        assert len(keys) == 500 and set(keys.values()) == {1}  # none lost, none duplicated
        ok = [r for r in results if r.ok]
        assert len(ok) >= 495  # 6 retries: a failure needs 7 faults in a row
        assert all(r.text == f"echo: {r.request.messages[0]['content']}" for r in ok)
        assert all(r.error for r in results if not r.ok)
        assert s.fault_counts.total() > 50 and set(s.fault_counts) == {
            "429",
            "500",
            "timeout",
            "drop",
            "broken_json",
        }
        assert llm.stats.retries > 50 and llm.stats.calls == s.request_count
        llm.close()


def test_without_retries_failures_are_recorded_not_cached_then_retried(tmp_path: Path) -> None:
    with FakeLLMServer(fault_rate=0.3, faults=["500", "drop", "broken_json"], seed=5) as s:
        llm = client(s, tmp_path, max_retries=0)
        first = list(llm.run(requests(100)))
        failed = {r.request.key: r for r in first if not r.ok}
        assert len(first) == 100 and 10 < len(failed) < 60
        assert all(r.text is None and r.texts == [] for r in failed.values())
        reasons = {r.error.split(":")[0] for r in failed.values()}
        assert reasons <= {
            "HTTP 500 after 1 attempt",
            "connection error after 1 attempt",
            "invalid JSON response after 1 attempt",
        }, reasons
        assert llm.cache is not None and llm.cache.count() == 100 - len(failed)

        s.fault_rate = 0.0
        before = s.request_count
        second = list(llm.run(requests(100)))
        assert s.request_count - before == len(failed)  # only the failures go out again
        assert all(r.ok for r in second)
        assert {r.request.key for r in second if not r.cached} == set(failed)
        llm.close()


def test_rerun_is_served_from_cache_without_network(tmp_path: Path) -> None:
    with FakeLLMServer() as s:
        with client(s, tmp_path) as llm:
            assert all(r.ok and not r.cached for r in llm.run(requests(50)))
        assert s.request_count == 50
        with client(s, tmp_path) as llm:  # a new process would see the same file
            again = list(llm.run(requests(50)))
        assert s.request_count == 50
        assert all(r.cached and r.ok and r.text.startswith("echo: q number") for r in again)
        # another sample index or other options is another response
        with client(s, tmp_path) as llm:
            more = requests(2)
            more[0].sample_index = 1
            more[1].options = GenerationOptions(temperature=0.0)
            assert not any(r.cached for r in llm.run(more))
        assert s.request_count == 52


def test_identical_requests_in_one_run_share_one_call(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.05) as s, client(s, tmp_path) as llm:
        msgs = [{"role": "user", "content": "same"}]
        results = list(llm.run([LLMRequest(key=k, messages=msgs) for k in "abc"]))
        assert sorted(r.request.key for r in results) == ["a", "b", "c"]
        assert all(r.ok for r in results) and s.request_count == 1


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    with FakeLLMServer(fault_sequence=["429"], retry_after=0.6) as s, client(s, tmp_path) as llm:
        t0 = time.monotonic()
        res = llm.complete([{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - t0
        assert res.ok and res.attempts == 2
        assert elapsed >= 0.6  # backoff alone would have waited ~0.01 s
        assert llm.stats.throttled == 1 and llm.stats.retries == 1


def test_client_timeout_is_retried_and_reported(tmp_path: Path) -> None:
    with FakeLLMServer(fault_sequence=["timeout", "timeout"], hang=30) as s:
        with client(s, tmp_path, timeout=0.3, max_retries=0) as llm:
            res = llm.complete([{"role": "user", "content": "hi"}])
            assert not res.ok and res.error == "timeout (0.3s) after 1 attempt"
        with client(s, tmp_path, timeout=0.3) as llm:
            res = llm.complete([{"role": "user", "content": "hi"}])
            assert res.ok and res.attempts == 2


def test_non_retryable_status_fails_at_once(tmp_path: Path) -> None:
    with FakeLLMServer() as s:
        llm = LLM.from_spec("openai:fake", base_url=s.url + "/nope", cache_path=tmp_path / "c.sqlite")
        res = llm.complete([{"role": "user", "content": "hi"}])
        assert not res.ok and res.error.startswith("HTTP 404 after 1 attempt")
        assert s.request_count == 0  # 404 from the router: the handler never ran
        llm.close()


def test_concurrency_cap_is_respected(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.03) as s, client(s, tmp_path, max_in_flight=5) as llm:
        assert len(list(llm.run(requests(60)))) == 60
        assert 2 <= s.max_concurrent <= 5


def test_rpm_limit_is_respected_roughly(tmp_path: Path) -> None:
    with FakeLLMServer() as s, client(s, tmp_path, rpm=1200) as llm:  # 20/s, bursts of 20
        t0 = time.monotonic()
        assert len(list(llm.run(requests(40)))) == 40
        assert time.monotonic() - t0 >= 0.8  # unlimited this takes ~0.1 s


def test_tpm_limit_slows_calls(tmp_path: Path) -> None:
    opts = GenerationOptions(max_tokens=100)
    reqs = [
        LLMRequest(key=str(i), messages=[{"role": "user", "content": f"x {i}"}], options=opts)
        for i in range(12)
    ]
    long_answer = " ".join(["word"] * 150)  # ~150 output tokens per call, 12 calls
    with (
        FakeLLMServer(responder=lambda body: long_answer) as s,
        client(s, tmp_path, tpm=60_000) as llm,  # 1,000 tokens/s, bursts of 1,000
    ):
        t0 = time.monotonic()
        assert all(r.ok for r in llm.run(reqs))
        assert time.monotonic() - t0 >= 0.5  # ~1,900 tokens: at least ~0.9 s; unlimited ~0.05 s
        assert llm.stats.output_tokens == 12 * 150


def test_sustained_429s_shrink_concurrency(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.01, fault_rate=0.5, faults=["429"], retry_after=0.01, seed=1) as s:
        llm = client(s, tmp_path, max_in_flight=16, max_retries=20)
        assert all(r.ok for r in llm.run(requests(100)))
        (state,) = llm._states.values()
        assert state.pool.endpoints[0].lowest <= 8
        assert llm.stats.throttled == s.fault_counts["429"]
        llm.close()


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_api_key_never_reaches_cache_logs_or_results(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-TOPSECRET-4c0ffee"
    monkeypatch.setenv("MY_SECRET_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer(fault_rate=0.5, faults=["500", "429", "drop", "broken_json"], seed=2) as s:
        url = s.openai_url if backend == "openai" else s.anthropic_url
        llm = LLM.from_spec(
            f"{backend}:fake",
            base_url=url,
            api_key_env="MY_SECRET_KEY",
            cache_path=tmp_path / "cache.sqlite",
            max_retries=1,
            backoff_base=0.01,
        )
        results = list(llm.run(requests(40)))
        llm.print_summary()
        text = repr(llm) + repr(llm.backend) + repr(results) + str([r.to_dict() for r in results])
        llm.close()
        sent = s.headers[0].get("Authorization") or s.headers[0].get("x-api-key")
        assert secret in sent  # it was used...
    assert any(not r.ok for r in results)
    for f in tmp_path.iterdir():  # ...and never written: cache, WAL, SHM
        assert secret.encode() not in f.read_bytes(), f
    out, err = capfd.readouterr()
    assert secret not in caplog.text + text + out + err
    assert "retry" in caplog.text and "LLM calls" in err + out


def test_no_key_sends_no_auth_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLMServer() as s, client(s, tmp_path) as llm:
        assert llm.complete([{"role": "user", "content": "hi"}]).ok
        assert "Authorization" not in s.headers[0]


def test_anthropic_against_the_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeLLMServer(fault_rate=0.2, seed=4, hang=30) as s:
        llm = LLM.from_spec(
            "anthropic:claude-fake",
            base_url=s.anthropic_url,
            cache_path=tmp_path / "c.sqlite",
            timeout=0.5,
            backoff_base=0.01,
            prices={"input": 3.0, "output": 15.0},
        )
        reqs = [
            LLMRequest(
                key=str(i),
                messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": f"u{i}"}],
            )
            for i in range(100)
        ]
        results = list(llm.run(reqs))
        assert sorted(int(r.request.key) for r in results) == list(range(100))
        assert sum(r.ok for r in results) >= 98
        assert all(r.text == f"echo: u{r.request.key}" for r in results if r.ok)
        ok_bodies = [b for b in s.requests if b["messages"][0]["role"] == "user"]
        assert len(ok_bodies) == len(s.requests) and all(b["system"] == "be brief" for b in s.requests)
        assert all(h["x-api-key"] == "sk-ant-test" and h["anthropic-version"] for h in s.headers)
        st = llm.stats
        assert vars(st)["calls"] == st.calls and st.to_json()["tokens"] == st.tokens
        assert st.input_tokens == sum(r.usage["input_tokens"] for r in results) > 0
        assert st.cost == pytest.approx(st.input_tokens * 3e-6 + st.output_tokens * 15e-6)
        n = s.request_count
        assert all(
            r.cached for r in llm.run(reqs) if r.request.key in {x.request.key for x in results if x.ok}
        )
        assert s.request_count - n == sum(not r.ok for r in results)
        llm.close()


def test_async_api(tmp_path: Path) -> None:
    async def more() -> AsyncIterator[LLMRequest]:
        for r in requests(5, prefix="async"):
            await asyncio.sleep(0)
            yield r

    async def main(server: FakeLLMServer) -> list[LLMResult]:
        async with client(server, tmp_path) as llm:
            out = [r async for r in llm.arun(requests(20))]
            out += [r async for r in llm.arun(more())]  # an async iterable of requests works too
            out += [r async for r in llm.arun([])]
            out.append(await llm.acomplete([{"role": "user", "content": "one more"}]))
        llm.close()
        return out

    with FakeLLMServer(latency=0.01) as s:
        results = asyncio.run(main(s))
    assert len(results) == 26 and all(r.ok for r in results) and results[-1].text == "echo: one more"


def test_results_stream_as_they_complete(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.2) as s, client(s, tmp_path, max_in_flight=4) as llm:
        t0 = time.monotonic()
        it = llm.run(requests(12))  # three waves of four
        next(it)
        first_at = time.monotonic() - t0
        rest = list(it)
        total = time.monotonic() - t0
        assert len(rest) == 11 and first_at < 0.6 * total  # the first came long before the end


def test_results_come_in_completion_order(tmp_path: Path) -> None:
    def latency(body: dict) -> float:
        return 0.4 if body["messages"][0]["content"] == "q number 0" else 0.01

    with FakeLLMServer(latency=latency) as s, client(s, tmp_path, max_in_flight=8) as llm:
        keys = [r.request.key for r in llm.run(requests(6))]
    assert sorted(keys) == sorted(f"q{i}" for i in range(6)) and keys[-1] == "q0"


def test_stopping_early_cancels_the_rest(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.02) as s, client(s, tmp_path, max_in_flight=4) as llm:
        taken = []
        for r in llm.run(requests(500)):
            taken.append(r)
            if len(taken) == 5:
                break
        time.sleep(0.2)
        assert s.request_count < 100  # the input is consumed lazily, not all sent
        seen = s.request_count
        time.sleep(0.1)
        assert s.request_count == seen and s.in_flight == 0  # the rest was cancelled, nothing more goes out
        assert len(list(llm.run(requests(10)))) == 10  # and the client still works


def test_call_log_has_prompts_timings_and_tokens(tmp_path: Path) -> None:
    with FakeLLMServer(fault_sequence=["500"] * 7) as s, client(s, tmp_path) as llm:
        (failed,) = llm.run(requests(1))  # 1 try + 6 retries, all 500
        results = list(llm.run(requests(3)))
    assert failed.error.startswith("HTTP 500 after 7 attempts: internal error")
    assert all(r.ok for r in results) and s.request_count == 10
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    rows = db.execute(
        "SELECT request_key, messages, ok, response, error, attempts, latency, input_tokens FROM log"
    ).fetchall()
    assert len(rows) == 4
    assert rows[0][2] == 0 and rows[0][4] == failed.error and rows[0][5] == 7
    good = rows[1:]
    assert all(r[2] == 1 and "q number" in r[1] and "echo" in r[3] and r[6] > 0 and r[7] > 0 for r in good)
    assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 3
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_closed_llm_refuses_work(tmp_path: Path) -> None:
    with FakeLLMServer() as s:
        llm = client(s, tmp_path)
        llm.close()
        with pytest.raises(LLMError, match="closed"):
            llm.complete([{"role": "user", "content": "hi"}])


def test_input_errors_reach_the_caller(tmp_path: Path) -> None:
    def bad_requests():
        yield from requests(3)
        raise ValueError("broken input")

    with FakeLLMServer() as s, client(s, tmp_path) as llm:
        with pytest.raises(ValueError, match="broken input"):
            list(llm.run(bad_requests()))
        with pytest.raises(TypeError, match="LLMRequest"):
            list(llm.run([{"key": "a"}]))  # type: ignore[list-item]
        assert len(list(llm.run(requests(3)))) == 3


def test_invalid_request_is_a_recorded_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    with FakeLLMServer() as s:
        llm = LLM.from_spec("anthropic:m", base_url=s.anthropic_url, cache_path=tmp_path / "c.sqlite")
        res = llm.complete([{"role": "user", "content": "x"}], GenerationOptions(n=2))
        assert not res.ok and "n > 1" in res.error and s.request_count == 0
        llm.close()


def test_budget_stops_new_calls_and_a_larger_budget_pays_only_the_rest(tmp_path: Path) -> None:
    with FakeLLMServer() as s:
        llm = client(s, tmp_path, max_in_flight=1, max_calls=10)
        first = list(llm.run(requests(30)))
        assert sum(r.ok for r in first) == 10 and s.request_count == 10
        assert {r.error for r in first if not r.ok} == {"budget spent"} and llm.budget_spent() == "max_calls"
        llm.close()
        llm = client(s, tmp_path, max_in_flight=4, max_cost=1.0, prices=(1e5, 1e5))  # $0.1+ per call
        second = list(llm.run(requests(30)))
        assert sum(r.cached for r in second) == 10 and s.request_count - 10 <= 10 + 4
        assert llm.budget_spent() == "max_cost" and llm.stats.cost >= 1.0
        llm.close()
