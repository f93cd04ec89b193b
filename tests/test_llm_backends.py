"""Specs, option validation and the request each backend builds (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskforge._llm import (
    AnthropicBackend,
    GenerationOptions,
    LLMError,
    LLMRequest,
    OpenAIBackend,
    make_backend,
    parse_llm_spec,
)

os.environ["TASKFORGE_QUIET"] = "1"

MESSAGES = [
    {"role": "system", "content": "You label sentiment."},
    {"role": "user", "content": "great film"},
]


def test_parse_llm_spec() -> None:
    assert parse_llm_spec("openai:qwen2.5-7b") == ("openai", "qwen2.5-7b")
    assert parse_llm_spec("anthropic:claude-sonnet-4-5") == ("anthropic", "claude-sonnet-4-5")
    assert parse_llm_spec("openai:llama3.1:8b") == ("openai", "llama3.1:8b")  # Ollama tags keep their colon
    for bad in ("gpt-4o", "openai:", "cohere:command"):
        with pytest.raises(LLMError):
            parse_llm_spec(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -0.1),
        ("temperature", 2.5),
        ("top_p", 0.0),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("n", 0),
    ],
)
def test_bad_options_give_a_clear_error(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        GenerationOptions(**{field: value})


def test_options_reject_unknown_fields_and_requests_check_messages() -> None:
    with pytest.raises(ValidationError, match="temprature"):
        GenerationOptions(temprature=0.5)
    with pytest.raises(ValidationError, match="role"):
        LLMRequest(key="a", messages=[{"role": "bot", "content": "x"}])
    with pytest.raises(ValidationError, match="empty"):
        LLMRequest(key="a", messages=[])


def test_openai_payload_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    b = OpenAIBackend("qwen", base_url="http://localhost:8000/v1/", api_key_env="MY_KEY")
    assert b.url == "http://localhost:8000/v1/chat/completions"
    assert b.headers()["Authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in repr(b)
    body = b.payload(MESSAGES, GenerationOptions(temperature=0.2, seed=10, n=3), sample_index=2)
    assert body == {
        "model": "qwen",
        "messages": MESSAGES,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 1024,
        "n": 3,
        "seed": 12,  # seed + sample_index: distinct but reproducible samples
    }


def test_local_server_needs_no_key_but_official_api_does(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    local = make_backend("openai:llama3", base_url="http://localhost:11434/v1")
    assert "Authorization" not in local.headers()
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        make_backend("openai:gpt-4o-mini")
    with pytest.raises(LLMError, match="ANTHROPIC_API_KEY"):
        make_backend("anthropic:claude-sonnet-4-5")


def test_base_url_from_the_sdks_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    claude = make_backend("anthropic:claude-3-5-haiku-latest")  # no key needed off the official URL
    assert claude.base_url == "http://127.0.0.1:9"
    assert make_backend("openai:m").base_url == "http://127.0.0.1:8/v1"
    assert make_backend("openai:m", base_url="http://h/v1").base_url == "http://h/v1"  # a flag wins


def test_official_openai_uses_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    body = make_backend("openai:gpt-4o-mini").payload(MESSAGES, GenerationOptions(max_tokens=5), 0)
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body


def test_anthropic_payload_moves_system_and_sets_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-xyz")
    b = AnthropicBackend("claude")
    assert b.url == "https://api.anthropic.com/v1/messages"
    h = b.headers()
    assert h["x-api-key"] == "sk-ant-xyz" and h["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in h
    body = b.payload(MESSAGES, GenerationOptions(max_tokens=50, seed=3), 0)
    assert body == {
        "model": "claude",
        "system": "You label sentiment.",
        "messages": [{"role": "user", "content": "great film"}],
        "max_tokens": 50,
        "temperature": 0.7,
    }
    # top_p only when chosen instead of temperature (newer Claude models refuse both)
    assert b.payload(MESSAGES, GenerationOptions(top_p=0.5), 0)["top_p"] == 0.5
    assert "top_p" not in b.payload(MESSAGES, GenerationOptions(temperature=0.2, top_p=0.5), 0)
    assert "top_p" not in b.payload(MESSAGES, GenerationOptions(top_p=1.0), 0)
    with pytest.raises(LLMError, match="n > 1"):
        b.payload(MESSAGES, GenerationOptions(n=2), 0)
    with pytest.raises(LLMError, match="temperature"):
        b.payload(MESSAGES, GenerationOptions(temperature=1.5), 0)


def test_parse_responses() -> None:
    o = OpenAIBackend("m", base_url="http://x/v1")
    c = o.parse(
        {
            "choices": [{"message": {"content": "a"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
    )
    assert (c.texts, c.input_tokens, c.output_tokens, c.finish_reason) == (["a"], 3, 4, "length")
    a = AnthropicBackend("m", base_url="http://x")
    c = a.parse(
        {"content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 1, "output_tokens": 2}}
    )
    assert (c.texts, c.input_tokens, c.output_tokens) == (["hi"], 1, 2)
    from taskforge._llm._backends import ProtocolError

    with pytest.raises(ProtocolError):
        o.parse({"error": "nope"})
    with pytest.raises(ProtocolError):
        a.parse(["not", "a", "message"])


def test_retry_after_parsing_and_backoff() -> None:
    import email.utils
    import random
    import time

    from taskforge._llm._retry import backoff, error_detail, is_retryable_status, retry_after_seconds

    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "99999"}) == 120.0  # capped
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_seconds({"Retry-After": date}) <= 30
    assert retry_after_seconds({}) is None and retry_after_seconds({"Retry-After": "soon"}) is None
    rng = random.Random(0)
    delays = [backoff(a, base=0.5, cap=4.0, rng=rng) for a in range(1, 7)]
    assert 0.25 <= delays[0] <= 0.5 and 2.0 <= delays[-1] <= 4.0  # grows, then capped
    assert all(is_retryable_status(c) for c in (408, 429, 500, 502, 503, 529))
    assert not any(is_retryable_status(c) for c in (400, 401, 403, 404, 422))
    assert error_detail(b'{"error": {"message": "bad model"}}') == "bad model"
    assert error_detail(b"<html>oops</html>") == "<html>oops</html>"


def test_local_spec_fails_early_and_clearly_without_model_or_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskforge._llm import check_llm
    from taskforge._settings import LLMSettings

    monkeypatch.setenv("TASKFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("TASKFORGE_LLAMA_SERVER", str(tmp_path / "missing"))
    with pytest.raises(LLMError, match=r"setup_local_llm\.py model qwen0\.5b"):
        check_llm(LLMSettings(spec="local:qwen0.5b"))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(LLMError, match=r"no llama\.cpp runtime"):
        check_llm(LLMSettings(spec=f"local:{model}"))
