"""The transform stage's result (its settings model is :class:`taskforge._settings.TransformSettings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


__all__ = ["TransformResult"]
