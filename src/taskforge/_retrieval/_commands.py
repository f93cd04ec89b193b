"""CLI commands of this stage: ``taskforge retrieve``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the ``taskforge`` app."""

    @app.command("retrieve")
    def retrieve_cmd(
        task: Path = typer.Argument(..., help="Task spec (YAML)."),
        datastore: Path = typer.Option(..., "--datastore", "-d", help="Datastore directory."),
        n: int | None = typer.Option(
            None, "-n", "--n", help="Items to retrieve (default: the task's `retrieve.n`, else 1000)"
        ),
        method: str | None = typer.Option(
            None,
            "--method",
            "-m",
            help="Scoring method: rebase_tuned, rebase (the paper's exact formula), craft, mean "
            "(default: the task's `retrieve.method`, else rebase_tuned)",
        ),
        out: Path = typer.Option(
            Path("items.jsonl"), "--out", "-o", help="Output file (.jsonl or .parquet)."
        ),
        per_source_cap: int | None = typer.Option(
            None, "--per-source-cap", help="At most this many items from one source."
        ),
        index: str | None = typer.Option(
            None,
            "--index",
            help="exact (score every vector) or ann (store's ANN index, re-scored exactly) "
            "(default: the task's `retrieve.index`, else exact)",
        ),
        check_exact: bool = typer.Option(
            False, "--check-exact", help="With --index ann: report overlap with exact."
        ),
    ) -> None:
        """Retrieve the rows (or documents) of a datastore that best fit a task."""
        from taskforge._console import results
        from taskforge._retrieval import retrieve

        res = retrieve(
            task,
            datastore,
            n=n,
            method=method,
            out=out,
            per_source_cap=per_source_cap,
            index=index,
            check_exact=check_exact,
            show=True,
        )
        if "overlap_exact" in res.search:
            results.print(
                f"ANN top-{len(res.items)} overlap with exact search: {res.search['overlap_exact']:.4f} "
                f"({res.search['overlap_exact_ties']:.4f} counting rows tied with exact's last as right)"
            )
        results.print(f"wrote {len(res.items):,} items to {res.out} in {res.seconds['total']:.1f} s")
