"""The public API: the exported names (pinned, as httpx pins ``httpx.__all__``) and docs/api.md's example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import taskforge

REPO = Path(__file__).resolve().parents[1]

PUBLIC = [
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
    "LLM",
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


def test_all_is_pinned() -> None:
    assert sorted(taskforge.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves_and_is_documented() -> None:
    doc = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    for name in taskforge.__all__:
        assert getattr(taskforge, name) is not None
        if name != "__version__":
            assert f"`{name}" in doc or re.search(rf"\b{name}\b", doc), f"{name} is not in docs/api.md"


def test_errors_share_one_root_and_carry_exit_codes() -> None:
    errors = [getattr(taskforge, n) for n in taskforge.__all__ if n.endswith(("Error", "NotFound"))]
    assert all(issubclass(e, taskforge.TaskforgeError) for e in errors)
    assert (
        taskforge.StageError.exit_code,
        taskforge.UsageError.exit_code,
        taskforge.InputError.exit_code,
    ) == (1, 2, 3)
    assert (
        taskforge.SettingsError.exit_code
        == taskforge.TaskSpecError.exit_code
        == taskforge.LLMError.exit_code
        == 2
    )
    assert taskforge.DatastoreNotFound.exit_code == taskforge.ModelMismatchError.exit_code == 3
    assert taskforge.Interrupted.exit_code == 130  # Ctrl-C, the shell's convention


def test_import_is_light() -> None:
    """``import taskforge`` loads no stage (names load on first use, through the tiny _lazy helper)."""
    code = "import sys, taskforge; print(sorted(m for m in sys.modules if m.startswith('taskforge')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['taskforge', 'taskforge._lazy']"


def test_the_api_doc_example_runs(tmp_path: Path) -> None:
    """docs/api.md's first code block, run as a script from a folder that looks like the repo root."""
    doc = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", doc, re.S)[0]
    (tmp_path / "demo").symlink_to(REPO / "demo")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "TASKFORGE_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"20 items -> \d+ samples -> \d+ kept", done.stdout), done.stdout
    assert "'retrieved': 20" in done.stdout
    assert "transform.bogus_key" in done.stdout and "allowed transform: method, style" in done.stdout
    assert (tmp_path / "api-run" / "export" / "data.jsonl").exists()
    assert (tmp_path / "api-out" / "samples.jsonl").stat().st_size > 0  # Parquet items went into transform
