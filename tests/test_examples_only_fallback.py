"""`run --train` with the mapper over a store whose labels do not map: an examples-only expert, said loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskforge import RunSettings, StageError, Task, run

TOPIC = {
    "name": "news-topic",
    "instruction": "Classify the news article by its topic: world, sports, business or sci_tech.",
    "examples": [
        {"input": "Rebels seize the capital as the president flees abroad.", "output": {"topic": "world"}},
        {"input": "The striker scores twice as the champions win the derby.", "output": {"topic": "sports"}},
        {"input": "Shares fall after the bank reports a quarterly loss.", "output": {"topic": "business"}},
        {"input": "A new chip doubles the speed of mobile processors.", "output": {"topic": "sci_tech"}},
    ],
    "output_schema": {"topic": {"labels": ["world", "sports", "business", "sci_tech"]}},
}


def _settings(task: Task, train: bool) -> RunSettings:
    flags = {
        "retrieve": {"n": 40},
        "transform": {"method": "mapper"},
        "train": {"enabled": train, "epochs": 1},
    }
    return RunSettings.resolve(task, flags=flags)


def test_no_mappable_label_trains_on_the_examples_alone(demo_datastore: Path, tmp_path: Path) -> None:
    task = Task.model_validate(TOPIC)
    out = tmp_path / "run"
    result = run(task, datastore=demo_datastore, out=out, settings=_settings(task, True), report=False)

    assert result.records["transform"].counts["samples"] == 0  # no demo source has news topics
    assert "examples alone" in (result.warning or "")
    assert result.records["filter"].counts["out"] == 0
    assert result.records["train"].counts["trained_on"] == "examples only"
    info = json.loads((out / "train" / "model" / "expert.json").read_text(encoding="utf-8"))
    assert info["labels"] == ["world", "sports", "business", "sci_tech"]
    assert info["train"]["n_examples"] == 4 and info["train"]["n_samples"] == 4  # the examples, nothing else

    from taskforge._report._load import load_run
    from taskforge._report._next import next_steps

    steps = next_steps(load_run(out), None)
    assert any(s.startswith("The expert was trained on the task's examples alone") for s in steps)

    again = run(task, datastore=demo_datastore, out=out, settings=_settings(task, True), report=False)
    assert all(r.reused for r in again.records.values())  # the fallback resumes like any run


def test_without_train_a_transform_that_makes_nothing_still_fails(
    demo_datastore: Path, tmp_path: Path
) -> None:
    task = Task.model_validate(TOPIC)
    with pytest.raises(StageError, match="transform made no samples"):
        run(
            task,
            datastore=demo_datastore,
            out=tmp_path / "run",
            settings=_settings(task, False),
            report=False,
        )


def test_run_takes_the_label_map_the_label_report_suggests(demo_datastore: Path, tmp_path: Path) -> None:
    """The label report tells a user to pass ``--label-map RAW=LABEL``: ``run`` takes it, as ``transform`` does."""
    from typer.testing import CliRunner

    from taskforge._cli import app

    task_file = tmp_path / "topic.yaml"
    task_file.write_text(json.dumps(TOPIC), encoding="utf-8")  # JSON is YAML
    out = tmp_path / "run"
    args = ["run", str(task_file), "--datastore", str(demo_datastore), "--out", str(out), "--mapper"]
    res = CliRunner().invoke(app, [*args, "-n", "40", "--label-map", "positive=business", "--no-report"])
    assert res.exit_code == 0, res.output
    settings = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    assert settings["transform"]["label_map"] == {"positive": "business"}
    labels = {json.loads(line)["output"]["topic"] for line in (out / "transform" / "samples.jsonl").open()}
    assert labels == {"business"}  # the demo's positive reviews, under the label the map names

    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad"), "--label-map", "positive"])
    assert bad.exit_code == 2 and "RAW=LABEL" in bad.output
