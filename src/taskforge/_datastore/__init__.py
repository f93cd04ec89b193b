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

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so `datastore info`, which needs
# only the store, does not import the build machinery
_EXPORTS = {
    "BuildReport": "taskforge._datastore._build",
    "StrictModeError": "taskforge._datastore._build",
    "build_datastore": "taskforge._datastore._build",
    "DatastoreError": "taskforge._datastore._merge",
    "Source": "taskforge._datastore._sources",
    "SourceError": "taskforge._datastore._sources",
    "resolve_source": "taskforge._datastore._sources",
    "Datastore": "taskforge._datastore._store",
    "SourceInfo": "taskforge._datastore._store",
    "UntrustedModelError": "taskforge._datastore._store",
    "BuildSettings": "taskforge._settings",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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


if TYPE_CHECKING:
    from taskforge._datastore._build import BuildReport, StrictModeError, build_datastore
    from taskforge._datastore._merge import DatastoreError
    from taskforge._datastore._sources import Source, SourceError, resolve_source
    from taskforge._datastore._store import Datastore, SourceInfo, UntrustedModelError
    from taskforge._settings import BuildSettings
