"""taskforge: turn the corpora and datasets you already have into training data for a new task.

The public Python API (the CLI, ``taskforge ...``, is a thin layer over it); see docs/api.md::

    import taskforge

    task = taskforge.Task.load("examples/nli.yaml")
    taskforge.build_datastore(["demo/sources/snli_dev"], "store", max_rows=200)
    result = taskforge.run(task, datastore="store", out="runs/nli", settings={"retrieve": {"n": 100}})

Everything else lives in private ``_modules`` and may change. Names load on first use, so
``import taskforge`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # task spec
    "Task": "taskforge._task",
    "Example": "taskforge._task",
    "ExamplesFile": "taskforge._task",
    "FieldSpec": "taskforge._task",
    # settings
    "RunSettings": "taskforge._settings",
    "BuildSettings": "taskforge._settings",
    "RetrieveSettings": "taskforge._settings",
    "LLMSettings": "taskforge._settings",
    "TransformSettings": "taskforge._settings",
    "FilterSettings": "taskforge._settings",
    "ExportSettings": "taskforge._settings",
    "TrainSettings": "taskforge._settings",
    "EvalSettings": "taskforge._settings",
    # records
    "Item": "taskforge._records",
    "Sample": "taskforge._records",
    "Reject": "taskforge._records",
    "read_items": "taskforge._records",
    "write_items": "taskforge._records",
    "read_samples": "taskforge._records",
    "label_of": "taskforge._records",
    "text_of": "taskforge._records",
    # errors
    "TaskforgeError": "taskforge._errors",
    "UsageError": "taskforge._errors",
    "InputError": "taskforge._errors",
    "StageError": "taskforge._errors",
    "Interrupted": "taskforge._errors",
    "TaskSpecError": "taskforge._errors",
    "SettingsError": "taskforge._errors",
    "ModelMismatchError": "taskforge._errors",
    "DatastoreNotFound": "taskforge._errors",
    # embedding and LLMs
    "Embedder": "taskforge._embed",
    "Encoder": "taskforge._embed",
    "LLM": "taskforge._llm",
    "LLMClient": "taskforge._llm",
    "LLMError": "taskforge._llm",
    "LLMRequest": "taskforge._llm",
    "LLMResult": "taskforge._llm",
    "GenerationOptions": "taskforge._llm",
    "make_llm": "taskforge._llm",
    # stages
    "Datastore": "taskforge._datastore",
    "build_datastore": "taskforge._datastore",
    "search": "taskforge._retrieval",
    "retrieve": "taskforge._retrieval",
    "RetrievalResult": "taskforge._retrieval",
    "transform": "taskforge._transform",
    "TransformResult": "taskforge._transform",
    "filter_samples": "taskforge._quality",
    "FilterResult": "taskforge._quality",
    "dataset_stats": "taskforge._quality",
    "export_dataset": "taskforge._quality",
    "push_to_hub": "taskforge._quality",
    "train_expert": "taskforge._experts",
    "evaluate": "taskforge._experts",
    "EvalResult": "taskforge._experts",
    "build_report": "taskforge._report",
    "run": "taskforge._pipeline",
    "RunResult": "taskforge._pipeline",
}

__all__ = [
    "LLM",
    "BuildSettings",
    "Datastore",
    "DatastoreNotFound",
    "Embedder",
    "Encoder",
    "EvalResult",
    "EvalSettings",
    "Example",
    "ExamplesFile",
    "ExportSettings",
    "FieldSpec",
    "FilterResult",
    "FilterSettings",
    "GenerationOptions",
    "InputError",
    "Interrupted",
    "Item",
    "LLMClient",
    "LLMError",
    "LLMRequest",
    "LLMResult",
    "LLMSettings",
    "ModelMismatchError",
    "Reject",
    "RetrievalResult",
    "RetrieveSettings",
    "RunResult",
    "RunSettings",
    "Sample",
    "SettingsError",
    "StageError",
    "Task",
    "TaskSpecError",
    "TaskforgeError",
    "TrainSettings",
    "TransformResult",
    "TransformSettings",
    "UsageError",
    "__version__",
    "build_datastore",
    "build_report",
    "dataset_stats",
    "evaluate",
    "export_dataset",
    "filter_samples",
    "label_of",
    "make_llm",
    "push_to_hub",
    "read_items",
    "read_samples",
    "retrieve",
    "run",
    "search",
    "text_of",
    "train_expert",
    "transform",
    "write_items",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from taskforge._datastore import Datastore, build_datastore
    from taskforge._embed import Embedder, Encoder
    from taskforge._errors import (
        DatastoreNotFound,
        InputError,
        Interrupted,
        ModelMismatchError,
        SettingsError,
        StageError,
        TaskforgeError,
        TaskSpecError,
        UsageError,
    )
    from taskforge._experts import EvalResult, evaluate, train_expert
    from taskforge._llm import LLM, GenerationOptions, LLMClient, LLMError, LLMRequest, LLMResult, make_llm
    from taskforge._pipeline import RunResult, run
    from taskforge._quality import FilterResult, dataset_stats, export_dataset, filter_samples, push_to_hub
    from taskforge._records import (
        Item,
        Reject,
        Sample,
        label_of,
        read_items,
        read_samples,
        text_of,
        write_items,
    )
    from taskforge._report import build_report
    from taskforge._retrieval import RetrievalResult, retrieve, search
    from taskforge._settings import (
        BuildSettings,
        EvalSettings,
        ExportSettings,
        FilterSettings,
        LLMSettings,
        RetrieveSettings,
        RunSettings,
        TrainSettings,
        TransformSettings,
    )
    from taskforge._task import Example, ExamplesFile, FieldSpec, Task
    from taskforge._transform import TransformResult, transform
