"""The one way to make an LLM client from settings, and the protocol every stage codes against."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from taskforge._llm._backends import parse_llm_spec
from taskforge._llm._client import LLM
from taskforge._llm._types import LLMError, LLMRequest, LLMResult, LLMStats
from taskforge._settings import LLMSettings

DEFAULT_CACHE = "llm_cache.sqlite"


class LLMClient(Protocol):
    """What a stage needs from an LLM: its name, running totals, results for requests, and close."""

    spec: str  # "openai:MODEL"
    stats: LLMStats

    def run(self, requests: Iterable[LLMRequest]) -> Iterator[LLMResult]: ...

    def close(self) -> None: ...


def make_llm(settings: LLMSettings, *, cache_dir: str | Path | None = None) -> LLM:
    """An :class:`LLM` from ``settings``; its cache is ``settings.cache``, else ``cache_dir/llm_cache.sqlite``.

    Pipeline, transform, the filter's judge and the experts' few-shot baseline and judge all
    come through here, so each gets the same concurrency, rate limits, timeout and retries.
    """
    if not settings.spec:
        raise LLMError("no LLM given: set llm.spec (e.g. --llm openai:MODEL)")
    cache = settings.cache
    if cache is None and cache_dir is not None:
        cache = Path(cache_dir) / DEFAULT_CACHE
    from taskforge._llm._local import LocalOptions

    return LLM.from_spec(
        settings.spec,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        cache_path=cache,
        max_in_flight=settings.max_in_flight,
        rpm=settings.rpm,
        tpm=settings.tpm,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        prices=settings.prices,
        structured=settings.structured,
        batch=settings.batch,
        batch_poll=settings.batch_poll,
        batch_discount=settings.batch_discount,
        adaptive=settings.adaptive,
        max_cost=settings.max_cost,
        max_calls=settings.max_calls,
        local=LocalOptions(
            slots=settings.local_slots, threads=settings.local_threads, ctx_per_slot=settings.local_ctx
        ),
    )


def check_llm(settings: LLMSettings | None) -> None:
    """Fail now (a :class:`LLMError`) on a spec that cannot work, before any stage runs."""
    if settings is not None and settings.spec:
        backend, model = parse_llm_spec(settings.spec)
        if backend == "local":  # a missing runtime or model fails before retrieval, not after
            from taskforge._llm._local import check_local

            check_local(model)


__all__ = ["DEFAULT_CACHE", "LLMClient", "check_llm", "make_llm"]
