"""``taskforge run``: the whole pipeline in one command (a thin layer over :func:`taskforge.run`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    task_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Task spec (YAML)."),
    datastore: Path = typer.Option(
        ..., "--datastore", "-d", exists=True, file_okay=False, help="Datastore folder."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run directory (created; re-running resumes/reuses it)."
    ),
    n: int | None = typer.Option(
        None, "-n", "--n", min=1, help="Items to retrieve (default: the task's `retrieve.n`, else 1000)"
    ),
    method: str | None = typer.Option(
        None,
        "--method",
        help="Retrieval method (see `taskforge retrieve --help`) "
        "(default: the task's `retrieve.method`, else rebase_parts)",
    ),
    per_source_cap: int | None = typer.Option(None, "--per-source-cap", min=1, help="Max items per source."),
    llm: str | None = typer.Option(
        None, "--llm", help="LLM for transformation: openai:MODEL, anthropic:MODEL or local:PATH.gguf."
    ),
    base_url: list[str] | None = typer.Option(
        None,
        "--base-url",
        help="OpenAI-compatible server, e.g. http://localhost:8000/v1; repeat for replicas of one model.",
    ),
    structured: str | None = typer.Option(
        None,
        "--structured",
        help="Send the answer's JSON schema: auto (fall back if refused), on, off "
        "(default: the task's `llm.structured`, else auto)",
    ),
    batch: bool = typer.Option(False, "--batch", help="OpenAI / Anthropic batch API at the batch price."),
    target_samples: int | None = typer.Option(
        None,
        "--target-samples",
        min=1,
        help="Retrieve more rows in rounds until N samples pass every filter.",
    ),
    max_cost: float | None = typer.Option(None, "--max-cost", help="LLM budget in USD for this run."),
    max_calls: int | None = typer.Option(None, "--max-calls", help="LLM budget in calls for this run."),
    local_slots: int | None = typer.Option(
        None, "--local-slots", min=1, help="--llm local:MODEL: parallel slots of the llama.cpp server."
    ),
    max_in_flight: int | None = typer.Option(
        None,
        "--max-in-flight",
        min=1,
        help="Concurrent LLM requests (default: the task's `llm.max_in_flight`, else 32)",
    ),
    mapper: bool = typer.Option(
        False, "--mapper", help="Map rows onto the task's fields without an LLM (default without --llm)."
    ),
    cot: bool | None = typer.Option(
        None,
        "--cot/--no-cot",
        help="Chain-of-thought samples (reasoning kept in its own field) "
        "(default: the task's `transform.chain_of_thought`, else off)",
    ),
    eval_files: list[Path] | None = typer.Option(
        None,
        "--eval",
        exists=True,
        dir_okay=False,
        help="Evaluation set(s): decontaminated against; evaluated on with --train.",
    ),
    judge: str | None = typer.Option(
        None, "--judge", help="LLM judge for the quality filter, e.g. openai:MODEL."
    ),
    train: bool = typer.Option(
        False, "--train", help="Train a task expert on the kept samples (and evaluate with --eval)."
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="LoRA base model (GPU); default: the CPU MiniLM expert."
    ),
    config: Path | None = typer.Option(
        None, "--config", exists=True, dir_okay=False, help="YAML with per-stage settings."
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report."),
    max_error_rate: float | None = typer.Option(
        None,
        "--max-error-rate",
        min=0.0,
        max=1.0,
        help="Stop (exit 1) when more than this share of LLM requests still fail after retries (default 0.1).",
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Stop at once if another run is writing to --out (default: wait for it)."
    ),
) -> None:
    """Retrieve -> transform -> filter -> export (-> train -> eval) for TASK_FILE, into a run directory."""
    from taskforge._pipeline import print_summary, run
    from taskforge._settings import RunSettings
    from taskforge._task import Task

    if llm and mapper:
        raise typer.BadParameter("give either --llm or --mapper, not both")
    task = Task.load(task_file)
    urls = base_url[0] if base_url and len(base_url) == 1 else base_url
    flags = {
        "retrieve": {
            "n": n,
            "method": method,
            "per_source_cap": per_source_cap,
            "target_samples": target_samples,
        },
        "llm": {
            "spec": llm,
            "base_url": urls,
            "max_in_flight": max_in_flight,
            "structured": structured,
            "batch": batch or None,
            "max_cost": max_cost,
            "max_calls": max_calls,
            "local_slots": local_slots,
        },
        "transform": {
            "chain_of_thought": cot,
            "method": "mapper" if mapper else None,
            "max_error_rate": max_error_rate,
        },
        "filter": {
            "eval_files": [str(p) for p in eval_files] if eval_files else None,
            "judge": judge,
            "judge_base_url": base_url[0] if (judge and base_url) else None,
        },
        "train": {"enabled": True if train else None, "base_model": base_model},
        "eval": {"data": eval_files[0] if (train and eval_files) else None},
    }
    # every setting is validated here, before any stage runs (a typo in --config stops the run now)
    settings = RunSettings.resolve(task, config_file=config, flags=flags)
    result = run(
        task, datastore=datastore, out=out, settings=settings, report=not no_report, wait=not no_wait
    )
    print_summary(result)
