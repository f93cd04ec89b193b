"""Generate until N: the round loop's growth and stop rules (the pipeline wiring is tested in test_pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskforge._target import RoundResult, next_rows, run_until, start_rows


def fake_rounds(yield_rate: float, store_rows: int, cost_per_row: float = 0.0):
    """A round function over a pretend store: kept = yield x rows; pays only for rows not seen before."""
    seen = {"rows": 0}
    calls: list[int] = []

    def round_fn(rows: int, cost_left: float | None, calls_left: int | None) -> RoundResult:
        items = min(rows, store_rows)
        new = max(0, items - seen["rows"])
        stop = None
        if calls_left is not None and new > calls_left:
            new, stop = calls_left, "max_calls"
        seen["rows"] += new
        calls.append(new)
        return RoundResult(
            rows, items, int(seen["rows"] * yield_rate), cost=new * cost_per_row, calls=new, budget_stop=stop
        )

    return round_fn, calls


def test_rounds_grow_by_the_observed_yield_until_the_target(tmp_path: Path) -> None:
    fn, calls = fake_rounds(0.5, 10_000)
    report = run_until(200, fn, rows=100, run_dir=tmp_path)
    assert report.stopped_by == "target reached" and report.kept >= 200
    assert len(report.rounds) <= 3 and sum(calls) == report.rounds[-1].rows  # each row paid once
    saved = json.loads((tmp_path / "target.json").read_text())
    assert saved["stopped_by"] == "target reached" and saved["rows"] == report.rounds[-1].rows


def test_budget_and_store_size_stop_the_rounds(tmp_path: Path) -> None:
    fn, _ = fake_rounds(0.1, 10_000)
    assert run_until(500, fn, rows=100, run_dir=tmp_path, max_calls=300).stopped_by == "max_calls"
    fn, _ = fake_rounds(0.1, 10_000, cost_per_row=0.01)
    assert run_until(500, fn, rows=100, run_dir=tmp_path, max_cost=2.0).stopped_by == "max_cost"
    fn, _ = fake_rounds(0.5, 150)
    report = run_until(500, fn, rows=100, run_dir=tmp_path)
    assert report.stopped_by == "datastore exhausted" and report.kept == 75


def test_a_rerun_with_a_larger_target_starts_where_the_last_stopped(tmp_path: Path) -> None:
    fn, calls = fake_rounds(0.5, 10_000)
    first = run_until(100, fn, rows=50, run_dir=tmp_path)
    rows = start_rows(tmp_path, 50)
    assert rows == first.rounds[-1].rows
    paid_before = sum(calls)
    second = run_until(300, fn, rows=rows, run_dir=tmp_path)
    assert second.stopped_by == "target reached"
    assert sum(calls) - paid_before == second.rounds[-1].rows - rows  # only the new rows


def test_next_rows_plans_on_at_least_a_small_yield() -> None:
    assert next_rows(100, RoundResult(rows=100, items=100, kept=0), None) == 800  # capped at 8x
    assert next_rows(100, RoundResult(rows=100, items=100, kept=50), None) == 220
    assert next_rows(100, RoundResult(rows=100, items=100, kept=50), 150) == 150
    with pytest.raises(ValueError):
        run_until(0, lambda *a: RoundResult(1, 1, 1), rows=1, run_dir=Path("."))
