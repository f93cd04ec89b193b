"""``filter_samples``: run the quality-control steps in order and write kept/rejects/funnel.

Order: format -> exact_duplicate -> near_duplicate -> fewshot_similarity -> decontamination
-> judge -> label_balance. Cheap, certain checks run first so the (paid) judge sees only
samples that survive them, and the label cap counts only good samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskforge._io import atomic_write_json, write_jsonl
from taskforge._quality._decontam import DecontaminationFilter, NgramIndex, eval_name
from taskforge._quality._filters import (
    ExactDuplicateFilter,
    FewShotSimilarityFilter,
    Filter,
    FormatFilter,
    LabelBalanceFilter,
    NearDuplicateFilter,
)
from taskforge._quality._samples import Sample, load_samples
from taskforge._task import Task


class FilterSettings(BaseModel):
    """Quality-control settings. Lowest precedence: ``task.defaults.filter``; flags override."""

    model_config = ConfigDict(extra="forbid")

    format: bool = True
    exact_dedup: bool = True
    near_dup: bool = True
    near_dup_threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    near_dup_num_perm: int = Field(default=128, ge=16)
    near_dup_shingle: int = Field(default=3, ge=1)
    fewshot: bool = True
    fewshot_threshold: float = Field(default=85.0, gt=0.0, le=100.0)
    ngram: int = Field(default=13, ge=1)
    decontaminate: bool = True  # False: only report the overlap rate per eval set
    eval_files: list[str] = Field(default_factory=list)
    judge: str | None = None  # "openai:MODEL" / "anthropic:MODEL"; used when no LLM object is passed
    judge_base_url: str | None = None  # e.g. a local vLLM/Ollama server's /v1
    judge_api_key_env: str | None = None
    judge_on_error: Literal["drop", "keep"] = "drop"
    judge_max_tokens: int = Field(default=8, ge=1)  # raise it for models that think before answering
    max_per_label: int | None = Field(default=None, ge=1)
    workers: int = Field(default=2, ge=1)

    @classmethod
    def from_task(cls, task: Task | None, **overrides: Any) -> FilterSettings:
        """Task defaults for the ``filter`` stage, then every override that is not None."""
        data: dict[str, Any] = task.stage_defaults("filter") if task is not None else {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)


@dataclass
class FilterResult:
    kept: list[Sample]
    rejects: list[dict[str, Any]]
    funnel: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


def build_steps(
    task: Task, settings: FilterSettings, indexes: Sequence[NgramIndex], judge: Any = None
) -> list[Filter]:
    """The configured steps, in order."""
    steps: list[Filter] = []
    if settings.format:
        steps.append(FormatFilter(task))
    if settings.exact_dedup:
        steps.append(ExactDuplicateFilter())
    if settings.near_dup:
        steps.append(
            NearDuplicateFilter(
                settings.near_dup_threshold,
                num_perm=settings.near_dup_num_perm,
                shingle=settings.near_dup_shingle,
            )
        )
    if settings.fewshot:
        steps.append(FewShotSimilarityFilter(task, settings.fewshot_threshold, workers=settings.workers))
    if indexes:
        steps.append(DecontaminationFilter(indexes, drop=settings.decontaminate))
    if judge is not None:
        from taskforge._quality._judge import JudgeFilter

        steps.append(
            JudgeFilter(task, judge, on_error=settings.judge_on_error, max_tokens=settings.judge_max_tokens)
        )
    if settings.max_per_label:
        steps.append(LabelBalanceFilter(task, settings.max_per_label))
    return steps


def _make_judge(settings: FilterSettings, out_dir: Path) -> Any:
    from taskforge._llm import LLM

    return LLM.from_spec(
        settings.judge or "",
        base_url=settings.judge_base_url,
        api_key_env=settings.judge_api_key_env,
        cache_path=out_dir / "llm_cache.sqlite",
    )


def filter_samples(
    task: Task,
    samples: Iterable[Sample] | str | Path,
    out_dir: str | Path,
    *,
    settings: FilterSettings | None = None,
    eval_files: Sequence[str | Path] = (),
    judge: Any = None,
) -> FilterResult:
    """Run quality control and write ``kept.jsonl``, ``rejects.jsonl`` and ``funnel.json`` to ``out_dir``.

    ``judge``: an ``LLM`` (from ``taskforge._llm``) to run the yes/no judge; when None and
    ``settings.judge`` names a model, one is made with its cache in ``out_dir``.
    ``eval_files`` add to ``settings.eval_files``; overlap with each is reported in the funnel.
    """
    settings = settings or FilterSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = load_samples(samples) if isinstance(samples, (str, Path)) else list(samples)

    taken: set[str] = set()
    paths = [Path(p) for p in (*settings.eval_files, *eval_files)]
    indexes = [NgramIndex.from_file(p, settings.ngram, eval_name(p, taken)) for p in dict.fromkeys(paths)]
    own_judge = judge is None and bool(settings.judge)
    if own_judge:
        judge = _make_judge(settings, out_dir)

    steps = build_steps(task, settings, indexes, judge)
    kept, rejects = items, []
    trail: list[dict[str, Any]] = []
    extras: dict[str, Any] = {}
    try:
        for step in steps:
            before = len(kept)
            kept = step.apply(kept, rejects)
            trail.append({"name": step.name, "in": before, "dropped": step.counts(), "out": len(kept)})
            extras.update(step.report())
    finally:
        if own_judge:
            judge.close()

    dropped = {name: n for row in trail for name, n in row["dropped"].items()}
    funnel: dict[str, Any] = {
        "in": len(items),
        "dropped": dropped,
        "out": len(kept),
        "contamination": extras.pop("contamination", {}),
        "steps": trail,
        **extras,
        "eval_files": {ix.name: str(p) for ix, p in zip(indexes, dict.fromkeys(paths), strict=True)},
        "settings": settings.model_dump(mode="json"),
    }
    out_paths = {
        "kept": out_dir / "kept.jsonl",
        "rejects": out_dir / "rejects.jsonl",
        "funnel": out_dir / "funnel.json",
    }
    write_jsonl(out_paths["kept"], kept)
    write_jsonl(out_paths["rejects"], rejects)
    atomic_write_json(out_paths["funnel"], funnel)
    return FilterResult(kept=kept, rejects=rejects, funnel=funnel, paths=out_paths)


def funnel_rows(funnel: dict[str, Any]) -> list[tuple[str, int]]:
    """Rows for the summary table: in, each filter's drops, out."""
    return [
        ("in", funnel["in"]),
        *((f"- {k}", -v) for k, v in funnel["dropped"].items()),
        ("out", funnel["out"]),
    ]
