"""Typed settings: one model per stage, one precedence rule, typos named with the allowed keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskforge import (
    BuildSettings,
    ExportSettings,
    LLMSettings,
    RetrieveSettings,
    RunSettings,
    SettingsError,
    Task,
    TrainSettings,
    TransformSettings,
)
from taskforge._pipeline import PIPELINE
from taskforge._settings import SECTIONS, STAGES

NLI = Path(__file__).resolve().parents[1] / "examples" / "nli.yaml"


def _task(defaults: dict) -> Task:
    raw = Task.load(NLI).model_dump(mode="json", exclude_none=True)
    raw["defaults"] = defaults
    return Task.from_dict(raw)


def test_stages_are_named_once() -> None:
    assert [s.name for s in PIPELINE] == list(STAGES)
    assert all(s.settings is SECTIONS[s.name] for s in PIPELINE)


def test_precedence_defaults_task_config_flags() -> None:
    task = _task({"retrieve": {"n": 50, "method": "craft"}, "filter": {"ngram": 9}})
    s = RunSettings.resolve(
        task,
        config={"retrieve": {"n": 70}, "filter": {"ngram": 8, "max_per_label": 3}},
        flags={"retrieve": {"n": 90, "method": None}, "filter": {"max_per_label": None}},
    )
    assert (s.retrieve.n, s.retrieve.method, s.retrieve.index) == (90, "craft", "exact")
    assert (s.filter.ngram, s.filter.max_per_label, s.filter.near_dup_threshold) == (8, 3, 0.8)
    # a stage's own command resolves the same way: task defaults < flags
    assert RetrieveSettings.for_task(task, {"n": 5}).model_dump()["method"] == "craft"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"transform": {"bogus_key": 1}},
            "config: unknown setting transform.bogus_key; allowed transform: method,",
        ),
        (
            {"export": {"formatz": ["jsonl"]}},
            "unknown setting export.formatz; allowed export: formats, sources_dir",
        ),
        ({"retreive": {"n": 1}}, "unknown section(s) retreive; allowed: retrieve, llm, transform"),
        ({"export": {"formats": ["csv"]}}, "export.formats: unknown format(s) ['csv']"),
        ({"retrieve": {"n": 0}}, "retrieve.n: Input should be greater than or equal to 1"),
        ({"llm": "openai:x"}, "`llm` must be a mapping of settings"),
    ],
)
def test_mistakes_name_the_key(layer: dict, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        RunSettings.resolve(Task.load(NLI), config=layer)
    assert message in str(e.value)


def test_task_defaults_are_checked_too() -> None:
    with pytest.raises(SettingsError, match=r"task defaults: unknown setting transform\.temprature"):
        RunSettings.resolve(_task({"transform": {"temprature": 0.2}}))


def test_keyword_overrides_are_validated() -> None:
    assert BuildSettings.build(None, {"max_rows": 10, "kind": None}).kind == "rows"
    with pytest.raises(SettingsError, match=r"build\.max_rowz: unknown setting"):
        BuildSettings.build(None, {"max_rowz": 10})
    s = TransformSettings()
    with pytest.raises(SettingsError):
        TransformSettings.build(s, {"samples_per_item": 0})
    with pytest.raises(ValueError):
        s.samples_per_item = 0  # assignments are validated too


def test_judge_shares_the_run_llm_limits_not_its_model() -> None:
    run = RunSettings.resolve(
        Task.load(NLI),
        flags={
            "llm": {
                "spec": "openai:big",
                "base_url": "http://a/v1",
                "max_in_flight": 7,
                "rpm": 60,
                "timeout": 5,
            },
            "filter": {"judge": "anthropic:judge"},
        },
    )
    judge = run.filter.judge_llm(run.llm)
    assert judge is not None and judge.spec == "anthropic:judge" and judge.base_url is None
    assert (judge.max_in_flight, judge.rpm, judge.timeout) == (7, 60, 5)
    assert RunSettings().filter.judge_llm(LLMSettings()) is None


def test_train_options_and_export_formats() -> None:
    assert TrainSettings(epochs=3.0, lr=1e-4).options() == {"epochs": 3, "lr": 1e-4}
    assert TrainSettings(base_model="m", epochs=1.5).options() == {"epochs": 1.5}
    assert ExportSettings(formats="jsonl, chat").formats == ["jsonl", "chat"]
