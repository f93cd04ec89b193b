"""``retrieve --executor ray``: a store's sources scored in parallel as Ray tasks, merged exactly.

A shard is a run of whole sources (a built store keeps each source's rows, and their vectors,
together), shards balanced by vectors. Every method scores a row from its own vectors and its
source alone (description scores, centred or not, are computed from all the descriptions,
which every task reads), so a shard's per-row scores are the local executor's for its rows.
The driver concatenates them in row order and selects exactly as locally: the top N, ids and
scores, is the local one. Tasks return per-row scores (a few floats a row, ~1% of the
vectors' bytes), not vectors. Each task opens the store itself, memory-mapped: the store must
be at the same path on every node (one machine, NFS, a mounted bucket).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from taskforge._errors import SettingsError
from taskforge._retrieval._methods import METHODS, Queries, Scored
from taskforge._retrieval._scoring import StoreArrays


def source_shards(row_source: np.ndarray, vector_row: np.ndarray, n_shards: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of whole sources, about equal in vectors, at most ``n_shards``."""
    row_source = np.asarray(row_source)
    if len(row_source) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, row_source[1:] != row_source[:-1]])  # first row of each run
    if len(np.unique(row_source[starts])) != len(starts):
        raise SettingsError("--executor ray: the store's rows are not grouped by source (rebuild it)")
    first_vec = np.searchsorted(np.asarray(vector_row), starts, side="left")
    n_vec = len(vector_row)
    # cut where the cumulative vector count crosses each multiple of n_vec / n_shards
    targets = np.arange(1, n_shards) * (n_vec / n_shards)
    cuts = np.unique(starts[np.clip(np.searchsorted(first_vec, targets), 0, len(starts) - 1)])
    bounds = [0, *[int(c) for c in cuts if c > 0], len(row_source)]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def shard_arrays(store: StoreArrays, start: int, stop: int) -> StoreArrays:
    """Rows [start, stop) and their vectors, rows renumbered from 0; descriptions all kept."""
    vr = np.asarray(store.vector_row)
    v0, v1 = int(np.searchsorted(vr, start, "left")), int(np.searchsorted(vr, stop, "left"))

    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[v0:v1]

    return StoreArrays(
        vectors=store.vectors[v0:v1],
        vector_row=np.asarray(vr[v0:v1]) - start,
        row_source=np.asarray(store.row_source[start:stop]),
        description_vectors=store.description_vectors,
        vector_chars=cut(store.vector_chars),
        vector_column=cut(store.vector_column),
        column_names=store.column_names,
    )


def _score_shard(path: str, method: str, q: Queries, n: int, block: int, start: int, stop: int) -> Scored:
    """One shard, inside a Ray worker: the store opened from its path, the method run on its rows."""
    from taskforge._datastore import Datastore

    store = StoreArrays.from_datastore(Datastore.open(path))
    return METHODS[method](shard_arrays(store, start, stop), q, n, block)


def merge_shards(parts: list[Scored]) -> Scored:
    """The shards' per-row scores in row order: what the local executor computes in one pass."""
    first = parts[0]
    return Scored(
        {k: np.concatenate([p.components[k] for p in parts]) for k in first.components},
        [(np.concatenate([p.lists[i][0] for p in parts]), quota) for i, (_, quota) in enumerate(first.lists)],
        names=list(first.names),
        quota_counts_taken=first.quota_counts_taken,
    )


def ray_scored(
    ds: Any,
    store: StoreArrays,
    method: str,
    q: Queries,
    n: int,
    block: int,
    *,
    address: str | None = None,
    shards: int | None = None,
) -> Scored:
    """Score every row of ``ds`` with ``method`` as Ray tasks over source shards (one per CPU of
    the cluster unless ``shards``), merged exactly."""
    from taskforge._datastore._ray import init_ray

    if getattr(ds, "path", None) is None:
        raise SettingsError("--executor ray: the datastore must be a folder every Ray worker can open")
    ray = init_ray(address)
    if shards is None:
        shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
    bounds = source_shards(store.row_source, store.vector_row, shards)
    if not bounds:
        return METHODS[method](store, q, n, block)
    remote = ray.remote(num_cpus=1)(_score_shard)
    path = str(Path(ds.path).resolve())
    q_ref = ray.put(q)
    refs = [remote.remote(path, method, q_ref, n, block, a, b) for a, b in bounds]
    return merge_shards(ray.get(refs))


__all__ = ["merge_shards", "ray_scored", "shard_arrays", "source_shards"]
