"""The LLM layer: one small client for OpenAI-compatible servers (vLLM, Ollama, llama.cpp, OpenAI)
and the Anthropic API, with bounded concurrency, retries, rate limits and a SQLite cache.

    llm = make_llm(LLMSettings(spec="openai:qwen2.5-7b", base_url="http://localhost:8000/v1",
                               max_in_flight=64), cache_dir=run_dir)   # the one factory
    requests = (LLMRequest(key=item_id, messages=[...], options=GenerationOptions(temperature=0.7))
                for item_id in ...)
    for res in llm.run(requests):          # completion order, as they arrive
        if res.ok: use(res.text)           # else res.error says why ("HTTP 500 after 7 attempts: ...")
    llm.print_summary(); llm.close()

``max_retries`` counts retries after the first attempt. A response is committed to the cache
before ``run`` yields it, so a killed run resumes without repeating calls; failures are never
cached. Async callers use ``arun`` / ``acomplete`` and ``await llm.aclose()``. A backend (the
:class:`Backend` protocol) only builds the HTTP request and parses the answer; the client owns
the sockets. Test against :class:`taskforge.testing.FakeLLMServer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "AnthropicBackend": "taskforge._llm._backends",
    "Backend": "taskforge._llm._backends",
    "Completion": "taskforge._llm._backends",
    "OpenAIBackend": "taskforge._llm._backends",
    "make_backend": "taskforge._llm._backends",
    "parse_llm_spec": "taskforge._llm._backends",
    "LLM": "taskforge._llm._client",
    "LLMClient": "taskforge._llm._factory",
    "check_llm": "taskforge._llm._factory",
    "make_llm": "taskforge._llm._factory",
    "GenerationOptions": "taskforge._llm._types",
    "LLMError": "taskforge._llm._types",
    "LLMRequest": "taskforge._llm._types",
    "LLMResult": "taskforge._llm._types",
    "LLMStats": "taskforge._llm._types",
    "parse_verdict": "taskforge._llm._verdict",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "LLM",
    "AnthropicBackend",
    "Backend",
    "Completion",
    "GenerationOptions",
    "LLMClient",
    "LLMError",
    "LLMRequest",
    "LLMResult",
    "LLMStats",
    "OpenAIBackend",
    "check_llm",
    "make_backend",
    "make_llm",
    "parse_llm_spec",
    "parse_verdict",
]

if TYPE_CHECKING:
    from taskforge._llm._backends import (
        AnthropicBackend,
        Backend,
        Completion,
        OpenAIBackend,
        make_backend,
        parse_llm_spec,
    )
    from taskforge._llm._client import LLM
    from taskforge._llm._factory import LLMClient, check_llm, make_llm
    from taskforge._llm._types import GenerationOptions, LLMError, LLMRequest, LLMResult, LLMStats
    from taskforge._llm._verdict import parse_verdict
