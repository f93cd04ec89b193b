"""Adaptive in-flight limits per endpoint and several base URLs for one model, against fake servers
with a fixed capacity (queueing like llama.cpp's slots, or 429 like a rate-limited API)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from taskforge._llm import LLM, LLMRequest
from taskforge._llm._limits import Endpoint, EndpointPool
from taskforge.testing import FakeLLMServer

os.environ["TASKFORGE_QUIET"] = "1"


def reqs(n: int, prefix: str = "a") -> list[LLMRequest]:
    return [
        LLMRequest(key=f"{prefix}{i}", messages=[{"role": "user", "content": f"{prefix} {i}"}])
        for i in range(n)
    ]


def test_endpoint_slow_start_then_halves_on_overload_and_grows_only_when_saturated() -> None:
    ep = Endpoint("u", 64, initial=4)
    for _ in range(4):
        ep.on_success(0.1, 10, saturated=True)
    assert ep.limit == 8  # slow start: +1 per success while saturated
    ep.on_overload(0.0)
    assert ep.limit == 4 and not ep.slow_start
    ep.on_overload(0.0)
    assert ep.limit == 4  # same round trip: one decrease
    for _ in range(20):
        ep.on_success(0.1, 10, saturated=False)
    assert ep.limit == 4  # no evidence, no growth
    for _ in range(20):
        ep.on_success(0.1, 10, saturated=True)
    assert 7 < ep.limit < 9  # additive: about +1 per `limit` successes


def test_rising_service_time_cuts_the_limit() -> None:
    ep = Endpoint("u", 32, initial=32)
    for _ in range(20):
        ep.on_success(0.1, 10, saturated=True)
    before = ep.limit
    for _ in range(10):
        ep.on_success(0.5, 10, saturated=True)  # 5x slower per token: requests queue in the server
    assert ep.limit < before and ep.decreases >= 1
    long_answers = Endpoint("u", 32, initial=32)
    for i in range(30):  # slow because the answers are long, not because the server is queueing
        long_answers.on_success(0.1 * (1 + i % 5), 10 * (1 + i % 5), saturated=True)
    assert long_answers.decreases == 0


def test_pool_prefers_the_endpoint_with_most_free_slots() -> None:
    async def main() -> None:
        a, b = Endpoint("a", 4, adaptive=False), Endpoint("b", 2, adaptive=False)
        pool = EndpointPool([a, b])
        got = [await pool.acquire() for _ in range(6)]
        assert [e.url for e in got].count("a") == 4 and [e.url for e in got].count("b") == 2
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        pool.release(b)
        assert (await asyncio.wait_for(waiter, 1)) is b

    asyncio.run(main())


def test_a_2_slot_queueing_server_is_not_flooded(tmp_path: Path) -> None:
    """The llama.cpp case: 2 slots, default 32 in flight, a timeout shorter than the queue would be."""
    with FakeLLMServer(latency=0.05, capacity=2) as s:
        llm = LLM.from_spec(
            "openai:fake", base_url=s.openai_url, cache_path=tmp_path / "c.sqlite", timeout=0.6, max_retries=6
        )
        results = list(llm.run(reqs(60)))
        assert all(r.ok for r in results)
        (state,) = llm._states.values()
        ep = state.pool.endpoints[0]
        # fixed 32 in flight would queue 30 x 50 ms = 1.5 s behind the slots and time out
        assert llm.stats.calls <= 66 and ep.lowest < 8
        llm.close()


def test_two_endpoints_share_by_capacity_and_a_429_storm_loses_nothing(tmp_path: Path) -> None:
    with (
        FakeLLMServer(latency=0.02, capacity=12, overload="429", retry_after=0.02) as big,
        FakeLLMServer(latency=0.02, capacity=3, overload="429", retry_after=0.02) as small,
    ):
        llm = LLM.from_spec(
            "openai:fake",
            base_url=[big.openai_url, small.openai_url],
            cache_path=tmp_path / "c.sqlite",
            max_in_flight=32,
            max_retries=20,
            backoff_base=0.01,
        )
        results = list(llm.run(reqs(400)))
        assert all(r.ok for r in results)
        served = {big.openai_url: big.completed_count, small.openai_url: small.completed_count}
        assert served[big.openai_url] > 2 * served[small.openai_url] > 0  # spread by capacity
        assert big.rejected_overload + small.rejected_overload > 0  # the limits were found by probing
        assert {r.endpoint for r in results} == {big.openai_url, small.openai_url}
        llm.close()


def test_capacity_halving_mid_run_fails_no_request(tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.02, capacity=16, overload="429", retry_after=0.02) as s:
        llm = LLM.from_spec(
            "openai:fake",
            base_url=s.openai_url,
            cache_path=tmp_path / "c.sqlite",
            max_in_flight=32,
            max_retries=20,  # 6 ran out once with a datastore build loading the same cores
            backoff_base=0.01,
        )
        results = []
        for i, r in enumerate(llm.run(reqs(600))):
            if i == 200:
                s.set_capacity(8)
            results.append(r)
        assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        (state,) = llm._states.values()
        assert state.pool.endpoints[0].limit <= 12
        llm.close()
