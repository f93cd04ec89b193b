"""Generate until N samples pass every filter, within a budget: the rounds of ``run --target-samples``.

Each round retrieves the top ``rows`` of the same ranking (so a larger round only adds the next
rows), transforms them (the LLM cache answers every row an earlier round or run already paid
for) and filters them. After a round the loop stops when ``target`` samples are kept, when the
budget (``max_cost`` USD, ``max_calls`` calls, over this run) is spent, or when the datastore has
no more rows; otherwise it grows ``rows`` by what the observed yield (kept / retrieved) says is
missing, with a 20% margin. Every round is recorded in ``RUN/target.json``; a re-run with a larger
target starts from the rows the last one reached, and pays only for new rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from taskforge._io import atomic_write_text

STATE_FILE = "target.json"
MIN_YIELD = 0.05  # never plan on fewer than 1 kept sample per 20 rows (a first round that kept nothing)
MAX_GROWTH = 8.0  # at most 8x the rows from one round to the next


@dataclass
class RoundResult:
    """What one round produced: items retrieved, samples kept, and what it spent (this round only)."""

    rows: int
    items: int
    kept: int
    cost: float = 0.0
    calls: int = 0
    budget_stop: str | None = None  # "max_cost" / "max_calls" when the LLM stopped for the budget


@dataclass
class TargetReport:
    target: int
    max_cost: float | None
    max_calls: int | None
    rounds: list[RoundResult] = field(default_factory=list)
    stopped_by: str = ""

    @property
    def kept(self) -> int:
        return self.rounds[-1].kept if self.rounds else 0

    @property
    def cost(self) -> float:
        return sum(r.cost for r in self.rounds)

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kept": self.kept,
            "stopped_by": self.stopped_by,
            "cost": self.cost,
            "calls": self.calls,
            "max_cost": self.max_cost,
            "max_calls": self.max_calls,
            "rows": self.rounds[-1].rows if self.rounds else 0,
            "rounds": [asdict(r) for r in self.rounds],
        }


def next_rows(target: int, last: RoundResult, max_rows: int | None) -> int:
    """Rows for the next round: enough for the missing samples at the observed yield, plus 20%."""
    rate = max(MIN_YIELD, last.kept / max(1, last.items))
    wanted = last.rows + math.ceil((target - last.kept) / rate * 1.2)
    wanted = min(wanted, math.ceil(last.rows * MAX_GROWTH))
    return min(wanted, max_rows) if max_rows else wanted


def start_rows(run_dir: Path, default: int) -> int:
    """Where a re-run starts: the rows the last run reached (never fewer than ``default``)."""
    path = Path(run_dir) / STATE_FILE
    try:
        return max(default, int(json.loads(path.read_text())["rows"]))
    except (OSError, ValueError, KeyError, TypeError):
        return default


def run_until(
    target: int,
    round_fn: Callable[[int, float | None, int | None], RoundResult],
    *,
    rows: int,
    run_dir: Path,
    max_cost: float | None = None,
    max_calls: int | None = None,
    max_rows: int | None = None,
) -> TargetReport:
    """Rounds of ``round_fn(rows, cost_left, calls_left)`` until a stop; see the module docstring."""
    if target < 1:
        raise ValueError(f"target samples must be >= 1, got {target}")
    report = TargetReport(target, max_cost, max_calls)
    rows = min(rows, max_rows) if max_rows else rows
    while True:
        cost_left = None if max_cost is None else max(0.0, max_cost - report.cost)
        calls_left = None if max_calls is None else max(0, max_calls - report.calls)
        res = round_fn(rows, cost_left, calls_left)
        report.rounds.append(res)
        if res.kept >= target:
            report.stopped_by = "target reached"
        elif res.budget_stop or (max_calls is not None and report.calls >= max_calls):
            report.stopped_by = res.budget_stop or "max_calls"
        elif max_cost is not None and report.cost >= max_cost:
            report.stopped_by = "max_cost"
        elif res.items < res.rows or (max_rows is not None and rows >= max_rows):
            report.stopped_by = "datastore exhausted"
        else:
            grown = next_rows(target, res, max_rows)
            if grown <= rows:
                report.stopped_by = "datastore exhausted"
            rows = grown
        atomic_write_text(Path(run_dir) / STATE_FILE, json.dumps(report.to_json(), indent=2))
        if report.stopped_by:
            return report


__all__ = ["STATE_FILE", "RoundResult", "TargetReport", "next_rows", "run_until", "start_rows"]
