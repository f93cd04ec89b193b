"""CLI commands of this stage: ``taskforge train`` and ``taskforge eval``.

User-fixable problems (no GPU, no weights, bad data) are :class:`ExpertError`s: the CLI's one
error handler prints them on one line and exits with code 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from taskforge._errors import Interrupted


def train_cmd(
    dataset: Path = typer.Argument(..., help="Samples JSONL (export/data.jsonl or filter/kept.jsonl)."),
    task_path: Path = typer.Option(..., "--task", help="Task spec YAML."),
    out: Path = typer.Option(..., "--out", help="Output folder for the expert."),
    expert: str = typer.Option(
        None, "--expert", help="cpu (MiniLM classifier) or lora. Default: lora with --base-model, else cpu."
    ),
    base_model: str = typer.Option(None, "--base-model", help="Causal LM for LoRA: local folder or hub id."),
    method: str = typer.Option(None, "--method", help="lora or qlora (default: the preset's)."),
    preset: str = typer.Option(
        "craft", "--preset", help="craft (LoRA r64, 3 ep) or rebase (QLoRA r8, 1 ep)."
    ),
    device: str = typer.Option(None, "--device", help="cuda (default for LoRA) or cpu (tiny models only)."),
    epochs: float = typer.Option(None, "--epochs", help="Override the epochs."),
    lr: float = typer.Option(None, "--lr", help="Override the learning rate."),
    batch_size: int = typer.Option(None, "--batch-size"),
    max_steps: int = typer.Option(-1, "--max-steps", help="LoRA: stop after this many steps."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a task expert on generated samples (CPU classifier or LoRA adapter)."""
    from taskforge._console import console, kv_table, results
    from taskforge._experts._train import default_expert, train_expert
    from taskforge._task import Task

    task = Task.load(task_path)
    kind = expert or default_expert(task, base_model)
    if kind == "cpu":
        if not task.labels():
            console.print("[yellow]the task has no output_schema labels: inferring them from the data[/]")
        kw: dict[str, object] = {
            "epochs": int(epochs) if epochs else None,
            "lr": lr,
            "batch_size": batch_size,
        }
    else:
        kw = {
            "method": method,
            "preset": preset,
            "device": device,
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "max_steps": max_steps,
        }
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        res = train_expert(task, dataset, out, expert=kind, base_model=base_model, seed=seed, **kw)
    except KeyboardInterrupt:
        raise Interrupted(_kept_by_training(kind, out)) from None
    results.print(
        kv_table(
            f"trained {res.kind} expert",
            {
                "samples": res.n_samples,
                "seconds": round(res.seconds, 1),
                "final loss": res.final_loss if res.final_loss is not None else "-",
                "saved to": str(res.out_dir),
            },
        )
    )


def _kept_by_training(kind: str, out: Path) -> str:
    if kind == "cpu":  # minutes of training: it keeps no checkpoint
        return (
            "interrupted; the CPU expert is written only when training ends: run the same command to retrain"
        )
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"))
    if not checkpoints:
        return "interrupted in the first epoch (no checkpoint yet): run the same command to start again"
    return (
        f"interrupted; kept the checkpoint of the last finished epoch ({checkpoints[-1]}): "
        "run the same command again to resume from it"
    )


def eval_cmd(
    model: str = typer.Argument(None, help="Trained expert folder (omit with --llm)."),
    task_path: Path = typer.Option(..., "--task", help="Task spec YAML."),
    data: Path = typer.Option(..., "--data", help="Eval file: JSONL of {input, output}, or raw rows."),
    input_fields: str = typer.Option(
        None, "--input-fields", help="Raw rows: columns of the input, 'a,b' or 'field=column,...'."
    ),
    output_field: str = typer.Option(None, "--output-field", help="Raw rows: the answer column."),
    run_dir: Path = typer.Option(None, "--run", help="Also write RUN/eval/results.json."),
    out: Path = typer.Option(None, "--out", help="Write results JSON here (predictions.jsonl beside it)."),
    llm: str = typer.Option(
        None, "--llm", help="Evaluate this LLM few-shot (openai:MODEL / anthropic:MODEL)."
    ),
    shots: int = typer.Option(None, "--shots", help="Few-shot: number of task examples (default all)."),
    judge: str = typer.Option(None, "--judge", help="LLM judge for a win rate against the reference."),
    base_url: str = typer.Option(None, "--base-url", help="Endpoint of --llm / --judge."),
    api_key_env: str = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
    limit: int = typer.Option(None, "--limit", help="Evaluate the first N items only."),
    keep_examples: bool = typer.Option(False, "--keep-examples", help="Do not drop items equal to examples."),
    no_baselines: bool = typer.Option(
        False, "--no-baselines", help="Skip the examples-only baseline (it trains a second expert)."
    ),
    device: str = typer.Option(
        None, "--device", help="LoRA expert: cuda or cpu (default: where it trained)."
    ),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="LoRA expert: generation length."),
) -> None:
    """Evaluate a trained expert (or an LLM few-shot) on an eval file."""
    from taskforge._console import results, summary_table
    from taskforge._errors import UsageError
    from taskforge._experts._evaluate import evaluate
    from taskforge._llm import make_llm
    from taskforge._settings import LLMSettings
    from taskforge._task import Task

    task = Task.load(task_path)
    if (model is None) == (llm is None):
        raise UsageError("give either MODEL (a trained expert folder) or --llm PROVIDER:MODEL")
    client = LLMSettings(
        base_url=base_url, api_key_env=api_key_env
    )  # one client setting for --llm and --judge
    predictor: object = model
    if llm:
        from taskforge._experts._judge import FewShotLLM

        predictor = FewShotLLM(
            make_llm(client.model_copy(update={"spec": llm}), cache_dir=run_dir), task, shots=shots
        )
    judge_llm = make_llm(client.model_copy(update={"spec": judge}), cache_dir=run_dir) if judge else None
    result = evaluate(
        predictor,
        task,
        data,
        input_fields=input_fields,
        output_field=output_field,
        exclude_examples=not keep_examples,
        limit=limit,
        judge=judge_llm,
        out=out,
        run_dir=run_dir,
        model_kwargs={"device": device, "max_new_tokens": max_new_tokens} if model and not llm else None,
        baselines=not no_baselines,
    )
    dropped = f", {result.n_excluded} dropped as examples" if result.n_excluded else ""
    results.print(
        f"[bold]{task.name}[/]: {result.model} ({result.kind}) on {result.data}: {result.n:,} items{dropped}"
    )
    results.print(
        summary_table("eval", ["metric", "value"], [(k, round(v, 4)) for k, v in result.metrics.items()])
    )
    from taskforge._experts._honest import print_honest_eval

    print_honest_eval(result.to_dict())
    for path in (out, run_dir and run_dir / "eval" / "results.json"):
        if path:
            results.print(f"results -> {path}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the ``taskforge`` app."""
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)
