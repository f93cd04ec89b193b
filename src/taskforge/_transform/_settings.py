"""The transform stage's result (its settings model is :class:`taskforge._settings.TransformSettings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._errors import StageError


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
    units: int = 0  # samples asked for: items x samples per item
    llm_failed: int = 0  # units whose request still failed after every retry (retried on the next run)
    first_llm_error: str | None = None
    budget_stopped: int = 0  # units not sent because max_calls / max_cost was reached (not failures)
    repairs: int = 0  # repair requests sent (one per answer that failed parsing or validation)
    repaired: int = 0  # samples that came from a repair

    def check(self, max_error_rate: float) -> None:
        """Raise :class:`StageError` (exit 1) when the stage made nothing, or too many LLM requests failed.

        The files are written either way; a run started again retries the failed requests
        (the LLM cache answers the rest for free).
        """
        if self.items and not self.samples:  # one line: the top reject reason and what to do about it
            from taskforge._transform._advice import no_samples_message

            labels = f"; a suggested label_map: {self.label_report_path}" if self.label_report_path else ""
            raise StageError(no_samples_message(self) + labels)
        if self.units and self.llm_failed / self.units > max_error_rate:
            raise StageError(
                f"transform: {self.llm_failed} of {self.units} LLM requests failed after retries "
                f"({self.llm_failed / self.units:.0%} > max_error_rate {max_error_rate:.0%}); "
                f"first: {self.first_llm_error}; the samples made are written, run again to retry the rest"
            )

    def table(self) -> Any:
        """The end-of-stage summary: items, samples, rejects by reason, and every LLM count that matters."""
        from taskforge._console import summary_table

        rows: list[tuple[str, Any]] = [
            ("items", self.items),
            ("samples", self.samples),
            ("rejects", self.rejects),
        ]
        rows += [(f"  {reason}", n) for reason, n in self.rejects_by_reason.items()]
        if self.resumed:
            rows.append(("resumed (already done)", self.resumed))
        if self.label_report_path is not None:
            rows.append(("label report", str(self.label_report_path)))
        if self.method == "llm":
            s = self.llm_stats
            rows += [
                ("LLM requests", s.get("requests", 0)),
                ("LLM cache hits", s.get("cache_hits", 0)),
                ("LLM calls (attempts)", s.get("calls", 0)),
                ("LLM retries", s.get("retries", 0)),
                ("LLM throttled (429)", s.get("throttled", 0)),
                ("LLM failures", s.get("failures", 0)),
                *([("  budget spent (not sent)", self.budget_stopped)] if self.budget_stopped else []),
                ("repair requests", self.repairs),
                ("repaired samples", self.repaired),
                ("tokens", s.get("tokens", 0)),
                ("cost", f"${s.get('cost', 0.0):,.4f}"),
            ]
        rows.append(("seconds", round(self.seconds, 1)))
        title = f"transform ({self.method}{', ' + self.model if self.model else ''})"
        return summary_table(title, ["", ""], rows)


__all__ = ["TransformResult"]
