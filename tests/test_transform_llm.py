"""The LLM path of the transform stage against the fake server over real sockets: faults, bad answers,
repair, several samples per item, chain of thought, the cache, and resume after SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from taskforge import Task
from taskforge._llm import LLM
from taskforge._records import sample_id
from taskforge._transform import TransformSettings, transform
from taskforge.testing import FakeLLMServer, demo_items, task_responder

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DEMO = REPO / "demo" / "sources"
REASON_CATEGORIES = {"JSON parse error", "invalid label", "missing field"}


def nli() -> Task:
    return Task.load(EXAMPLES / "nli.yaml")


def client(server: FakeLLMServer, cache: Path, **kw: Any) -> LLM:
    # free-text answers: these tests cover parsing and repair (structured outputs: test_transform_structured)
    kw = {"timeout": 2.0, "backoff_base": 0.01, "backoff_cap": 0.05, "structured": "off", **kw}
    return LLM.from_spec("openai:fake", base_url=server.openai_url, cache_path=cache, **kw)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def items_500() -> list[dict[str, Any]]:
    items = demo_items(DEMO, "snli_dev", 300) + demo_items(DEMO, "scitail_test", 200)
    for rank, it in enumerate(items, 1):
        it["rank"] = rank
    return items


def test_500_items_at_20_percent_faults_every_item_accounted_for(tmp_path: Path) -> None:
    task, items = nli(), items_500()
    out = tmp_path / "samples.jsonl"
    responder = task_responder(task, bad_share=0.2, repairable=True)
    faults = ("429", "500", "broken_json", "drop", "timeout")
    with FakeLLMServer(
        responder=responder, fault_rate=0.2, faults=faults, seed=7, hang=1.0, retry_after=0.01
    ) as s:
        with client(s, tmp_path / "cache.sqlite", max_in_flight=32, timeout=0.5) as llm:
            res = transform(task, items, out, llm=llm)
        assert sum(s.fault_counts.values()) > 50  # the faults really happened
    samples, rejects = read(out), read(tmp_path / "rejects.jsonl")
    keys = Counter((x["provenance"]["source"], x["provenance"]["row_id"]) for x in samples)
    keys.update((r["item"]["source"], r["item"]["row_id"]) for r in rejects)
    assert set(keys) == {(it["source"], it["row_id"]) for it in items}
    assert max(keys.values()) == 1
    assert res.items == 500 and res.samples + res.rejects == 500
    # transport faults are retried by the LLM layer; bad answers are repaired by one more request
    assert all(r["reason"].startswith("LLM error") for r in rejects)
    repaired = [x for x in samples if x["provenance"].get("repaired")]
    assert 50 < len(repaired) < 160
    assert res.llm_stats["retries"] > 0
    s0 = samples[0]
    assert "reasoning" not in s0  # the responder gives one, but chain of thought was not asked for
    assert s0["provenance"]["method"] == "llm" and s0["provenance"]["model"] == "openai:fake"
    assert s0["provenance"]["prompt_hash"] and s0["id"] == sample_id(items[0], 0, "llm")
    assert [x["provenance"]["rank"] for x in samples] == sorted(x["provenance"]["rank"] for x in samples)
    labels = {x["output"]["label"] for x in samples}
    assert labels == {"entailment", "not_entailment"}


def test_bad_answers_end_in_rejects_with_reasons(tmp_path: Path) -> None:
    task, items = nli(), demo_items(DEMO, "snli_dev", 80)
    responder = task_responder(task, bad_share=0.5, repairable=False)
    with FakeLLMServer(responder=responder) as s, client(s, tmp_path / "cache.sqlite") as llm:
        res = transform(task, items, tmp_path / "samples.jsonl", llm=llm)
        n_requests = s.request_count
    rejects = read(tmp_path / "rejects.jsonl")
    assert res.rejects == len(rejects) > 20 and res.samples + res.rejects == 80
    assert {r["reason"].split(":")[0] for r in rejects} == REASON_CATEGORIES
    assert set(res.rejects_by_reason) == REASON_CATEGORIES
    for r in rejects:
        assert r["stage"] == "transform" and r["sample"] is None and r["raw"]
        assert "after a repair request" in r["reason"]
        assert r["filter"] in {"json_parse_error", "invalid_label", "missing_field"}
    assert n_requests == 80 + len(rejects)  # one repair request per bad answer

    with FakeLLMServer(responder=responder) as s, client(s, tmp_path / "c2.sqlite") as llm:
        res2 = transform(
            task, items, tmp_path / "b" / "samples.jsonl", llm=llm, settings=TransformSettings(repair=False)
        )
        assert s.request_count == 80
    assert res2.rejects == res.rejects


def test_samples_per_item_chain_of_thought_and_cache(tmp_path: Path) -> None:
    task = Task.load(EXAMPLES / "math.yaml")
    items = demo_items(DEMO, "gsm8k", 10)
    settings = TransformSettings(samples_per_item=3, chain_of_thought=True)
    out = tmp_path / "samples.jsonl"
    with FakeLLMServer(responder=task_responder(task)) as s:
        with client(s, tmp_path / "cache.sqlite") as llm:
            res = transform(task, items, out, llm=llm, settings=settings)
        assert s.request_count == 30
        first = out.read_bytes()
        with client(s, tmp_path / "cache.sqlite") as llm:
            again = transform(task, items, out, llm=llm, settings=settings)
        assert s.request_count == 30  # everything from the cache
        assert again.llm_stats["cache_hits"] == 30 and out.read_bytes() == first
    samples = read(out)
    assert res.samples == 30 and len({x["id"] for x in samples}) == 30
    assert [x["provenance"]["sample_index"] for x in samples[:3]] == [0, 1, 2]
    assert len({x["input"] for x in samples[:3]}) == 3  # distinct samples of one item
    assert all(x["reasoning"] for x in samples) and isinstance(samples[0]["output"], str)


def _cli(out: Path, retrieved: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "taskforge",
        "transform",
        str(EXAMPLES / "nli.yaml"),
        str(retrieved),
        "--llm",
        "openai:fake",
        "--base-url",
        url,
        "--out",
        str(out),
        *extra,
    ]


def _call_key(messages: list[dict[str, str]], seed: Any) -> str:
    return json.dumps(messages, sort_keys=True) + f"|{seed}"


def _committed_calls(cache: Path) -> set[str]:
    """The calls whose answers the killed run had committed to its LLM cache (seed 0 + sample_index)."""
    with contextlib.closing(sqlite3.connect(cache)) as db:
        rows = db.execute("SELECT messages, sample_index FROM log WHERE ok = 1").fetchall()
    return {_call_key(json.loads(m), k) for m, k in rows}


def test_killed_transform_resumes_without_repeating_calls(tmp_path: Path) -> None:
    task = nli()
    items = demo_items(DEMO, "snli_dev", 30)
    retrieved = tmp_path / "items.jsonl"
    retrieved.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / "run" / "samples.jsonl"
    env = {**os.environ, "TASKFORGE_QUIET": "1", "OPENAI_API_KEY": "fake"}
    inner = task_responder(task, bad_share=0.2)
    kill_at = 25
    answered: list[str] = []
    state: dict[str, Any] = {"proc": None, "killed": False}
    lock = threading.Lock()

    def responder(body: dict[str, Any]) -> str:
        with lock:
            if not state["killed"] and len(answered) + 1 == kill_at:
                state["killed"] = True
                os.kill(state["proc"].pid, signal.SIGKILL)  # dies before this answer reaches it
                return inner(body)
            if not state["killed"]:
                answered.append(_call_key(body["messages"], body.get("seed")))
        return inner(body)

    args = ("--max-in-flight", "1", "--samples-per-item", "2")
    with FakeLLMServer(responder=responder) as s:
        state["proc"] = subprocess.Popen(_cli(out, retrieved, s.openai_url, *args), env=env)
        rc = state["proc"].wait(timeout=120)
        assert rc == -signal.SIGKILL and state["killed"]
        assert len(answered) == kill_at - 1
        assert not out.exists() and out.with_name("samples.jsonl.partial").exists()

        committed = _committed_calls(out.parent / "llm_cache.sqlite")
        # answered but not yet committed when killed (the LLM layer commits in a writer thread): only
        # those may be asked again; everything the first run got must not be
        assert committed <= set(answered) and committed

        s.reset()
        done = subprocess.run(
            _cli(out, retrieved, s.openai_url, *args), env=env, timeout=120, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        second = [_call_key(b["messages"], b.get("seed")) for b in s.requests]
    assert not set(second) & committed  # zero repeated calls: nothing the first run got is asked again
    assert len(second) == len(set(second))
    assert not out.with_name("samples.jsonl.partial").exists()

    # the result equals an uninterrupted run's
    ref_out = tmp_path / "ref" / "samples.jsonl"
    with FakeLLMServer(responder=inner) as s, client(s, tmp_path / "ref.sqlite", structured="auto") as llm:
        transform(task, items, ref_out, llm=llm, settings=TransformSettings(samples_per_item=2))
        assert set(second) | set(answered) == {_call_key(b["messages"], b.get("seed")) for b in s.requests}
    samples, ref = read(out), read(ref_out)
    assert len(samples) + len(read(out.parent / "rejects.jsonl")) == 60
    assert len({x["id"] for x in samples}) == len(samples)
    assert samples == ref
    assert read(out.parent / "rejects.jsonl") == read(ref_out.parent / "rejects.jsonl")


@pytest.mark.parametrize("flag", [[], ["--mapper"]])
def test_cli_mapper_path(tmp_path: Path, flag: list[str]) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    items = demo_items(DEMO, "scitail_test", 20)
    retrieved = tmp_path / "items.jsonl"
    retrieved.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / "o" / "samples.jsonl"
    args = ["transform", str(EXAMPLES / "nli.yaml"), str(retrieved), "--out", str(out), *flag]
    result = CliRunner().invoke(app, [*args, "--rejects", str(tmp_path / "rej.jsonl")])
    assert result.exit_code == 0, result.output
    assert len(read(out)) == 20 and (tmp_path / "rej.jsonl").exists()
    assert read(out)[0]["provenance"]["method"] == "mapper"


def test_llm_errors_are_rejected_then_retried_by_the_next_run(tmp_path: Path) -> None:
    task, items = nli(), demo_items(DEMO, "scitail_test", 12)
    out = tmp_path / "samples.jsonl"
    failing = FakeLLMServer(responder=task_responder(task), fault_rate=1.0, faults=("500",))
    with failing as s, client(s, tmp_path / "cache.sqlite", max_retries=1) as llm:
        res = transform(task, items, out, llm=llm)
    assert res.samples == 0 and set(res.rejects_by_reason) == {"LLM error"}
    assert "HTTP 500" in read(tmp_path / "rejects.jsonl")[0]["reason"]
    with FakeLLMServer(responder=task_responder(task)) as s:
        with client(s, tmp_path / "cache.sqlite") as llm:
            res = transform(task, items, out, llm=llm)
        assert s.request_count == 12
    assert res.samples == 12 and res.rejects == 0


def test_resume_uses_the_partial_file_of_the_same_settings_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    task, items = nli(), demo_items(DEMO, "scitail_test", 10)
    out = tmp_path / "samples.jsonl"
    partial = out.with_name("samples.jsonl.partial")
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # keep the partial file
    with FakeLLMServer(responder=task_responder(task)) as s, client(s, tmp_path / "c.sqlite") as llm:
        transform(task, items, out, llm=llm)
    monkeypatch.undo()
    lines = partial.read_text().splitlines()
    rec = json.loads(lines[3])
    rec["sample"]["input"]["premise"] = "FROM THE PARTIAL FILE"
    partial.write_text("\n".join([*lines[:3], json.dumps(rec), *lines[4:]]) + "\n")
    with FakeLLMServer(responder=task_responder(task)) as s, client(s, tmp_path / "c2.sqlite") as llm:
        res = transform(task, items, out, llm=llm)
        assert s.request_count == 0 and res.resumed == 10  # every unit came from the partial file
    assert "FROM THE PARTIAL FILE" in out.read_text() and not partial.exists()

    partial.write_text("\n".join([*lines[:3], json.dumps(rec), *lines[4:]]) + "\n")
    with FakeLLMServer(responder=task_responder(task)) as s, client(s, tmp_path / "c3.sqlite") as llm:
        res = transform(task, items, out, llm=llm, settings=TransformSettings(temperature=0.1))
        assert s.request_count == 10 and res.resumed == 0  # other settings: the partial file is ignored
    assert "FROM THE PARTIAL FILE" not in out.read_text()
    assert sample_id(items[0], 0, "llm") == read(out)[0]["id"]


def test_documents_use_the_craft_prompt(tmp_path: Path) -> None:
    task = Task.load(EXAMPLES / "yesno_qa.yaml")
    docs = [
        {
            "rank": i + 1,
            "source": "notes",
            "row_id": f"notes.txt:{i + 1}",
            "text": text,
            "scores": {"final": 0.5},
        }
        for i, text in enumerate(["Bats are mammals that can fly.", "Penguins cannot fly but swim well."])
    ]
    with FakeLLMServer(responder=task_responder(task)) as s, client(s, tmp_path / "c.sqlite") as llm:
        res = transform(task, docs, tmp_path / "samples.jsonl", llm=llm)
        roles = [m["role"] for m in s.requests[0]["messages"]]
    assert roles[0] == "system" and roles[-1] == "user" and "assistant" in roles
    assert res.samples == 2
    assert read(tmp_path / "samples.jsonl")[0]["output"]["answer"] in ("yes", "no")
