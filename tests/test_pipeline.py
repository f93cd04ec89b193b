"""`taskforge run`: stage reuse, settings precedence, zero repeated LLM calls, kill-and-resume."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from taskforge import RunSettings, SettingsError, Task, run
from taskforge.testing import FakeLLMServer, task_responder

if TYPE_CHECKING:
    from conftest import FakeLLMRuns

REPO = Path(__file__).resolve().parents[1]
NLI = REPO / "examples" / "nli.yaml"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_settings_precedence_task_then_config_then_flags(tmp_path: Path) -> None:
    task = Task.load(NLI)
    task = task.model_copy(update={"defaults": {**task.defaults, "retrieve": {"n": 50, "method": "craft"}}})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"retrieve": {"n": 70}, "filter": {"ngram": 8}}))
    s = RunSettings.resolve(task, config_file=cfg, flags={"retrieve": {"n": 90, "method": None}})
    assert (s.retrieve.n, s.retrieve.method) == (90, "craft")  # flag > config > task; None flags ignored
    assert s.filter.ngram == 8 and s.filter.near_dup_threshold == 0.8  # config over the built-in default
    assert s.transform.label_map["neutral"] == "not_entailment"  # from the task file itself

    bad = tmp_path / "bad.yaml"
    bad.write_text("retreive: {n: 3}\n")
    with pytest.raises(SettingsError, match=r"retreive.*allowed: retrieve, llm, transform"):
        RunSettings.resolve(task, config_file=bad)


def test_mapper_run_reuses_unchanged_stages(demo_datastore: Path, tmp_path: Path) -> None:
    task = Task.load(NLI)
    out = tmp_path / "run"
    settings = RunSettings.resolve(task, flags={"retrieve": {"n": 120}})
    first = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)

    assert [r.reused for r in first.records.values()] == [False] * 4
    kept = _lines(out / "filter" / "kept.jsonl")
    assert kept and first.funnel()["kept"] == len(kept)
    assert {s["provenance"]["method"] for s in kept} == {"mapper"}
    assert all(s["output"]["label"] in ("entailment", "not_entailment") for s in kept)
    assert not any(s["provenance"]["source"] == "scitail_test" for s in kept)  # excluded source
    for stage in ("retrieve", "transform", "filter", "export"):
        assert (out / stage / "record.json").exists()
    assert json.loads((out / "settings.json").read_text())["retrieve"]["n"] == 120
    assert (out / "export" / "data.jsonl").exists() and (out / "export" / "README.md").exists()

    again = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)
    assert all(r.reused for r in again.records.values())

    settings.filter.near_dup_threshold = 0.95
    changed = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)
    reused = {name: r.reused for name, r in changed.records.items()}
    assert reused == {"retrieve": True, "transform": True, "filter": False, "export": False}


def test_filter_change_makes_no_llm_calls(demo_datastore: Path, tmp_path: Path) -> None:
    task = Task.load(NLI)
    out = tmp_path / "run"
    with FakeLLMServer(responder=task_responder(task)) as server:
        settings = RunSettings.resolve(
            task, flags={"retrieve": {"n": 40}, "llm": {"spec": "openai:fake", "base_url": server.openai_url}}
        )
        first = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)
        calls = server.request_count
        assert calls >= 40  # one per item (plus repairs)
        assert first.records["transform"].counts["samples"] > 0

        settings.filter.fewshot_threshold = 99
        second = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)
        assert server.request_count == calls  # only the filter (and export) ran again
        assert second.records["transform"].reused and not second.records["filter"].reused

        # even a redone transform costs nothing: every answer is in the run's LLM cache
        settings.transform.limit = 1000  # more than the 40 items: a new config, still the same requests
        third = run(task, datastore=demo_datastore, out=out, settings=settings, report=False)
        assert not third.records["transform"].reused
        assert server.request_count == calls
        assert third.records["transform"].counts["llm"]["cache_hits"] >= 40


def test_run_killed_mid_transform_resumes_without_repeated_calls(
    fake_llm_runs: FakeLLMRuns, tmp_path: Path
) -> None:
    task = Task.load(NLI)
    n_items = 60
    out = tmp_path / "run"
    with FakeLLMServer(responder=task_responder(task), latency=0.05) as server:
        proc = fake_llm_runs.start(out, server.openai_url, n=n_items)
        fake_llm_runs.wait_for_answers(proc, server, n_items // 3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        answered_before_kill = server.completed_count
        assert not (out / "transform" / "record.json").exists()  # killed mid-stage

        done = fake_llm_runs.run(out, server.openai_url, n=n_items)
        assert done.returncode == 0, done.stderr[-2000:]

        bodies = [json.dumps(b["messages"], sort_keys=True) for b in server.requests]
        repeated = len(bodies) - len(set(bodies))
        # only calls that were in flight when the process died can be asked again
        assert repeated <= 2 + 2, f"{repeated} repeated calls"
        assert server.request_count < n_items + answered_before_kill

    samples = _lines(out / "transform" / "samples.jsonl")
    rejects = _lines(out / "transform" / "rejects.jsonl")
    ids = [s["id"] for s in samples]
    assert len(ids) == len(set(ids))  # no duplicated samples
    items = _lines(out / "retrieve" / "items.jsonl")
    done_keys = {(s["provenance"]["source"], s["provenance"]["row_id"]) for s in samples}
    done_keys |= {(r["item"]["source"], r["item"]["row_id"]) for r in rejects}
    assert done_keys == {(i["source"], i["row_id"]) for i in items}  # none missing
    assert (out / "export" / "data.jsonl").exists()


def test_bad_llm_spec_is_one_clear_line(demo_datastore: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    res = CliRunner().invoke(
        app,
        ["run", str(NLI), "--datastore", str(demo_datastore), "--llm", "gpt4", "--out", str(tmp_path / "r")],
    )
    assert res.exit_code == 2
    assert "must look like 'openai:MODEL'" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # rejected before any stage ran
