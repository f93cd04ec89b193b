"""Datastore: sources -> embedded chunks -> one memory-mapped store (ReBase rows, CRAFT documents).

Python API::

    report = build_datastore(["data/snli", "corpus.jsonl"], "store/", kind="rows", max_rows=1000)
    ds = Datastore.open("store/")
    ds.get_rows([0, 1])                  # full records; quick text search: taskforge.search(ds, text)

Folder layout (format version 1)::

    manifest.json                 kind, model {name, dim, precision}, dtype, sources (fingerprints,
                                  counts, columns, row_start), columns, ann, data folder name
    data-<id>/vectors.npy         (n_vectors, dim) float32|float16, unit norm     } memory-mapped
    data-<id>/vector_row.npy      int64 global row per vector                       }
    data-<id>/vector_column.npy   int32 column id (rows) / passage number (docs)    }
    data-<id>/row_source.npy      int32 source id per global row                    }
    data-<id>/description_vectors.npy  (n_sources, dim) float32
    data-<id>/rows.arrow          Arrow IPC: source, row_id, row (JSON), cells (JSON), text
    data-<id>/index_ann.faiss     IVF-SQ8 (with --ann)
    chunks/<source>-<key>/c000000/ ...  per-chunk vectors + rows: the resumable build state

Chunks are independent (a cluster executor could embed them anywhere); ``merge`` only
concatenates them, and the manifest is written last, atomically.
"""

from taskforge._datastore._build import BuildReport, StrictModeError, build_datastore
from taskforge._datastore._merge import DatastoreError
from taskforge._datastore._sources import Source, SourceError, resolve_source
from taskforge._datastore._store import Datastore, SourceInfo, UntrustedModelError
from taskforge._settings import BuildSettings

__all__ = [
    "BuildReport",
    "BuildSettings",
    "Datastore",
    "DatastoreError",
    "Source",
    "SourceError",
    "SourceInfo",
    "StrictModeError",
    "UntrustedModelError",
    "build_datastore",
    "resolve_source",
]
