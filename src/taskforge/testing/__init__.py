"""Helpers for testing code that uses taskforge: every fake lives here, none inside the stages.

- :class:`FakeLLMServer`: a real HTTP server speaking the OpenAI and Anthropic protocols, with
  faults on purpose (also ``python -m taskforge.testing.fake_llm``).
- :class:`FakeHubServer`: a real HTTP server speaking the Hugging Face Hub's upload API, so
  ``export --push-to-hub`` is tested offline.
- :func:`task_responder`, :func:`row_of_prompt`: make that server answer prompts like a model would.
- :func:`demo_items`: retrieved items straight from a source folder (no datastore needed).
- :class:`MemoryStore`, :class:`HashEmbedder`: an in-memory stand-in for the datastore read API.
- :func:`write_fake_run`: a realistic run directory for the report.
- :func:`make_tiny_causal_lm`: a random-weight causal LM, so the LoRA path runs on CPU in seconds.

None of these read files outside the arguments they are given.
"""

from taskforge.testing._fake_hub import FakeHubServer
from taskforge.testing._fake_llm import (
    FAULTS,
    FakeLLMServer,
    echo_responder,
    last_user_message,
    system_prompt,
)
from taskforge.testing._fake_run import NASTY, write_fake_run
from taskforge.testing._items import REPAIR_MARK, demo_items, row_of_prompt, task_responder
from taskforge.testing._memstore import HashEmbedder, MemoryStore
from taskforge.testing._tiny_lm import make_tiny_causal_lm

__all__ = [
    "FAULTS",
    "NASTY",
    "REPAIR_MARK",
    "FakeHubServer",
    "FakeLLMServer",
    "HashEmbedder",
    "MemoryStore",
    "demo_items",
    "echo_responder",
    "last_user_message",
    "make_tiny_causal_lm",
    "row_of_prompt",
    "system_prompt",
    "task_responder",
    "write_fake_run",
]
