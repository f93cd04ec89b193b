"""Quality control, dataset statistics and export (docs/architecture.md: filter -> export).

``filter_samples`` runs the filter steps (format, exact and near duplicates, few-shot
similarity, decontamination, optional LLM judge, optional label cap) and writes
``kept.jsonl``, ``rejects.jsonl``, ``funnel.json`` and ``stats.json``; ``dataset_stats`` gives sizes,
provenance, labels, lengths and ReBase's diversity metrics; ``export_dataset`` writes
JSONL, Parquet, HF ``save_to_disk``, chat SFT records and a dataset card.
"""

from taskforge._quality._decontam import DecontaminationFilter, NgramIndex, read_eval_rows
from taskforge._quality._diversity import (
    Uniqueness,
    ngram_diversity,
    rouge_l_f1,
    rouge_l_uniqueness,
    rouge_tokenize,
)
from taskforge._quality._export import (
    FORMATS,
    chat_record,
    dataset_card,
    export_dataset,
    source_notes_from_dir,
)
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
from taskforge._quality._judge import JudgeFilter, judge_prompt, judge_says
from taskforge._quality._stats import dataset_stats
from taskforge._settings import ExportSettings, FilterSettings

__all__ = [
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
    "read_eval_rows",
    "rouge_l_f1",
    "rouge_l_uniqueness",
    "rouge_tokenize",
    "source_notes_from_dir",
]
