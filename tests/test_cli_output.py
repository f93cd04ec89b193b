"""The CLI as a newcomer meets it (issue 19, point 3): results on stdout and progress/logs on stderr,
plain help placeholders, one line when a stage makes nothing, one line on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from taskforge import Task, write_items
from taskforge._cli import app
from taskforge._errors import Interrupted, on_interrupt
from taskforge._records import nothing_made_message
from taskforge.testing import FakeLLMServer, demo_items, task_responder

if TYPE_CHECKING:
    from conftest import FakeLLMRuns

REPO = Path(__file__).resolve().parents[1]
NLI = REPO / "examples" / "nli.yaml"
COMMANDS = [
    [],
    ["datastore"],
    ["datastore", "build"],
    ["datastore", "info"],
    ["datastore", "search"],
    ["retrieve"],
    ["transform"],
    ["filter"],
    ["stats"],
    ["export"],
    ["run"],
    ["train"],
    ["eval"],
    ["report"],
]


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_results_go_to_stdout_and_logs_to_stderr(demo_datastore: Path, tmp_path: Path) -> None:
    info = _invoke("datastore", "info", demo_datastore)
    assert info.exit_code == 0
    assert "snli_dev" in info.stdout and "vectors" in info.stdout and info.stderr == ""

    out = tmp_path / "run"
    res = _invoke("run", NLI, "--datastore", demo_datastore, "--out", out, "-n", "20", "--no-report")
    assert res.exit_code == 0, res.output
    # `> summary.txt` keeps the summary: the tables and where the dataset is
    for what in ("Run summary", "Funnel", f"dataset: {out / 'export'}"):
        assert what in res.stdout, what
        assert what not in res.stderr, what
    # the log says how the samples were made when no --llm or --mapper was given
    assert "no --llm given, so the no-LLM mapper" in res.stderr
    assert "no --llm given" not in res.stdout

    items = _invoke("retrieve", NLI, "-d", demo_datastore, "-n", "5", "--out", tmp_path / "items.jsonl")
    assert items.exit_code == 0
    assert "wrote 5 items" in items.stdout and "Retrieved 5 items" in items.stdout
    assert "wrote" not in items.stderr


def test_mapper_named_explicitly_is_not_announced(demo_datastore: Path, tmp_path: Path) -> None:
    res = _invoke(
        "run",
        NLI,
        "--datastore",
        demo_datastore,
        "--out",
        tmp_path / "r",
        "-n",
        "10",
        "--mapper",
        "--no-report",
    )
    assert res.exit_code == 0, res.output
    assert "no --llm given" not in res.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "taskforge")
def test_help_shows_plain_placeholders(command: list[str]) -> None:
    res = _invoke(*command, "--help")
    assert res.exit_code == 0
    text = res.stdout
    for typer_style in (
        "<bool>",
        "<int",
        "<float",
        "<str>",
        "<path>",
        "<file>",
        "<dir>",
        "list[",
        "[x>=",
        "x<=",
    ):
        assert typer_style not in text, f"{typer_style!r} in `taskforge {' '.join(command)} --help`"


def test_help_placeholders_say_what_goes_there() -> None:
    run = " ".join(_invoke("run", "--help").stdout.split())
    assert "--llm PROVIDER:MODEL" in run and "--datastore -d DIR" in run and "--config FILE" in run
    assert "--n -n N" in run and "TASK_FILE" in run
    assert "--train Train" in run  # a flag: no placeholder at all
    search = " ".join(_invoke("datastore", "search", "--help").stdout.split())
    assert "--description-weight 0-1" in search


def _defaults_in_help(command: str) -> dict[str, str]:
    """``{section.key: default}`` from "(default: the task's `section.key`, else X)" in a help page."""
    text = " ".join(_invoke(command, "--help").stdout.replace("│", " ").split())
    return dict(re.findall(r"\(default: the task's `([\w.]+)`, else ([^)]+)\)", text))


@pytest.mark.parametrize("command", ["run", "retrieve", "transform", "filter"])
def test_task_defaults_shown_as_such_and_match_the_settings(command: str) -> None:
    from taskforge._settings import RunSettings

    shown = _defaults_in_help(command)
    assert shown, f"`{command} --help` names no task default"
    defaults = RunSettings()
    for key, text in shown.items():
        section, name = key.split(".")
        value = getattr(getattr(defaults, section), name)
        words = {True: "on", False: "off", None: "none"}
        expected = words.get(value, value) if isinstance(value, (bool, type(None))) else value
        assert text.strip() == f"{expected}", f"{command}: {key} says {text!r}, the setting is {value!r}"


def test_transform_that_makes_nothing_is_one_line_with_the_cause(tmp_path: Path, demo_sources: Path) -> None:
    items = tmp_path / "items.jsonl"
    write_items(items, demo_items(demo_sources, "snli_dev", 6))
    with FakeLLMServer(responder=lambda body: "Sorry, I cannot produce that.") as server:
        res = _invoke(
            "transform",
            NLI,
            items,
            "--llm",
            "openai:fake",
            "--base-url",
            server.openai_url,
            "--structured",
            "off",
            "--out",
            tmp_path / "samples.jsonl",
        )
    assert res.exit_code == 1, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output
    line = errors[0]
    assert "transform made no samples from 6 items" in line
    assert "6 of 6 rejected as 'JSON parse error'" in line
    assert "try a stronger model" in line and str(tmp_path / "rejects.jsonl") in line


def test_nothing_made_message_ranks_reasons_and_finds_advice_by_slug() -> None:
    line = nothing_made_message(
        "filter kept none of 10 samples",
        10,
        {"near_duplicate": 3, "no column": 7},
        {"no_column": "give --llm"},
        "r.jsonl",
    )
    assert line == (
        "filter kept none of 10 samples: 7 of 10 rejected as 'no column' (then near_duplicate 3); "
        "give --llm; every reject with its reason: r.jsonl"
    )


def test_on_interrupt_says_what_was_kept() -> None:
    @on_interrupt("the chunks are kept; run it again to resume")
    def command(x: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="interrupted; the chunks are kept") as e:
        command(1)
    assert e.value.exit_code == 130


def test_interrupted_training_names_the_checkpoint_it_resumes_from(tmp_path: Path) -> None:
    from taskforge._experts._commands import _kept_by_training

    assert "no checkpoint yet" in _kept_by_training("lora", tmp_path)
    (tmp_path / "checkpoints" / "checkpoint-12").mkdir(parents=True)
    line = _kept_by_training("lora", tmp_path)
    assert str(tmp_path / "checkpoints" / "checkpoint-12") in line and "resume" in line
    assert "retrain" in _kept_by_training("cpu", tmp_path)


def test_ctrl_c_in_a_run_is_one_line_and_the_rerun_resumes(
    fake_llm_runs: FakeLLMRuns, tmp_path: Path
) -> None:
    task = Task.load(NLI)
    n_items = 40
    out = tmp_path / "run"
    with FakeLLMServer(responder=task_responder(task), latency=0.05) as server:
        proc = fake_llm_runs.start(out, server.openai_url, n=n_items)
        fake_llm_runs.wait_for_answers(proc, server, n_items // 4)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr[-2000:]
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, stderr[-2000:]
        assert "interrupted during transform; kept: retrieve (40 items)" in errors[0]
        assert "transform results in" in errors[0] and "run the same command again to resume" in errors[0]

        done = fake_llm_runs.run(out, server.openai_url, n=n_items)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "retrieve: unchanged, reusing" in done.stderr
    samples = [json.loads(line) for line in (out / "transform" / "samples.jsonl").read_text().splitlines()]
    assert len({s["id"] for s in samples}) == len(samples)
