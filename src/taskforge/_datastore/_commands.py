"""CLI: ``taskforge datastore build | info | search`` (thin layer over the Python API).

Imports of the stage (numpy, pyarrow, the embedder) happen inside the commands, so
``taskforge --help`` and ``datastore info`` start fast (tests/test_startup.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from taskforge._errors import on_interrupt

datastore_app = typer.Typer(help="Build, inspect and search a datastore of embedded rows or documents.")


@datastore_app.command("build")
@on_interrupt(
    "every chunk embedded so far is kept in the --out folder; run the same command again to resume from there"
)
def build_cmd(
    sources: list[str] = typer.Argument(
        ..., help="Dataset folders, data files, save_to_disk folders or hub names."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Datastore folder (created, extended or resumed)."),
    kind: str = typer.Option(
        "rows", "--kind", help="rows (ReBase: one vector per cell) | documents (CRAFT)."
    ),
    model: str | None = typer.Option(None, "--model", help="sentence-transformers model name or path."),
    description: str | None = typer.Option(None, "--description", help="Description for the sources given."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed row."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=1, help="Cap on rows per source."),
    sample: str = typer.Option(
        "head",
        "--sample",
        help="Which rows --max-rows keeps: head (a source's first rows) | spread (rows spread evenly "
        "over the whole source, so a file sorted by label keeps every label; reads the source twice).",
    ),
    ann: bool = typer.Option(False, "--ann", help="Also build an IVF-SQ8 ANN index (recall printed)."),
    float16: bool = typer.Option(False, "--float16", help="Store vectors as float16 (half the disk)."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", min=1, help="Rows per chunk (default 512)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    text_unit: str = typer.Option("line", "--text-unit", help="Plain text: one document per line | file."),
    precision: str = typer.Option(
        "auto", "--precision", help="auto | fp32 | bf16 (torch) | int8 (onnx) embedding compute."
    ),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="auto | torch | onnx. onnx: int8 ONNX Runtime (taskforge[onnx] extra), faster than "
        "torch, cosine ~0.99 with fp32; auto: torch (or TASKFORGE_EMBED_BACKEND).",
    ),
    executor: str = typer.Option(
        "local", "--executor", help="local | ray: build each source as a Ray task (taskforge[ray] extra)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster to join with --executor ray (auto, ray://host:10001)."
    ),
    text_column: list[str] | None = typer.Option(
        None,
        "--text-column",
        help="Documents: the column holding each document's text (repeat it: first present wins; "
        "rows with none are skipped). Nested columns are dotted: question.stem.",
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Encoding of text files (latin-1, cp1252, ...; auto: detect per file). "
        "Default UTF-8: rows that are not valid UTF-8 are counted as malformed, never altered.",
    ),
    max_row_mb: float = typer.Option(
        64.0, "--max-row-mb", min=0.001, help="Rows longer than this are skipped."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Stop at once if another build is writing to --out (default: wait for it)."
    ),
) -> None:
    """Embed SOURCE... into the datastore at --out (skips sources already embedded)."""
    from taskforge._console import results, summary_table
    from taskforge._datastore import Datastore, build_datastore

    report = build_datastore(
        sources,
        out,
        kind=kind,
        model=model,
        description=description,
        strict=strict,
        max_rows=max_rows,
        sample=sample,
        ann=ann,
        float16=float16,
        chunk_rows=chunk_rows,
        batch_size=batch_size,
        text_unit=text_unit,
        precision=precision,
        backend=backend,
        executor=executor,
        address=address,
        text_column=text_column or None,
        encoding=encoding,
        max_row_mb=max_row_mb,
        wait=not no_wait,
    )
    rows = [
        (
            s["name"],
            "kept" if s.get("skipped") else "built",
            s["n_rows"],
            s["n_vectors"],
            s["n_malformed"],
            s.get("n_empty", 0),
            s.get("n_cut", 0),
        )
        for s in report.sources
    ]
    results.print(
        summary_table(
            "datastore build",
            ["source", "status", "rows", "vectors", "malformed", "no text", "cells cut"],
            rows,
        )
    )
    ds = Datastore.open(out)
    results.print(
        f"{out}: {len(ds.sources)} sources, {ds.n_rows:,} rows, {ds.n_vectors:,} vectors, "
        f"{_size(ds.disk_bytes())}, {report.seconds:.1f} s"
    )


@datastore_app.command("info")
def info_cmd(path: Path = typer.Argument(..., help="Datastore folder.")) -> None:
    """Sources, rows, vectors, model and disk size of a datastore."""
    from taskforge._console import kv_table, results, summary_table
    from taskforge._datastore._store import Datastore

    ds = Datastore.open(path)
    rows = [(s.name, s.n_rows, s.n_vectors, len(s.columns), s.description[:60]) for s in ds.sources]
    results.print(summary_table("sources", ["source", "rows", "vectors", "columns", "description"], rows))
    ann = ds.manifest.get("ann")
    results.print(
        kv_table(
            str(path),
            {
                "kind": ds.kind,
                "model": f"{ds.model_name} ({ds.dim}-d, {ds.manifest['model'].get('backend', 'torch')} {ds.manifest['model'].get('precision')})",
                "sources": len(ds.sources),
                "rows": ds.n_rows,
                "vectors": ds.n_vectors,
                "vector dtype": ds.manifest.get("dtype"),
                "ann": f"{ann['type']} recall@{ann['k']} {ann['recall']:.3f}" if ann else "none",
                "disk": _size(ds.disk_bytes()),
            },
        )
    )


@datastore_app.command("search")
def search_cmd(
    path: Path = typer.Argument(..., help="Datastore folder."),
    text: str = typer.Argument(..., help="Query text."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Number of rows."),
    ann: bool = typer.Option(False, "--ann", help="Use the ANN index instead of exact search."),
    description_weight: float = typer.Option(
        0.5, "--description-weight", min=0.0, max=1.0, help="Weight of the source-description score."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="The store's embedding model, when its manifest names a path you must vouch for.",
    ),
) -> None:
    """The k rows closest to TEXT: best cell per row, mixed with its source description's score."""
    from taskforge._console import results, summary_table
    from taskforge._datastore._store import Datastore
    from taskforge._retrieval import search

    ds = Datastore.open(path, model=model)
    hits = search(ds, text, k, index="ann" if ann else "exact", description_weight=description_weight)
    rows = [
        (h["source"], h["row_id"], h["column"], f"{h['score']:.3f}", " ".join(h["snippet"].split())[:80])
        for h in hits
    ]
    results.print(summary_table(f"top {k} for {text!r}", ["source", "row", "column", "score", "text"], rows))


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the ``taskforge`` app."""
    app.add_typer(datastore_app, name="datastore")
