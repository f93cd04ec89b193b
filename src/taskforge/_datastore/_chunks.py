"""Chunks: the unit of work and of atomicity of a build.

A source is cut into fixed-size chunks of rows. Each chunk is embedded independently and
written as one folder (vectors + per-vector row/column + the rows themselves) that appears
by an atomic rename, so a build killed at any moment leaves only whole chunks behind and
resumes after the last one. Chunks need nothing from each other, so a cluster executor
(Ray) can embed them anywhere and the merge step stays the same.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from taskforge._cells import document_text, split_passages
from taskforge._embed import Embedder
from taskforge._io import fsync_path

ROWS_SCHEMA = pa.schema(
    [("row_id", pa.string()), ("row", pa.string()), ("cells", pa.string()), ("text", pa.string())]
)


@dataclass
class ChunkInput:
    """The rows of one chunk, as read from the source."""

    index: int
    row_ids: list[str] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    cells: list[dict[str, str]] = field(default_factory=list)


def chunk_dir(source_dir: Path, index: int) -> Path:
    return source_dir / f"c{index:06d}"


def is_done(source_dir: Path, index: int) -> bool:
    return (chunk_dir(source_dir, index) / "meta.json").exists()


def embed_chunk(
    chunk: ChunkInput,
    embedder: Embedder,
    *,
    kind: str,
    batch_size: int = 64,
    passage_words: int = 200,
    passage_overlap: int = 50,
    text_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Embed one chunk: rows -> one vector per text cell; documents -> one per passage
    (of the first of ``text_columns`` a row has, else :func:`document_text`'s choice)."""
    columns: list[str] = []
    col_ids: dict[str, int] = {}
    texts: list[str] = []
    vec_row: list[int] = []
    vec_col: list[int] = []
    doc_texts: list[str | None] = []
    for r, cells in enumerate(chunk.cells):
        if kind == "rows":
            doc_texts.append(None)
            for name, text in cells.items():
                if name not in col_ids:
                    col_ids[name] = len(columns)
                    columns.append(name)
                texts.append(text)
                vec_row.append(r)
                vec_col.append(col_ids[name])
        else:
            doc = document_text(cells, text_columns)
            doc_texts.append(doc)
            for p, passage in enumerate(split_passages(doc, words=passage_words, overlap=passage_overlap)):
                texts.append(passage)
                vec_row.append(r)
                vec_col.append(p)
    vectors = embedder.encode(texts, batch_size=batch_size)
    return {
        "vectors": vectors,
        "vec_row": np.asarray(vec_row, dtype=np.int32),
        "vec_col": np.asarray(vec_col, dtype=np.int32),
        "columns": columns,
        "doc_texts": doc_texts,
    }


def write_chunk(source_dir: Path, chunk: ChunkInput, result: dict[str, Any]) -> None:
    """Write a chunk's folder under a temporary name, fsync, then rename it into place."""
    final = chunk_dir(source_dir, chunk.index)
    tmp = source_dir / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.save(tmp / "vectors.npy", result["vectors"])
    np.save(tmp / "vec_row.npy", result["vec_row"])
    np.save(tmp / "vec_col.npy", result["vec_col"])
    table = pa.table(
        {
            "row_id": chunk.row_ids,
            "row": [json.dumps(r, ensure_ascii=False, default=str) for r in chunk.records],
            "cells": [json.dumps(c, ensure_ascii=False) for c in chunk.cells],
            "text": result["doc_texts"],
        },
        schema=ROWS_SCHEMA,
    )
    with pa.OSFile(str(tmp / "rows.arrow"), "wb") as sink, pa.ipc.new_file(sink, ROWS_SCHEMA) as w:
        w.write_table(table)
    meta = {
        "index": chunk.index,
        "n_rows": len(chunk.row_ids),
        "n_vectors": int(result["vectors"].shape[0]),
        "columns": result["columns"],
    }
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    for p in tmp.iterdir():
        fsync_path(p)
    fsync_path(tmp)
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / "meta.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another worker wrote the same chunk first
    fsync_path(source_dir)


def read_chunk_meta(source_dir: Path, index: int) -> dict[str, Any]:
    return json.loads((chunk_dir(source_dir, index) / "meta.json").read_text(encoding="utf-8"))


def read_chunk_rows(source_dir: Path, index: int) -> pa.Table:
    with pa.memory_map(str(chunk_dir(source_dir, index) / "rows.arrow")) as src:
        return pa.ipc.open_file(src).read_all()


def clean_partial(source_dir: Path) -> None:
    """Remove half-written chunk folders left by a killed build."""
    if source_dir.exists():
        for p in source_dir.glob(".c*.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
