"""Settings of the transform stage (task defaults < config file < flags), and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TransformSettings(BaseModel):
    """How retrieved items become samples.

    ``method``: ``mapper`` maps rows onto the task's fields without an LLM (the papers'
    "retrieved data" baseline); ``llm`` rewrites each item with an LLM; ``auto`` is ``llm``
    when an LLM is given, else ``mapper``.
    ``style``: the built-in prompt, ``rebase`` (one retrieved row as JSON) or ``craft`` (worked
    examples as chat turns, then the document); ``auto`` picks ``craft`` for documents.
    ``template``: a Jinja2 file used instead of the built-in prompt (see ``_prompts``).
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "mapper", "llm"] = "auto"
    style: Literal["auto", "rebase", "craft"] = "auto"
    template: Path | None = None
    chain_of_thought: bool = False
    samples_per_item: int = Field(default=1, ge=1)
    n_examples: int | None = Field(
        default=None, ge=1, description="examples per prompt; craft 3, rebase all (<= 8)"
    )
    seed: int = 0
    repair: bool = True
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    limit: int | None = Field(default=None, ge=1, description="transform only the first N items")
    # mapper
    label_map: dict[str, str] = Field(default_factory=dict)
    label_names: dict[str, list[str]] = Field(
        default_factory=dict, description="source -> names of numeric labels (index = label id)"
    )
    sources_dir: Path | None = Field(
        default=None, description="where to find <source>/README.md class labels"
    )
    label_threshold: float = Field(default=0.8, ge=0, le=1)
    plan_rows: int = Field(default=16, ge=1, description="rows per source used to choose its columns")
    # files
    rejects: Path | None = None
    cache: Path | None = None

    @classmethod
    def resolve(cls, *layers: dict[str, Any] | None) -> TransformSettings:
        """Merge layers, later ones winning (task defaults, config file, flags); ``None`` values skip."""
        merged: dict[str, Any] = {}
        for layer in layers:
            for k, v in (layer or {}).items():
                if v is not None:
                    merged[k] = v
        return cls.model_validate(merged)

    def prompt_config(self) -> dict[str, Any]:
        """The settings that change prompts or answers (part of the resume key)."""
        keys = (
            "style",
            "chain_of_thought",
            "n_examples",
            "seed",
            "repair",
            "temperature",
            "top_p",
            "max_tokens",
        )
        cfg = {k: getattr(self, k) for k in keys}
        if self.template is not None:
            cfg["template"] = Path(self.template).read_text(encoding="utf-8")
        return cfg


@dataclass
class TransformResult:
    """What a transform run wrote and counted."""

    samples_path: Path
    rejects_path: Path
    items: int = 0
    samples: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    method: str = "mapper"
    model: str | None = None
    llm_stats: dict[str, Any] = field(default_factory=dict)
    resumed: int = 0
    seconds: float = 0.0
    label_report: dict[str, Any] | None = None  # mapper: label values seen, unmapped, suggested label_map
    label_report_path: Path | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "samples": self.samples,
            "rejects": self.rejects,
            "rejects_by_reason": dict(self.rejects_by_reason),
            "resumed": self.resumed,
            **({"unmapped_label_rows": self.label_report["unmapped_rows"]} if self.label_report else {}),
            **{f"llm_{k}": v for k, v in self.llm_stats.items()},
        }
