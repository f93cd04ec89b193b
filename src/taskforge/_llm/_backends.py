"""Backends: the only protocol-specific code. A backend turns a request into (URL, headers, JSON body)
and a parsed response body into a :class:`Completion`; it never does I/O (like an httpx transport seam,
the client owns sockets, retries, limits and the cache).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

from taskforge._errors import StageError
from taskforge._llm._types import GenerationOptions, LLMError
from taskforge._settings import check_base_url

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

log = logging.getLogger("taskforge.llm")


@dataclass(frozen=True, slots=True)
class Completion:
    texts: list[str]
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


class ProtocolError(StageError, ValueError):
    """The server answered 200 with a body that does not follow the protocol (retryable)."""


SCHEMA_NAME = "answer"  # the name of the JSON schema (OpenAI) / of the forced tool (Anthropic)


class Backend(Protocol):
    name: str  # "openai" | "anthropic" | "local": part of the cache key
    model: str
    base_url: str

    @property
    def url(self) -> str: ...
    def endpoint_url(self, base_url: str) -> str: ...
    def headers(self) -> dict[str, str]: ...
    def payload(
        self,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        sample_index: int,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...
    def parse(self, data: Any) -> Completion: ...
    def secrets(self) -> list[str]: ...


class _Secret:
    """Holds an API key so that repr/str/logging never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def get(self) -> str | None:
        return self._value

    def secrets(self) -> list[str]:
        """The values a log must mask (none without a key)."""
        return [self._value] if self._value else []

    def __repr__(self) -> str:
        return "<secret>" if self._value else "<no key>"

    __str__ = __repr__


def _read_key(env: str | None, default_env: str, base_url: str, default_url: str) -> _Secret:
    """The key from the environment; only the provider's own URL insists on one (local servers need none)."""
    name = env or default_env
    key = os.environ.get(name)
    if not key and env:
        log.warning("environment variable %s is not set; calling %s without an API key", name, base_url)
    if not key and base_url.rstrip("/") == default_url:
        raise LLMError(
            f"environment variable {name} is not set (needed for {default_url}); set it or pass base_url"
        )
    return _Secret(key)


