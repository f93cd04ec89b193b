"""The transform stage: retrieved items -> task samples (CRAFT / ReBase prompts, or the no-LLM mapper).

Public API::

    transform(task, retrieved, out, *, llm=None, settings=TransformSettings()) -> TransformResult
    map_row(task, item, *, settings=None, mapper=None) -> {"input": ..., "output": ...}
    extract_json(text) -> dict             # robust: fences, prose, nested braces, braces in strings
    validate_sample(task, obj, *, chain_of_thought=False) -> (input, output, reasoning)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "REJECT_ADVICE": "taskforge._transform._advice",
    "no_samples_message": "taskforge._transform._advice",
    "TransformSettings": "taskforge._settings",
    "Mapper": "taskforge._transform._mapper",
    "SourcePlan": "taskforge._transform._mapper",
    "label_names_from_readme": "taskforge._transform._mapper",
    "map_row": "taskforge._transform._mapper",
    "SampleError": "taskforge._transform._parsing",
    "answer_fields": "taskforge._transform._parsing",
    "extract_json": "taskforge._transform._parsing",
    "validate_sample": "taskforge._transform._parsing",
    "PromptBuilder": "taskforge._transform._prompts",
    "TransformResult": "taskforge._transform._settings",
    "transform": "taskforge._transform._stage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "REJECT_ADVICE",
    "Mapper",
    "PromptBuilder",
    "SampleError",
    "SourcePlan",
    "TransformResult",
    "TransformSettings",
    "answer_fields",
    "extract_json",
    "label_names_from_readme",
    "map_row",
    "no_samples_message",
    "transform",
    "validate_sample",
]

if TYPE_CHECKING:
    from taskforge._settings import TransformSettings
    from taskforge._transform._advice import REJECT_ADVICE, no_samples_message
    from taskforge._transform._mapper import Mapper, SourcePlan, label_names_from_readme, map_row
    from taskforge._transform._parsing import SampleError, answer_fields, extract_json, validate_sample
    from taskforge._transform._prompts import PromptBuilder
    from taskforge._transform._settings import TransformResult
    from taskforge._transform._stage import transform
