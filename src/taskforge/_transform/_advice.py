"""What a user can do about each kind of transform reject (used when a transform makes nothing)."""

from __future__ import annotations

from typing import Any

from taskforge._records import nothing_made_message

_FIELDS = "the answers do not fill the task's fields: check output_schema against the task's examples"

REJECT_ADVICE: dict[str, str] = {
    "no_column": (
        "the mapper found no column of these sources for a task field: transform with an LLM "
        "(--llm PROVIDER:MODEL), or name the task's input fields like the sources' columns"
    ),
    "invalid_label": (
        "the rows' labels are not the task's: map them with a label_map "
        "(`transform --label-map contradiction=not_entailment`, or `transform: {label_map: {...}}` in --config)"
    ),
    "unmappable_label": (
        "the rows' labels are not the task's: map them with a label_map "
        "(`transform --label-map RAW=LABEL`, or `transform: {label_map: {...}}` in --config)"
    ),
    "llm_error": (
        "every LLM call failed: check the server (--base-url) and the API key; "
        "re-running retries them, answers already received are cached"
    ),
    "json_parse_error": "the LLM did not answer with a JSON object: try a stronger model or a lower temperature",
    "not_an_object": "the LLM did not answer with a JSON object: try a stronger model or a lower temperature",
    "missing_field": _FIELDS,
    "empty_field": _FIELDS,
    "wrong_type": _FIELDS,
    "too_short": _FIELDS,
    "too_long": _FIELDS,
}


def no_samples_message(result: Any) -> str:
    """One line for a transform that made no sample (``result``: a TransformResult)."""
    lead = f"transform made no samples from {result.items:,} items"
    return nothing_made_message(
        lead, result.items, result.rejects_by_reason, REJECT_ADVICE, result.rejects_path
    )


__all__ = ["REJECT_ADVICE", "no_samples_message"]