class OpenAIBackend:
    """OpenAI-compatible chat completions: OpenAI, vLLM, Ollama, llama.cpp server, and others.

    Without a key (local servers) no Authorization header is sent.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None) -> None:
        self.model = model
        # OPENAI_BASE_URL: the official SDK's variable, so a proxy or gateway set for it works here too
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        self.api_key_env = api_key_env or "OPENAI_API_KEY"
        self._key = _read_key(api_key_env, "OPENAI_API_KEY", self.base_url, OPENAI_URL)
        # OpenAI's newer models only take max_completion_tokens; local servers know max_tokens
        self._max_tokens_field = "max_completion_tokens" if self.base_url == OPENAI_URL else "max_tokens"

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, key={self._key!r})"

    @property
    def url(self) -> str:
        return self.endpoint_url(self.base_url)

    def endpoint_url(self, base_url: str) -> str:
        return base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if key := self._key.get():
            h["Authorization"] = f"Bearer {key}"
        return h

    def secrets(self) -> list[str]:
        return self._key.secrets()

    def payload(
        self,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        sample_index: int,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chat completion body; ``schema`` constrains decoding (``response_format: json_schema``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": options.temperature,
            "top_p": options.top_p,
            self._max_tokens_field: options.max_tokens,
        }
        if options.n != 1:
            body["n"] = options.n
        if options.seed is not None:
            body["seed"] = options.seed + sample_index  # distinct samples per index, reproducible
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema},
            }
        return body

    def parse(self, data: Any) -> Completion:
        try:
            choices = data["choices"]
            texts = [c["message"].get("content") or "" for c in choices]
            finish = choices[0].get("finish_reason") if choices else None
        except (KeyError, TypeError, AttributeError) as e:
            raise ProtocolError(f"not a chat completion response ({type(e).__name__}: {e})") from None
        if not texts:
            raise ProtocolError("chat completion response has no choices")
        usage = data.get("usage") or {}
        return Completion(
            texts, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), finish
        )


class AnthropicBackend:
    """The Anthropic messages API: system messages go to the top-level ``system`` field.

    Newer Claude models refuse ``temperature`` and ``top_p`` together, so ``top_p`` is sent only
    when it was set explicitly (and below 1) and ``temperature`` was not; otherwise temperature wins.
    ``n`` > 1 is not supported by the API (use ``sample_index`` for several samples).
    """

    name = "anthropic"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None) -> None:
        self.model = model
        self.base_url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL).rstrip("/")
        self.api_key_env = api_key_env or "ANTHROPIC_API_KEY"
        self._key = _read_key(api_key_env, "ANTHROPIC_API_KEY", self.base_url, ANTHROPIC_URL)

    def __repr__(self) -> str:
        return f"AnthropicBackend(model={self.model!r}, base_url={self.base_url!r}, key={self._key!r})"

    @property
    def url(self) -> str:
        return self.endpoint_url(self.base_url)

    def endpoint_url(self, base_url: str) -> str:
        return base_url.rstrip("/") + "/v1/messages"

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if key := self._key.get():
            h["x-api-key"] = key
        return h

    def secrets(self) -> list[str]:
        return self._key.secrets()

    def payload(
        self,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        sample_index: int,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A messages body; ``schema`` becomes a forced tool whose input is the answer."""
        if options.n != 1:
            raise LLMError("the Anthropic API does not support n > 1; use sample_index for several samples")
        if options.temperature > 1.0:
            raise LLMError(f"the Anthropic API takes temperature in [0, 1], got {options.temperature}")
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m for m in messages if m["role"] != "system"],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        if system:
            body["system"] = system
        chosen = options.model_fields_set
        if "top_p" in chosen and "temperature" not in chosen and options.top_p < 1.0:
            body["top_p"] = options.top_p
        if schema is not None:
            body["tools"] = [{"name": SCHEMA_NAME, "description": "Give the answer.", "input_schema": schema}]
            body["tool_choice"] = {"type": "tool", "name": SCHEMA_NAME}
        return body

    def parse(self, data: Any) -> Completion:
        """The text blocks, or the forced tool's input as JSON text (structured outputs)."""
        try:
            blocks = data["content"]
            tool = [b["input"] for b in blocks if b.get("type") == "tool_use"]
            if tool:
                text = json.dumps(tool[0], ensure_ascii=False)
            else:
                text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            finish = data.get("stop_reason")
        except (KeyError, TypeError, AttributeError) as e:
            raise ProtocolError(f"not a messages response ({type(e).__name__}: {e})") from None
        usage = data.get("usage") or {}
        return Completion(
            [text], int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0), finish
        )


BACKENDS: dict[str, type[OpenAIBackend] | type[AnthropicBackend]] = {
    "openai": OpenAIBackend,
    "anthropic": AnthropicBackend,
}
SPEC_KINDS = (*BACKENDS, "local")


def parse_llm_spec(spec: str) -> tuple[str, str]:
    """``"openai:MODEL"`` / ``"anthropic:MODEL"`` / ``"local:PATH.gguf"`` -> (backend, model).

    The model may contain colons.
    """
    backend, sep, model = spec.partition(":")
    if not sep or not model.strip():
        raise LLMError(
            f"LLM spec {spec!r} must look like 'openai:MODEL', 'anthropic:MODEL' or 'local:PATH.gguf'"
        )
    backend = backend.strip().lower()
    if backend not in SPEC_KINDS:
        raise LLMError(f"unknown LLM backend {backend!r} in {spec!r}; choose from {sorted(SPEC_KINDS)}")
    return backend, model.strip()


def make_backend(spec: str, base_url: str | None = None, api_key_env: str | None = None) -> Backend:
    backend, model = parse_llm_spec(spec)
    if backend == "local":
        raise LLMError("local models are started by LLM.from_spec (see taskforge._llm._local)")
    try:
        check_base_url(base_url)  # a URL without a host fails now, not after every retry
    except ValueError as e:
        raise LLMError(str(e)) from None
    return BACKENDS[backend](model, base_url=base_url, api_key_env=api_key_env)


__all__ = [
    "ANTHROPIC_URL",
    "BACKENDS",
    "OPENAI_URL",
    "SCHEMA_NAME",
    "SPEC_KINDS",
    "AnthropicBackend",
    "Backend",
    "Completion",
    "OpenAIBackend",
    "ProtocolError",
    "make_backend",
    "parse_llm_spec",
]
