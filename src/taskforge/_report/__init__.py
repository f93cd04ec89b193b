"""The self-contained HTML report of a run: ``build_report(run_dir)`` writes ``run_dir/report.html``."""

from ._build import build_report, json_for_script
from ._load import RunData, load_run

__all__ = ["RunData", "build_report", "json_for_script", "load_run"]
