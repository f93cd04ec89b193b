"""CLI commands of this stage: ``taskforge retrieve``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

LabelResolverFactory = Callable[[Any, Any], Any]
"""(task, datastore) -> a label resolver or None; given by the CLI assembly (retrieval sits below
the transform stage whose mapper resolves labels, so it cannot import it)."""


def register(app: typer.Typer, *, label_resolver: LabelResolverFactory | None = None) -> None:
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
            help="Scoring method: rebase_parts, rebase (the paper's exact formula), rebase_tuned, craft, "
            "mean (default: the task's `retrieve.method`, else rebase_parts)",
        ),
        out: Path = typer.Option(
            Path("items.jsonl"), "--out", "-o", help="Output file (.jsonl or .parquet)."
        ),
        per_source_cap: int | None = typer.Option(
            None, "--per-source-cap", help="At most this many items from one source."
        ),
        max_source_share: float | None = typer.Option(
            None,
            "--max-source-share",
            help="Past this share of n, a source's rows compete with a handicap (--share-margin); "
            "1 turns it off (default: the method's, 0.3 for rebase_parts).",
        ),
        share_margin: float | None = typer.Option(
            None,
            "--share-margin",
            help="The handicap of a source past its share, in units of the top n's score spread (inf: a hard cap).",
        ),
        label_share: float | None = typer.Option(
            None,
            "--label-share",
            help="Each task label first gets this share of n from rows whose own label maps onto it; "
            "0 turns it off (default: the method's, 0.3 for rebase_parts).",
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
        executor: str | None = typer.Option(
            None,
            "--executor",
            help="local | ray: score the store's source shards as Ray tasks, merged exactly (taskforge[ray]).",
        ),
        address: str | None = typer.Option(
            None, "--address", help="Ray cluster to join with --executor ray (auto, ray://host:10001)."
        ),
    ) -> None:
        """Retrieve the rows (or documents) of a datastore that best fit a task."""
        from taskforge._console import results
        from taskforge._datastore import Datastore
        from taskforge._retrieval import retrieve
        from taskforge._task import Task

        spec = Task.load(task)
        ds = Datastore.open(datastore)
        res = retrieve(
            spec,
            ds,
            n=n,
            method=method,
            out=out,
            per_source_cap=per_source_cap,
            max_source_share=max_source_share,
            share_margin=share_margin,
            label_share=label_share,
            labels_of=label_resolver(spec, ds) if label_resolver is not None else None,
            index=index,
            executor=executor,
            address=address,
            check_exact=check_exact,
            show=True,
        )
        if "overlap_exact" in res.search:
            results.print(
                f"ANN top-{len(res.items)} overlap with exact search: {res.search['overlap_exact']:.4f} "
                f"({res.search['overlap_exact_ties']:.4f} counting rows tied with exact's last as right)"
            )
        results.print(f"wrote {len(res.items):,} items to {res.out} in {res.seconds['total']:.1f} s")
