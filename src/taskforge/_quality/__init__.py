"""Quality control, dataset statistics and export (docs/architecture.md: filter -> export).

``filter_samples`` runs the filter steps (format, exact and near duplicates, few-shot
similarity, decontamination, optional LLM judge, optional label cap) and writes
``kept.jsonl``, ``rejects.jsonl``, ``funnel.json`` and ``stats.json``; ``dataset_stats`` gives sizes,
provenance, labels, lengths and ReBase's diversity metrics; ``export_dataset`` writes
JSONL, Parquet, HF ``save_to_disk``, chat SFT records and a dataset card.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "FILTER_ADVICE": "taskforge._quality._advice",
    "nothing_kept_message": "taskforge._quality._advice",
    "DecontaminationFilter": "taskforge._quality._decontam",
    "NgramIndex": "taskforge._quality._decontam",
    "read_eval_rows": "taskforge._quality._decontam",
    "Uniqueness": "taskforge._quality._diversity",
    "ngram_diversity": "taskforge._quality._diversity",
    "rouge_l_f1": "taskforge._quality._diversity",
    "rouge_l_uniqueness": "taskforge._quality._diversity",
    "rouge_tokenize": "taskforge._quality._diversity",
    "FORMATS": "taskforge._quality._export",
    "chat_record": "taskforge._quality._export",
    "dataset_card": "taskforge._quality._card",
    "source_notes_from_dirs": "taskforge._quality._card",
    "read_source_card": "taskforge._quality._card",
    "push_to_hub": "taskforge._quality._hub",
    "export_dataset": "taskforge._quality._export",
    "source_notes_from_dir": "taskforge._quality._card",
    "FilterResult": "taskforge._quality._filter",
    "build_steps": "taskforge._quality._filter",
    "filter_samples": "taskforge._quality._filter",
    "Drop": "taskforge._quality._filters",
    "ExactDuplicateFilter": "taskforge._quality._filters",
    "FewShotSimilarityFilter": "taskforge._quality._filters",
    "Filter": "taskforge._quality._filters",
    "FormatFilter": "taskforge._quality._filters",
    "LabelBalanceFilter": "taskforge._quality._filters",
    "NearDuplicateFilter": "taskforge._quality._filters",
    "JudgeFilter": "taskforge._quality._judge",
    "judge_prompt": "taskforge._quality._judge",
    "judge_says": "taskforge._quality._judge",
    "dataset_stats": "taskforge._quality._stats",
    "ExportSettings": "taskforge._settings",
    "FilterSettings": "taskforge._settings",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "FILTER_ADVICE",
    "FORMATS",
    "DecontaminationFilter",
    "Drop",
    "ExactDuplicateFilter",
    "ExportSettings",
    "FewShotSimilarityFilter",
    "Filter",
    "FilterResult",
    "FilterSettings",
    "FormatFilter",
    "JudgeFilter",
    "LabelBalanceFilter",
    "NearDuplicateFilter",
    "NgramIndex",
    "Uniqueness",
    "build_steps",
    "chat_record",
    "dataset_card",
    "dataset_stats",
    "export_dataset",
    "filter_samples",
    "judge_prompt",
    "judge_says",
    "ngram_diversity",
    "nothing_kept_message",
    "push_to_hub",
    "read_eval_rows",
    "read_source_card",
    "rouge_l_f1",
    "rouge_l_uniqueness",
    "rouge_tokenize",
    "source_notes_from_dir",
    "source_notes_from_dirs",
]

if TYPE_CHECKING:
    from taskforge._quality._advice import FILTER_ADVICE, nothing_kept_message
    from taskforge._quality._card import (
        dataset_card,
        read_source_card,
        source_notes_from_dir,
        source_notes_from_dirs,
    )
    from taskforge._quality._decontam import DecontaminationFilter, NgramIndex, read_eval_rows
    from taskforge._quality._diversity import (
        Uniqueness,
        ngram_diversity,
        rouge_l_f1,
        rouge_l_uniqueness,
        rouge_tokenize,
    )
    from taskforge._quality._export import FORMATS, chat_record, export_dataset
    from taskforge._quality._filter import FilterResult, build_steps, filter_samples
    from taskforge._quality._filters import (
        Drop,
        ExactDuplicateFilter,
        FewShotSimilarityFilter,
        Filter,
        FormatFilter,
        LabelBalanceFilter,
        NearDuplicateFilter,
    )
    from taskforge._quality._hub import push_to_hub
    from taskforge._quality._judge import JudgeFilter, judge_prompt, judge_says
    from taskforge._quality._stats import dataset_stats
    from taskforge._settings import ExportSettings, FilterSettings
