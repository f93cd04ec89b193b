"""The self-contained HTML report of a run: ``build_report(run_dir)`` writes ``run_dir/report.html``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "build_report": "taskforge._report._build",
    "json_for_script": "taskforge._report._build",
    "RunData": "taskforge._report._load",
    "load_run": "taskforge._report._load",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["RunData", "build_report", "json_for_script", "load_run"]

if TYPE_CHECKING:
    from taskforge._report._build import build_report, json_for_script
    from taskforge._report._load import RunData, load_run
