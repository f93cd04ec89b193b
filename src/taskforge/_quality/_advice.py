"""What a user can do about each quality filter (used when the filter keeps nothing)."""

from __future__ import annotations

from typing import Any

from taskforge._records import nothing_made_message

FILTER_ADVICE: dict[str, str] = {
    "format": "the samples do not have the task's fields: check the transform's rejects and the task's output_schema",
    "exact_duplicate": "every sample repeats another: retrieve more (-n) or from more sources",
    "near_duplicate": (
        "the samples are near copies of each other: retrieve from more sources, "
        "or raise filter.near_dup_threshold"
    ),
    "fewshot_similarity": (
        "the samples copy the task's examples: exclude the examples' own source (exclude_sources), "
        "or raise filter.fewshot_threshold"
    ),
    "decontamination": (
        "the samples overlap the eval set: exclude the eval set's source from retrieval "
        "(exclude_sources), or use --report-only to keep them"
    ),
    "judge": "the LLM judge rejected every sample: read its verdicts in the rejects, or try another judge",
    "judge_error": "every judge call failed: check the judge's server and key, or filter.judge_on_error: keep",
    "label_balance": "filter.max_per_label is too low for this data",
}


def nothing_kept_message(n_in: int, dropped: dict[str, int], rejects_path: Any = None) -> str:
    """One line for a filter that kept nothing: the top drop reason and what to change."""
    return nothing_made_message(
        f"filter kept none of {n_in:,} samples", n_in, dropped, FILTER_ADVICE, rejects_path
    )


__all__ = ["FILTER_ADVICE", "nothing_kept_message"]
