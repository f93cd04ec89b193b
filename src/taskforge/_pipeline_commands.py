"""``taskforge run``: the whole pipeline in one command (a thin layer over :func:`taskforge.run`)."""

from __future__ import annotations

from pathlib import Path

import typer

from taskforge import _cli_options as options


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
    llm: options.LLM = None,
    base_url: options.BaseURL = None,
    structured: options.Structured = None,
    batch: options.Batch = False,
    target_samples: int | None = typer.Option(
        None,
        "--target-samples",
        min=1,
        help="Retrieve more rows in rounds until N samples pass every filter.",
    ),
    max_cost: options.MaxCost = None,
    max_calls: options.MaxCalls = None,
    local_slots: options.LocalSlots = None,
    max_in_flight: options.MaxInFlight = None,
    mapper: options.Mapper = False,
    cot: options.CoT = None,
    label_map: options.LabelMap = None,
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
    max_error_rate: options.MaxErrorRate = None,
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
    flags = {
        "retrieve": {
            "n": n,
            "method": method,
            "per_source_cap": per_source_cap,
            "target_samples": target_samples,
        },
        "llm": options.llm_flags(
            llm=llm,
            base_url=base_url,
            batch=batch,
            max_in_flight=max_in_flight,
            structured=structured,
            max_cost=max_cost,
            max_calls=max_calls,
            local_slots=local_slots,
        ),
        "transform": {
            "chain_of_thought": cot,
            "method": "mapper" if mapper else None,
            "max_error_rate": max_error_rate,
            "label_map": options.label_map_pairs(label_map),
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
