"""The LLM layer: one small client for OpenAI-compatible servers and the Anthropic API.

``LLM.from_spec("openai:MODEL", base_url=...)`` then ``for res in llm.run(requests)``; see
docs/architecture.md for the contract and :mod:`taskforge.testing` for a fake server to test against.
"""

from taskforge._llm._backends import (
    AnthropicBackend,
    Backend,
    Completion,
    OpenAIBackend,
    make_backend,
    parse_llm_spec,
)
from taskforge._llm._client import LLM
from taskforge._llm._types import GenerationOptions, LLMError, LLMRequest, LLMResult, LLMStats

__all__ = [
    "LLM",
    "AnthropicBackend",
    "Backend",
    "Completion",
    "GenerationOptions",
    "LLMError",
    "LLMRequest",
    "LLMResult",
    "LLMStats",
    "OpenAIBackend",
    "make_backend",
    "parse_llm_spec",
]
