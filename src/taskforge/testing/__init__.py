"""Helpers for testing code that uses taskforge (a fake LLM server); see :mod:`taskforge.testing._fake_llm`."""

from taskforge.testing._fake_llm import (
    FAULTS,
    FakeLLMServer,
    echo_responder,
    last_user_message,
    system_prompt,
)

__all__ = ["FAULTS", "FakeLLMServer", "echo_responder", "last_user_message", "system_prompt"]
