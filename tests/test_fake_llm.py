"""The fake LLM server speaks both protocols over real sockets and injects the faults it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from taskforge.testing import FakeLLMServer, last_user_message, system_prompt

os.environ["TASKFORGE_QUIET"] = "1"

OPENAI_BODY = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
ANTHROPIC_BODY = {
    "model": "m",
    "max_tokens": 10,
    "system": "be brief",
    "messages": [{"role": "user", "content": "hi"}],
}
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def post(
    url: str, body: object, headers: dict[str, str] | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_openai_shape_and_counters() -> None:
    with FakeLLMServer() as s:
        status, raw = post(s.openai_url + "/chat/completions", {**OPENAI_BODY, "n": 2})
        data = json.loads(raw)
        assert status == 200
        assert [c["message"]["content"] for c in data["choices"]] == ["echo: hello there"] * 2
        assert data["usage"]["prompt_tokens"] == 2
        assert (
            data["usage"]["total_tokens"]
            == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
        )
        assert s.request_count == s.completed_count == 1
        assert s.requests[0]["n"] == 2


def test_anthropic_shape_and_protocol_rules() -> None:
    with FakeLLMServer(responder=lambda body: body["system"].upper()) as s:
        status, raw = post(s.anthropic_url + "/v1/messages", ANTHROPIC_BODY, ANTHROPIC_HEADERS)
        data = json.loads(raw)
        assert status == 200
        assert data["content"] == [{"type": "text", "text": "BE BRIEF"}]
        assert set(data["usage"]) == {"input_tokens", "output_tokens"}
        # a system role in messages, a missing version header or max_tokens: 400 like the real API
        bad = {
            **ANTHROPIC_BODY,
            "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}],
        }
        assert post(s.anthropic_url + "/v1/messages", bad, ANTHROPIC_HEADERS)[0] == 400
        assert post(s.anthropic_url + "/v1/messages", ANTHROPIC_BODY)[0] == 400
        no_max = {k: v for k, v in ANTHROPIC_BODY.items() if k != "max_tokens"}
        assert post(s.anthropic_url + "/v1/messages", no_max, ANTHROPIC_HEADERS)[0] == 400
        assert s.request_count == 4 and s.completed_count == 1


def test_fault_sequence_then_normal() -> None:
    with FakeLLMServer(fault_sequence=["429", "500", "broken_json", "drop"], retry_after=2) as s:
        url = s.openai_url + "/chat/completions"
        req = urllib.request.Request(url, data=json.dumps(OPENAI_BODY).encode())
        with pytest.raises(urllib.error.HTTPError) as e429:
            urllib.request.urlopen(req, timeout=5)
        assert e429.value.code == 429 and e429.value.headers["Retry-After"] == "2"
        assert post(url, OPENAI_BODY)[0] == 500
        status, raw = post(url, OPENAI_BODY)
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            post(url, OPENAI_BODY)
        assert post(url, OPENAI_BODY)[0] == 200
        assert s.request_count == 5 and s.completed_count == 1
        assert dict(s.fault_counts) == {"429": 1, "500": 1, "broken_json": 1, "drop": 1}


def test_timeout_fault_hangs_past_client_timeout_and_stops_fast() -> None:
    t0 = time.monotonic()
    with (
        FakeLLMServer(fault_sequence=["timeout"], hang=30) as s,
        pytest.raises((TimeoutError, urllib.error.URLError)),
    ):
        post(s.openai_url + "/chat/completions", OPENAI_BODY, timeout=0.3)
    assert time.monotonic() - t0 < 10  # leaving the context did not wait the 30 s hang out


def test_fault_rate_is_seeded_and_reproducible() -> None:
    def run() -> list[int]:
        with FakeLLMServer(fault_rate=0.5, faults=["500"], seed=7) as s:
            return [post(s.openai_url + "/chat/completions", OPENAI_BODY)[0] for _ in range(20)]

    first = run()
    assert first == run()
    assert 0 < first.count(500) < 20


def test_responder_helpers_and_errors() -> None:
    def responder(body: dict) -> str:
        if "boom" in last_user_message(body):
            raise RuntimeError("responder failed")
        return f"{system_prompt(body)} / {last_user_message(body)}"

    with FakeLLMServer(responder=responder) as s:
        body = {
            "model": "m",
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        }
        _, raw = post(s.openai_url + "/chat/completions", body)
        assert json.loads(raw)["choices"][0]["message"]["content"] == "S / U"
        _, raw = post(s.anthropic_url + "/v1/messages", ANTHROPIC_BODY, ANTHROPIC_HEADERS)
        assert json.loads(raw)["content"][0]["text"] == "be brief / hi"
        assert (
            post(
                s.openai_url + "/chat/completions",
                {**OPENAI_BODY, "messages": [{"role": "user", "content": "boom"}]},
            )[0]
            == 500
        )


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        FakeLLMServer(faults=["slow"])
    with pytest.raises(ValueError, match="fault_rate"):
        FakeLLMServer(fault_rate=1.5)


def test_subprocess_mode_prints_url_and_serves_stats() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskforge.testing.fake_llm", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert post(url + "/v1/chat/completions", OPENAI_BODY)[0] == 200
        with urllib.request.urlopen(url + "/_fake/stats", timeout=5) as r:
            stats = json.loads(r.read())
        assert stats["request_count"] == 1 and stats["completed_count"] == 1
    finally:
        proc.kill()
        proc.wait()


def test_truncated_json_and_garbage_faults_are_retried(tmp_path: Path) -> None:
    from taskforge._llm import LLM
    from taskforge.testing._fake_llm import MORE_FAULTS

    with FakeLLMServer(fault_sequence=list(MORE_FAULTS)) as s:
        llm = LLM.from_spec(
            "openai:fake", base_url=s.openai_url, cache_path=tmp_path / "c.sqlite", backoff_base=0.01
        )
        res = llm.complete([{"role": "user", "content": "hi"}])
        assert res.ok and res.text == "echo: hi" and res.attempts == 3
        assert dict(s.fault_counts) == {"truncated_json": 1, "garbage": 1}
        llm.close()
