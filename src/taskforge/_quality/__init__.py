"""Quality control, dataset statistics and export (docs/architecture.md: filter -> export).

``filter_samples`` runs the filter steps (format, exact and near duplicates, few-shot
similarity, decontamination, optional LLM judge, optional label cap) and writes
``kept.jsonl``, ``rejects.jsonl`` and ``funnel.json``; ``dataset_stats`` gives sizes,
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
from taskforge._quality._filter import FilterResult, FilterSettings, build_steps, filter_samples
from taskforge._quality._filters import (
    Drop,
    ExactDuplicateFilter,
    FewShotSimilarityFilter,
    Filter,
    FormatFilter,
    LabelBalanceFilter,
    NearDuplicateFilter,
)
from taskforge._quality._judge import JudgeFilter, judge_prompt, parse_verdict
from taskforge._quality._samples import load_samples, sample_text
from taskforge._quality._stats import dataset_stats

__all__ = [
    "FORMATS",
    "DecontaminationFilter",
    "Drop",
    "ExactDuplicateFilter",
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
    "load_samples",
    "ngram_diversity",
    "parse_verdict",
    "read_eval_rows",
    "rouge_l_f1",
    "rouge_l_uniqueness",
    "rouge_tokenize",
    "sample_text",
    "source_notes_from_dir",
]
