"""The transform stage: retrieved items -> task samples (CRAFT / ReBase prompts, or the no-LLM mapper).

Public API::

    transform(task, retrieved, out, *, llm=None, settings=TransformSettings()) -> TransformResult
    map_row(task, item, *, settings=None, mapper=None) -> {"input": ..., "output": ...}
    extract_json(text) -> dict             # robust: fences, prose, nested braces, braces in strings
    validate_sample(task, obj, *, chain_of_thought=False) -> (input, output, reasoning)
"""

from taskforge._settings import TransformSettings
from taskforge._transform._mapper import Mapper, SourcePlan, label_names_from_readme, map_row
from taskforge._transform._parsing import SampleError, answer_fields, extract_json, validate_sample
from taskforge._transform._prompts import PromptBuilder
from taskforge._transform._settings import TransformResult
from taskforge._transform._stage import transform

__all__ = [
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
    "transform",
    "validate_sample",
]
