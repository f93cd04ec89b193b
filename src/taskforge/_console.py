"""The two rich consoles of the tool, and the progress bar / summary table every stage uses.

``console`` writes to stderr: progress, logs, warnings and errors. ``results`` writes to
stdout: what a command produced (summary tables, where its files are), so
``taskforge ... > summary.txt`` keeps the results and the terminal keeps the progress.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=True, highlight=False)  # progress, logs, warnings, errors
results = Console(highlight=False)  # summaries and results (stdout)


def make_progress(*extra_columns: Any, transient: bool = False) -> Progress:
    """A progress bar with count, rate and ETA (``TASKFORGE_QUIET=1`` hides it)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=os.environ.get("TASKFORGE_QUIET") == "1",
    )


class RateColumn(ProgressColumn):
    """Items per second, from rich's own speed estimate."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "", style="progress.data.speed")


def summary_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[format_value(v) for v in row])
    return table


def kv_table(title: str, items: Mapping[str, Any]) -> Table:
    return summary_table(title, ["", ""], items.items())


def format_value(v: Any) -> str:
    """A table cell: ints with thousands separators, floats to 4 significant digits, bools as words."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
