"""The data the LLM layer takes and gives: options, requests, results, running totals."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskforge._errors import UsageError

ROLES = ("system", "user", "assistant")
BUDGET_SPENT = "budget spent"  # the error of requests not sent because max_cost/max_calls was reached


class LLMError(UsageError):
    """A configuration or usage error of the LLM layer (bad spec, bad options, missing key)."""


class GenerationOptions(BaseModel):
    """Sampling options; validated so a typo fails before any call is made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1)
    seed: int | None = None
    n: int = Field(1, ge=1)


class LLMRequest(BaseModel):
    """One call to make: ``key`` is the caller's id for it (echoed in the result, not part of the cache key)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    messages: list[dict[str, str]]
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    sample_index: int = Field(0, ge=0)
    # a JSON schema the answer must follow; sent to servers that constrain decoding to it
    # (``LLM(structured=...)`` decides), and validated by the caller either way
    json_schema: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if not messages:
            raise ValueError("messages must not be empty")
        for i, m in enumerate(messages):
            if set(m) != {"role", "content"}:
                raise ValueError(f"messages[{i}] must have exactly 'role' and 'content', got {sorted(m)}")
            if m["role"] not in ROLES:
                raise ValueError(f"messages[{i}].role must be one of {ROLES}, got {m['role']!r}")
        return messages


@dataclass(slots=True)
class LLMResult:
    """The outcome of one request. ``ok`` False means it failed for the reason in ``error``; ``text`` is then None."""

    request: LLMRequest
    ok: bool
    text: str | None = None
    texts: list[str] = field(default_factory=list)  # all choices when options.n > 1
    error: str | None = None
    cached: bool = False
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    latency: float = 0.0  # seconds of the successful (or last) attempt; 0 for cache hits
    attempts: int = 0  # HTTP attempts made in this run (0 for cache hits)
    cache_key: str = ""
    finish_reason: str | None = None
    model: str = ""  # "openai:MODEL" / "anthropic:MODEL"
    structured: bool = False  # the server was asked to follow request.json_schema
    endpoint: str = ""  # the base URL that answered ("" for cache hits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for appending results to a JSONL file)."""
        return {
            "key": self.request.key,
            "ok": self.ok,
            "text": self.text,
            "texts": self.texts,
            "error": self.error,
            "cached": self.cached,
            "usage": self.usage,
            "latency": self.latency,
            "attempts": self.attempts,
            "cache_key": self.cache_key,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "sample_index": self.request.sample_index,
            "structured": self.structured,
        }


@dataclass
class LLMStats:
    """Running totals over the life of an :class:`LLM` (tokens and cost count network calls only).

    A plain dataclass (no slots) so ``vars(stats)`` works; ``as_dict()`` / ``to_json()`` add ``tokens``.
    """

    requests: int = 0  # results produced
    calls: int = 0  # HTTP attempts sent
    cache_hits: int = 0
    successes: int = 0  # fresh successful responses
    failures: int = 0  # requests that still failed after retries
    retries: int = 0
    throttled: int = 0  # 429 responses seen
    schema_fallbacks: int = 0  # servers that rejected a JSON schema (then asked without it)
    batch_requests: int = 0  # requests answered through a batch API
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0  # wall time spent inside run()/arun()

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "successes": self.successes,
            "failures": self.failures,
            "retries": self.retries,
            "throttled": self.throttled,
            "schema_fallbacks": self.schema_fallbacks,
            "batch_requests": self.batch_requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.tokens,
            "cost": self.cost,
            "seconds": self.seconds,
        }

    def to_json(self) -> dict[str, Any]:
        return self.as_dict()

    def table(self, title: str = "LLM calls") -> Any:
        """A rich table of the totals (print it with ``taskforge._console.console.print``)."""
        from taskforge._console import kv_table

        d = self.as_dict()
        d["cost"] = f"${self.cost:,.4f}"
        d["seconds"] = round(self.seconds, 1)
        return kv_table(title, d)


async def aiter_requests(requests: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """One async iteration over a plain or an async iterable of requests."""
    if isinstance(requests, AsyncIterable):
        async for r in requests:
            yield r
    else:
        for r in requests:
            yield r


__all__ = [
    "BUDGET_SPENT",
    "ROLES",
    "GenerationOptions",
    "LLMError",
    "LLMRequest",
    "LLMResult",
    "LLMStats",
    "aiter_requests",
]
