"""CLI commands of this stage: ``filter``, ``stats``, ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def _print_funnel(funnel: dict[str, Any]) -> None:
    from taskforge._console import results, summary_table

    rows: list[tuple[str, Any]] = [("in", funnel["in"])]
    rows += [(f"  - {name}", -n) for name, n in funnel["dropped"].items()]
    rows.append(("out", funnel["out"]))
    results.print(summary_table("Filter funnel", ["step", "samples"], rows))
    if funnel.get("contamination"):
        results.print(
            summary_table(
                "Eval-set overlap (before decontamination)",
                ["eval set", "samples", "rate", "n-gram rate"],
                [
                    (k, v["n"], f"{v['rate']:.2%}", f"{v['ngram_rate']:.3%}")
                    for k, v in funnel["contamination"].items()
                ],
            )
        )


def _run_of(folder: Path) -> tuple[dict[str, Any] | None, dict[str, Path]]:
    """The run's settings and its sources' folders, when ``folder`` is a stage folder of a run."""
    settings_path = folder.parent / "settings.json"
    if not settings_path.is_file():
        return None, {}
    run_settings = json.loads(settings_path.read_text(encoding="utf-8"))
    store = Path(str(run_settings.get("datastore") or ""))
    if not (store / "manifest.json").is_file():
        return run_settings, {}
    from taskforge._quality._card import source_folders

    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    return run_settings, source_folders(manifest.get("sources") or [], store)


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
            help="drop (rejected as judge_error) or keep samples the judge failed on "
            "(default: the task's `filter.judge_on_error`, else drop)",
        ),
        near_dup_threshold: float | None = typer.Option(
            None,
            "--near-dup-threshold",
            help="MinHash Jaccard threshold for near duplicates (default: the task's `filter.near_dup_threshold`, else 0.8)",
        ),
        ngram: int | None = typer.Option(
            None,
            "--ngram",
            help="n of the n-gram decontamination check (default: the task's `filter.ngram`, else 13)",
        ),
        max_per_label: int | None = typer.Option(
            None,
            "--max-per-label",
            help="Cap on samples per label (default: the task's `filter.max_per_label`, else none)",
        ),
        report_only: bool = typer.Option(
            False, "--report-only", help="Report eval-set overlap without removing the overlapping samples."
        ),
    ) -> None:
        """Quality control: format, duplicates, few-shot similarity, decontamination, judge, label cap."""
        from taskforge._console import results
        from taskforge._quality import filter_samples
        from taskforge._records import read_samples
        from taskforge._settings import FilterSettings
        from taskforge._task import Task

        task = Task.load(task_path)
        settings = FilterSettings.for_task(
            task,
            {
                "near_dup_threshold": near_dup_threshold,
                "ngram": ngram,
                "max_per_label": max_per_label,
                "judge": judge,
                "judge_base_url": judge_base_url,
                "judge_on_error": judge_on_error,
                "decontaminate": False if report_only else None,
            },
        )
        result = filter_samples(task, read_samples(samples), out, settings=settings, eval_files=eval_files)
        _print_funnel(result.funnel)
        results.print(f"wrote {result.paths['kept']} ({len(result.kept):,}) and {result.paths['rejects']}")

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
        from taskforge._console import results, summary_table
        from taskforge._io import atomic_write_json
        from taskforge._quality._stats import dataset_stats, stats_rows
        from taskforge._records import read_samples
        from taskforge._task import Task

        task = Task.load(task_path) if task_path else None
        stats = dataset_stats(task, read_samples(dataset), diversity=diversity, workers=workers)
        results.print(summary_table(f"Statistics of {dataset}", ["", ""], stats_rows(stats)))
        if stats["sources"]:
            results.print(summary_table("Sources", ["source", "samples"], stats["sources"].items()))
        if out:
            atomic_write_json(out, stats)
            results.print(f"wrote {out}")
        else:
            typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))

    @app.command("export")
    def export_cmd(
        task_path: Path = typer.Argument(..., metavar="TASK.yaml", help="The task spec."),
        kept: Path = typer.Argument(
            ..., metavar="KEPT", help="kept.jsonl from `taskforge filter` (or its folder)."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        fmt: str | None = typer.Option(
            None, "--format", help="Comma-separated: jsonl,parquet,hf,chat [all of them]."
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
            help="Folder of sources (NAME/SOURCE.txt, NAME/README.md) for licences and citations in the card "
            "(default: the sources' folders named by the run's datastore, when KEPT is in a run).",
        ),
        push_to_hub: str | None = typer.Option(
            None,
            "--push-to-hub",
            metavar="NAMESPACE/NAME",
            help="Also publish the export as a Hugging Face dataset repo (token: HF_TOKEN or `hf auth login`).",
        ),
        private: bool = typer.Option(False, "--private", help="With --push-to-hub: a private repo."),
    ) -> None:
        """Export for training as a Hugging Face dataset folder (Parquet, chat SFT, JSONL, card); optionally push it."""
        from taskforge._console import results, summary_table
        from taskforge._quality import dataset_stats, export_dataset
        from taskforge._records import read_samples
        from taskforge._settings import ExportSettings
        from taskforge._task import Task

        task = Task.load(task_path)
        settings = ExportSettings.for_task(task, {"formats": fmt, "sources_dir": sources_dir})
        items = read_samples(kept)
        folder = kept if kept.is_dir() else kept.parent
        funnel_path = funnel_path or (folder / "funnel.json" if (folder / "funnel.json").exists() else None)
        stats_path = stats_path or (folder / "stats.json" if (folder / "stats.json").exists() else None)
        funnel = json.loads(funnel_path.read_text(encoding="utf-8")) if funnel_path else None
        stats = (
            json.loads(stats_path.read_text(encoding="utf-8")) if stats_path else dataset_stats(task, items)
        )
        run_settings, source_dirs = _run_of(folder)
        paths = export_dataset(
            task,
            items,
            out,
            funnel=funnel,
            stats=stats,
            settings=settings,
            run_settings=run_settings,
            source_dirs=source_dirs,
        )
        results.print(summary_table("Exported", ["format", "path"], [(k, str(v)) for k, v in paths.items()]))
        if push_to_hub:
            from taskforge._quality import push_to_hub as push

            url = push(out, push_to_hub, private=private)
            results.print(f"pushed to {url}")
