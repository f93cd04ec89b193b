"""taskforge: turn the corpora and datasets you already have into training data for a new task.

The public Python API; the CLI (``taskforge ...``) is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from taskforge._task import Example, ExamplesFile, FieldSpec, Task, TaskSpecError

__all__ = ["Example", "ExamplesFile", "FieldSpec", "Task", "TaskSpecError", "__version__"]
