"""`run --target-samples N --max-cost --max-calls`: rounds of retrieve -> transform -> filter until N
samples pass, within a budget, and a re-run with a larger N pays only for new rows."""

from __future__ import annotations

import json
from pathlib import Path

from taskforge import RunSettings, Task, run
from taskforge.testing import FakeLLMServer, task_responder

NLI = Path(__file__).resolve().parents[1] / "examples" / "nli.yaml"


def settings(task: Task, url: str, **retrieve: object) -> RunSettings:
    llm = {"spec": "openai:fake", "base_url": url, "prices": (1000.0, 1000.0)}
    llm.update({k: retrieve.pop(k) for k in ("max_calls", "max_cost") if k in retrieve})
    return RunSettings.resolve(task, flags={"retrieve": {"n": 20, **retrieve}, "llm": llm})


def test_rounds_reach_the_target_then_a_larger_target_pays_only_for_new_rows(
    demo_datastore: Path, tmp_path: Path
) -> None:
    task = Task.load(NLI)
    out = tmp_path / "run"
    with FakeLLMServer(responder=task_responder(task)) as server:
        first = run(
            task,
            datastore=demo_datastore,
            out=out,
            settings=settings(task, server.openai_url, target_samples=30),
            report=False,
        )
        t = json.loads((out / "target.json").read_text())
        assert t["stopped_by"] == "target reached" and t["kept"] >= 30 and len(t["rounds"]) >= 2
        assert first.target is not None and first.records["filter"].counts["out"] == t["kept"]
        assert server.request_count == t["calls"] == t["rows"]  # each retrieved row transformed once
        assert len(json.loads((out / "export" / "data.jsonl").read_text().splitlines()[0])) > 0

        calls = server.request_count
        second = run(
            task,
            datastore=demo_datastore,
            out=out,
            settings=settings(task, server.openai_url, target_samples=60),
            report=False,
        )
        t2 = second.target
        assert t2 is not None and t2["stopped_by"] == "target reached" and t2["kept"] >= 60
        assert server.request_count - calls == t2["rows"] - t["rows"]  # only the new rows were paid for


def test_budget_stops_the_rounds_and_says_which(demo_datastore: Path, tmp_path: Path) -> None:
    task = Task.load(NLI)
    with FakeLLMServer(responder=task_responder(task)) as server:
        res = run(
            task,
            datastore=demo_datastore,
            out=tmp_path / "calls",
            settings=settings(task, server.openai_url, target_samples=500, max_calls=35),
            report=False,
        )
        assert res.target is not None and res.target["stopped_by"] == "max_calls"
        assert server.request_count <= 35 and res.target["kept"] > 0  # partial results kept
        res = run(
            task,
            datastore=demo_datastore,
            out=tmp_path / "cost",
            settings=settings(task, server.openai_url, target_samples=500, max_cost=1.0),
            report=False,
        )
        assert res.target is not None and res.target["stopped_by"] == "max_cost"
