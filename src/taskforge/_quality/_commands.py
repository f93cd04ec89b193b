"""CLI commands of this stage: ``filter``, ``stats``, ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from taskforge._console import console, summary_table


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


def _load_task(path: Path) -> Any:
    from taskforge._task import Task, TaskSpecError

    try:
        return Task.load(path)
    except TaskSpecError as e:
        raise _fail(str(e)) from None


def _load(path: Path) -> list[dict[str, Any]]:
    from taskforge._quality._samples import load_samples

    try:
        return load_samples(path)
    except (OSError, ValueError) as e:
        raise _fail(str(e)) from None


def _print_funnel(funnel: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [("in", funnel["in"])]
    rows += [(f"  - {name}", -n) for name, n in funnel["dropped"].items()]
    rows.append(("out", funnel["out"]))
    console.print(summary_table("Filter funnel", ["step", "samples"], rows))
    if funnel.get("contamination"):
        console.print(
            summary_table(
                "Eval-set overlap (before decontamination)",
                ["eval set", "samples", "rate", "n-gram rate"],
                [
                    (k, v["n"], f"{v['rate']:.2%}", f"{v['ngram_rate']:.3%}")
                    for k, v in funnel["contamination"].items()
                ],
            )
        )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the ``taskforge`` app."""

    @app.command("filter")
    def filter_cmd(
        task_path: Path = typer.Argument(..., metavar="TASK.yaml", help="The task spec."),
        samples: Path = typer.Argument(..., metavar="SAMPLES", help="samples.jsonl (or a folder with one)."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output folder: kept.jsonl, rejects.jsonl, funnel.json."
        ),
        eval_files: list[Path] = typer.Option(
            [], "--eval", help="Evaluation set (JSONL/CSV/JSON) to check overlap with; repeat for several."
        ),
        judge: str | None = typer.Option(
            None, "--judge", help="LLM judge, e.g. openai:MODEL (ReBase B.2 prompt)."
        ),
        judge_base_url: str | None = typer.Option(
            None,
            "--judge-base-url",
            help="Base URL of an OpenAI-compatible server for the judge (vLLM, Ollama).",
        ),
        judge_on_error: str | None = typer.Option(
            None,
            "--judge-on-error",
            help="drop (default: rejected as judge_error) or keep samples the judge failed on.",
        ),
        near_dup_threshold: float | None = typer.Option(
            None, "--near-dup-threshold", help="MinHash Jaccard threshold for near duplicates [0.8]."
        ),
        ngram: int | None = typer.Option(None, "--ngram", help="n of the n-gram decontamination check [13]."),
        max_per_label: int | None = typer.Option(None, "--max-per-label", help="Cap on samples per label."),
        report_only: bool = typer.Option(
            False, "--report-only", help="Report eval-set overlap without removing the overlapping samples."
        ),
    ) -> None:
        """Quality control: format, duplicates, few-shot similarity, decontamination, judge, label cap."""
        from pydantic import ValidationError

        from taskforge._quality._filter import FilterSettings, filter_samples

        task = _load_task(task_path)
        try:
            settings = FilterSettings.from_task(
                task,
                near_dup_threshold=near_dup_threshold,
                ngram=ngram,
                max_per_label=max_per_label,
                judge=judge,
                judge_base_url=judge_base_url,
                judge_on_error=judge_on_error,
                decontaminate=False if report_only else None,
            )
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            raise _fail(f"filter settings: {problems}") from None
        from taskforge._llm import LLMError

        items = _load(samples)
        try:
            result = filter_samples(task, items, out, settings=settings, eval_files=eval_files)
        except (OSError, ValueError, LLMError) as e:
            raise _fail(str(e)) from None
        _print_funnel(result.funnel)
        console.print(f"wrote {result.paths['kept']} ({len(result.kept):,}) and {result.paths['rejects']}")

    @app.command("stats")
    def stats_cmd(
        dataset: Path = typer.Argument(
            ..., metavar="DATASET", help="Samples JSONL (kept.jsonl) or its folder."
        ),
        task_path: Path | None = typer.Option(None, "--task", help="Task spec (labels, field names)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write stats.json here."),
        diversity: bool = typer.Option(
            True, "--diversity/--no-diversity", help="ROUGE-L uniqueness and n-grams."
        ),
        workers: int = typer.Option(2, "--workers", help="Threads for the ROUGE-L pairs."),
    ) -> None:
        """Dataset statistics: size, sources, labels, field lengths, ReBase diversity metrics."""
        from taskforge._io import atomic_write_json
        from taskforge._quality._stats import dataset_stats, stats_rows

        task = _load_task(task_path) if task_path else None
        stats = dataset_stats(task, _load(dataset), diversity=diversity, workers=workers)
        console.print(summary_table(f"Statistics of {dataset}", ["", ""], stats_rows(stats)))
        if stats["sources"]:
            console.print(summary_table("Sources", ["source", "samples"], stats["sources"].items()))
        if out:
            atomic_write_json(out, stats)
            console.print(f"wrote {out}")
        else:
            typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))

    @app.command("export")
    def export_cmd(
        task_path: Path = typer.Argument(..., metavar="TASK.yaml", help="The task spec."),
        kept: Path = typer.Argument(
            ..., metavar="KEPT", help="kept.jsonl from `taskforge filter` (or its folder)."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        fmt: str = typer.Option(
            "jsonl,parquet,hf,chat", "--format", help="Comma-separated: jsonl,parquet,hf,chat."
        ),
        funnel_path: Path | None = typer.Option(
            None, "--funnel", help="funnel.json [beside KEPT when present]."
        ),
        stats_path: Path | None = typer.Option(
            None, "--stats", help="stats.json [beside KEPT, else computed]."
        ),
        sources_dir: Path | None = typer.Option(
            None,
            "--sources-dir",
            help="Folder of sources (NAME/SOURCE.txt, NAME/README.md) for citations in the card.",
        ),
    ) -> None:
        """Export for training: JSONL, Parquet, HF save_to_disk, chat SFT records, and a dataset card."""
        from taskforge._quality._export import FORMATS, export_dataset, source_notes_from_dir
        from taskforge._quality._stats import dataset_stats

        task = _load_task(task_path)
        formats = [f.strip() for f in fmt.split(",") if f.strip()]
        bad = sorted(set(formats) - set(FORMATS))
        if bad:
            raise _fail(f"unknown format(s) {bad}; choose from {', '.join(FORMATS)}")
        items = _load(kept)
        folder = kept if kept.is_dir() else kept.parent
        funnel_path = funnel_path or (folder / "funnel.json" if (folder / "funnel.json").exists() else None)
        stats_path = stats_path or (folder / "stats.json" if (folder / "stats.json").exists() else None)
        funnel = json.loads(funnel_path.read_text(encoding="utf-8")) if funnel_path else None
        stats = (
            json.loads(stats_path.read_text(encoding="utf-8")) if stats_path else dataset_stats(task, items)
        )
        notes = None
        if sources_dir:
            names = {str((s.get("provenance") or {}).get("source")) for s in items}
            notes = source_notes_from_dir(sources_dir, sorted(names))
        paths = export_dataset(
            task, items, out, formats=formats, funnel=funnel, stats=stats, source_notes=notes
        )
        console.print(summary_table("Exported", ["format", "path"], [(k, str(v)) for k, v in paths.items()]))
