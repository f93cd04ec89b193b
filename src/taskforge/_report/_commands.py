"""CLI command of the report: ``taskforge report RUN_DIR``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``taskforge`` app."""

    @app.command("report")
    def report_cmd(
        run_dir: Path = typer.Argument(
            ..., metavar="RUN_DIR", help="A run directory (from `taskforge run`)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="HTML file to write [RUN_DIR/report.html]."
        ),
        projection: str = typer.Option("pca", help="Embedding map projection: pca | tsne | auto."),
        no_map: bool = typer.Option(False, "--no-map", help="Leave out the embedding map (no model load)."),
        max_kept: int = typer.Option(2000, min=0, help="Kept samples embedded in the page."),
        max_rejects: int = typer.Option(500, min=0, help="Rejected samples embedded in the page."),
        map_limit: int = typer.Option(1000, min=0, help="Points per kind on the embedding map."),
    ) -> None:
        """Write the self-contained HTML report of a run (opens offline in any browser)."""
        from taskforge._console import results
        from taskforge._report import build_report

        if projection not in ("pca", "tsne", "auto"):
            raise typer.BadParameter(
                f"must be pca, tsne or auto, not {projection!r}", param_hint="--projection"
            )
        path = build_report(
            run_dir,
            embedder=False if no_map else None,
            projection=projection,
            max_kept=max_kept,
            max_rejects=max_rejects,
            map_limit=map_limit,
            out=out,
        )
        results.print(f"report: [bold]{path}[/]")
