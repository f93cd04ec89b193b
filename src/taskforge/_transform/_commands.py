"""CLI commands of this stage: ``taskforge transform``."""

from __future__ import annotations

from pathlib import Path

import typer

from taskforge import _cli_options as options
from taskforge._errors import on_interrupt


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the ``taskforge`` app."""

    @app.command("transform")
    @on_interrupt(
        "every LLM answer received so far is kept (the LLM cache and OUT.partial); "
        "run the same command again to resume"
    )
    def transform_cmd(
        task: Path = typer.Argument(..., help="Task spec (YAML)."),
        retrieved: Path = typer.Argument(
            ..., help="Retrieved items (JSONL or Parquet, from `taskforge retrieve`)."
        ),
        out: Path = typer.Option(Path("samples.jsonl"), "--out", "-o", help="Samples file (JSONL)."),
        llm: options.LLM = None,
        mapper: options.Mapper = False,
        base_url: options.BaseURL = None,
        api_key_env: str | None = typer.Option(
            None, "--api-key-env", help="Environment variable with the API key."
        ),
        max_in_flight: options.MaxInFlight = None,
        rpm: float | None = typer.Option(None, "--rpm", help="Requests per minute limit."),
        timeout: float | None = typer.Option(
            None, "--timeout", help="Seconds per LLM request (default: the task's `llm.timeout`, else 60.0)"
        ),
        template: Path | None = typer.Option(
            None,
            "--template",
            help="Jinja2 prompt template (one user message); variables: task, examples, answers, item, row, document, fields, labels, label_field, chain_of_thought, sample_index.",
        ),
        style: str | None = typer.Option(
            None,
            "--style",
            help="Built-in prompt: rebase, craft or auto (default: the task's `transform.style`, else auto)",
        ),
        cot: options.CoT = None,
        samples_per_item: int | None = typer.Option(
            None,
            "--samples-per-item",
            "-k",
            min=1,
            help="Samples per item (default: the task's `transform.samples_per_item`, else 1)",
        ),
        repair: bool | None = typer.Option(
            None,
            "--repair/--no-repair",
            help="One repair request on invalid JSON (default: the task's `transform.repair`, else on)",
        ),
        temperature: float | None = typer.Option(
            None, "--temperature", help="(default: the task's `transform.temperature`, else 0.7)"
        ),
        max_tokens: int | None = typer.Option(
            None, "--max-tokens", help="(default: the task's `transform.max_tokens`, else 1024)"
        ),
        seed: int | None = typer.Option(
            None,
            "--seed",
            help="Seed of the examples shown in prompts and of the LLM (plus the sample index) "
            "(default: the task's `transform.seed`, else 0)",
        ),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Transform only the first N items."),
        label_map: options.LabelMap = None,
        sources_dir: Path | None = typer.Option(
            None, "--sources-dir", help="Mapper: folder of sources whose README.md names numeric labels."
        ),
        rejects: Path | None = typer.Option(None, "--rejects", help="Rejects file (default: beside --out)."),
        cache: Path | None = typer.Option(
            None, "--cache", help="LLM cache (default: <out dir>/llm_cache.sqlite)."
        ),
        max_error_rate: options.MaxErrorRate = None,
        structured: options.Structured = None,
        batch: options.Batch = False,
        max_cost: options.MaxCost = None,
        max_calls: options.MaxCalls = None,
        local_slots: options.LocalSlots = None,
    ) -> None:
        """Turn retrieved rows or documents into samples for a task (with an LLM, or the mapper)."""
        from taskforge._console import console, results
        from taskforge._llm import make_llm
        from taskforge._settings import LLMSettings, TransformSettings
        from taskforge._task import Task
        from taskforge._transform import transform

        spec = Task.load(task)
        settings = TransformSettings.for_task(
            spec,
            {
                "method": "mapper" if mapper or not llm else "llm",
                "template": template,
                "style": style,
                "chain_of_thought": cot,
                "samples_per_item": samples_per_item,
                "repair": repair,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "seed": seed,
                "limit": limit,
                "label_map": options.label_map_pairs(label_map),
                "sources_dir": sources_dir,
                "rejects": rejects,
                "max_error_rate": max_error_rate,
            },
        )
        if not llm and not mapper:
            console.print(
                "transform: no --llm given, so the no-LLM mapper maps rows onto the task's fields "
                "(--llm PROVIDER:MODEL for an LLM; --mapper says it and silences this line)"
            )
        client = None
        if settings.method == "llm":
            llm_settings = LLMSettings.for_task(
                spec,
                options.llm_flags(
                    llm=llm,
                    base_url=base_url,
                    batch=batch,
                    api_key_env=api_key_env,
                    max_in_flight=max_in_flight,
                    rpm=rpm,
                    timeout=timeout,
                    cache=cache,
                    structured=structured,
                    max_cost=max_cost,
                    max_calls=max_calls,
                    local_slots=local_slots,
                ),
            )
            client = make_llm(llm_settings, cache_dir=out.parent)
        try:
            res = transform(spec, retrieved, out, llm=client, settings=settings)
        finally:
            if client is not None:
                client.close()
        results.print(res.table())
        results.print(
            f"wrote {res.samples:,} samples to {res.samples_path}, {res.rejects:,} rejects to {res.rejects_path}"
        )
        res.check(settings.max_error_rate)  # nothing made, or too many failed requests: exit 1
