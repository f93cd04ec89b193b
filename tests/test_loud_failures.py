"""Failure is loud: a stage that makes nothing or fails too many LLM requests exits non-zero,
the end-of-stage summary shows every LLM count that matters, a base URL without a host fails
at once, and two runs into one run directory never pay twice.

The LLM side is the fake server over real sockets; the runs are real ``taskforge`` processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from taskforge import Task
from taskforge._cli import app
from taskforge._records import write_items
from taskforge.testing import FakeLLMServer, demo_items, task_responder

if TYPE_CHECKING:
    from conftest import FakeLLMRuns

REPO = Path(__file__).resolve().parents[1]
NLI = REPO / "examples" / "nli.yaml"
DEMO = REPO / "demo" / "sources"


def said(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines


def items(tmp_path: Path, n: int) -> Path:
    return write_items(tmp_path / "items.jsonl", demo_items(DEMO, "snli_dev", n))


def transform_cli(tmp_path: Path, n: int, out: Path, url: str):
    """``taskforge transform`` (in process) of ``n`` demo NLI rows through the LLM server at ``url``."""
    args = ["transform", str(NLI), str(items(tmp_path, n)), "--out", str(out), "--llm", "openai:fake"]
    return CliRunner().invoke(app, [*args, "--base-url", url])


def test_transform_where_every_llm_call_fails_exits_non_zero(tmp_path: Path) -> None:
    with FakeLLMServer(fault_rate=1.0, faults=["429"], retry_after=0.01) as server:
        res = transform_cli(tmp_path, 3, tmp_path / "out" / "s.jsonl", server.openai_url)
        assert server.request_count == 3 * 7  # each request tried 7 times (6 retries), all throttled
    out = said(res.output)
    assert res.exit_code == 1, out
    assert (
        "error: transform made no samples from 3 items: 3 of 3 rejected as 'LLM error'; "
        "every LLM call failed: check the server" in out
    )
    assert "Traceback" not in out
    for row in ("LLM requests 3", "LLM retries 18", "LLM throttled (429) 21", "LLM failures 3"):
        assert row.replace(" ", "") in out.replace(" ", "").replace("│", ""), row


def test_transform_fails_when_the_error_rate_passes_the_bound(tmp_path: Path) -> None:
    from taskforge import LLM, StageError, transform
    from taskforge.testing import row_of_prompt

    task = Task.load(NLI)
    answer = task_responder(task)
    retrieved = demo_items(DEMO, "snli_dev", 10)
    broken = {json.dumps(it["row"], sort_keys=True) for it in retrieved[:4]}
    server_down = {"on": True}

    def responder(body: dict) -> str:  # the server fails (HTTP 500) on 4 of the 10 rows
        if server_down["on"] and json.dumps(row_of_prompt(body), sort_keys=True) in broken:
            raise RuntimeError("down")
        return answer(body)

    out = tmp_path / "s.jsonl"
    with FakeLLMServer(responder=responder) as server:
        llm = LLM.from_spec(
            "openai:fake",
            base_url=server.openai_url,
            cache_path=tmp_path / "c.sqlite",
            backoff_base=0.01,
            backoff_cap=0.02,
        )
        res = transform(task, retrieved, out, llm=llm)
        assert (res.units, res.llm_failed, res.samples) == (10, 4, 6)
        with pytest.raises(
            StageError, match=r"4 of 10 LLM requests failed after retries \(40% > max_error_rate 10%\)"
        ):
            res.check(0.1)
        res.check(0.5)  # the bound is a setting
        server_down["on"] = False
        server.reset()
        again = transform(task, retrieved, out, llm=llm)  # the next run retries the 4, pays nothing else
        llm.close()
    assert server.request_count == 4 and (again.samples, again.llm_failed) == (10, 0)
    again.check(0.1)


def test_requests_held_back_by_the_budget_are_not_failures(tmp_path: Path) -> None:
    """max_calls is a stop the user asked for: the units it never sent do not count as failed."""
    from taskforge import LLM, transform

    task = Task.load(NLI)
    with FakeLLMServer(responder=task_responder(task)) as server:
        llm = LLM.from_spec(
            "openai:fake",
            base_url=server.openai_url,
            cache_path=tmp_path / "c.sqlite",
            max_in_flight=1,
            max_calls=4,
        )
        res = transform(task, demo_items(DEMO, "snli_dev", 10), tmp_path / "s.jsonl", llm=llm)
        llm.close()
    assert server.request_count == 4 and res.samples == 4
    assert (res.units, res.budget_stopped, res.llm_failed) == (10, 6, 0)
    res.check(0.1)  # 60% of the units were not made, but nothing failed
    rows = _render(res.table()).replace(" ", "").replace("│", "")
    assert (
        "budgetspent(notsent)6" in rows and "LLMfailures6" in rows
    )  # the client counts them; the row says why


def _render(table: object) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def test_base_url_without_a_host_fails_at_once(tmp_path: Path, demo_datastore: Path) -> None:
    res = transform_cli(tmp_path, 2, tmp_path / "s.jsonl", "localhost:8000/v1")
    # exit 2 (a usage error, raised while settings are checked), not 1 after retried connections
    assert res.exit_code == 2 and "has no http(s) scheme and host" in said(res.output)
    assert not (tmp_path / "s.jsonl").exists() and "retry" not in res.output.lower()
    run = CliRunner().invoke(
        app,
        [
            "run",
            str(NLI),
            "--datastore",
            str(demo_datastore),
            "--out",
            str(tmp_path / "r"),
            "--llm",
            "openai:fake",
            "--base-url",
            "localhost:8000/v1",
        ],
    )
    assert run.exit_code == 2 and "localhost:8000/v1" in said(run.output)
    assert not (tmp_path / "r").exists()  # refused before any stage


def test_run_console_shows_retries_throttles_and_failures(tmp_path: Path, fake_llm_runs: FakeLLMRuns) -> None:
    task = Task.load(NLI)
    out = tmp_path / "run"
    with FakeLLMServer(
        responder=task_responder(task, bad_share=0.2),
        fault_rate=0.3,
        faults=["429", "500"],
        seed=4,
        retry_after=0.01,
    ) as server:
        proc = fake_llm_runs.run(out, server.openai_url, n=20, max_in_flight=4)
    assert proc.returncode == 0, proc.stderr[-3000:]
    llm = json.loads((out / "transform" / "record.json").read_text())["counts"]["llm"]
    assert llm["retries"] > 0 and llm["throttled"] > 0
    console = proc.stderr.replace(" ", "").replace("│", "|")
    for name, key in (
        ("LLMrequests", "requests"),
        ("LLMretries", "retries"),
        ("LLMthrottled(429)", "throttled"),
        ("LLMcachehits", "cache_hits"),
        ("LLMfailures", "failures"),
    ):
        assert f"|{name}|{llm[key]}|" in console, name
    assert "|repairrequests|" in console and "|repairedsamples|" in console


def test_two_runs_into_one_directory_pay_each_call_once(tmp_path: Path, fake_llm_runs: FakeLLMRuns) -> None:
    out = tmp_path / "run"
    with FakeLLMServer(responder=task_responder(Task.load(NLI)), latency=0.1) as server:
        procs = [fake_llm_runs.start(out, server.openai_url, n=30) for _ in range(2)]
        errs = [p.communicate(timeout=600)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errs
        assert server.request_count == 30  # calls == items: the second run reused the first's work
    assert any("in use by another run" in said(e) for e in errs)  # one waited for the other
    samples = (out / "transform" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 30 and len({json.loads(s)["id"] for s in samples}) == 30


def test_a_second_run_stops_with_no_wait(tmp_path: Path, demo_datastore: Path) -> None:
    from taskforge._io import writer_lock

    out = tmp_path / "run"
    with writer_lock(out, what="run"):
        res = CliRunner().invoke(
            app,
            ["run", str(NLI), "--datastore", str(demo_datastore), "--out", str(out), "--mapper", "--no-wait"],
        )
    assert res.exit_code == 1
    assert f"is in use by another run (pid {os.getpid()}" in said(res.output)
    assert not (out / "retrieve").exists()


@pytest.mark.parametrize(
    ("failed", "units", "bound", "fails"),
    [(0, 10, 0.1, False), (1, 10, 0.1, False), (2, 10, 0.1, True), (2, 10, 0.25, False)],
)
def test_error_rate_bound(tmp_path: Path, failed: int, units: int, bound: float, fails: bool) -> None:
    from taskforge import StageError, TransformResult

    res = TransformResult(
        tmp_path / "s",
        tmp_path / "r",
        items=units,
        samples=units - failed,
        rejects=failed,
        method="llm",
        units=units,
        llm_failed=failed,
        first_llm_error="LLM error: HTTP 500",
    )
    if fails:
        with pytest.raises(StageError, match=f"{failed} of {units} LLM requests failed"):
            res.check(bound)
    else:
        res.check(bound)
