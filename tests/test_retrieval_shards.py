"""Source shards (``retrieve --executor ray``): whole sources, balanced, and an exact merge.

The Ray round trip is tested in ``test_ray.py`` (slow, needs Ray); here the sharding and the
merge themselves, without Ray: scoring shard by shard and concatenating gives the one-pass
scores bit for bit, for every method.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from taskforge._errors import SettingsError
from taskforge._retrieval import METHODS, StoreArrays
from taskforge._retrieval._ray import merge_shards, shard_arrays, source_shards
from taskforge._retrieval._retrieve import embed_task


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7])
def test_shards_are_whole_sources_covering_every_row(n_shards):
    row_source = np.repeat(np.arange(6), [5, 1, 9, 3, 3, 4])
    vector_row = np.repeat(np.arange(len(row_source)), 2)
    bounds = source_shards(row_source, vector_row, n_shards)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(row_source)
    assert all(a[1] == b[0] for a, b in pairwise(bounds))
    assert len(bounds) <= min(n_shards, 6)
    for start, stop in bounds:  # no source is cut in two
        assert start == 0 or row_source[start] != row_source[start - 1]
        assert stop == len(row_source) or row_source[stop] != row_source[stop - 1]


def test_a_store_not_grouped_by_source_is_refused():
    with pytest.raises(SettingsError, match="not grouped by source"):
        source_shards(np.array([0, 0, 1, 0]), np.arange(4), 2)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_shard_scores_merged_equal_one_pass(method, topic_store, topic_task):
    ds = topic_store
    store = StoreArrays.from_datastore(ds)
    q = embed_task(topic_task, ds.embedder())
    whole = METHODS[method](store, q, 40)
    merged = merge_shards(
        [
            METHODS[method](shard_arrays(store, a, b), q, 40)
            for a, b in source_shards(store.row_source, store.vector_row, 3)
        ]
    )
    assert whole.components.keys() == merged.components.keys()
    for key in whole.components:
        np.testing.assert_array_equal(whole.components[key], merged.components[key])
    assert [quota for _, quota in whole.lists] == [quota for _, quota in merged.lists]
    for (a, _), (b, _) in zip(whole.lists, merged.lists, strict=True):
        np.testing.assert_array_equal(a, b)


def test_ray_executor_needs_a_store_folder_and_the_exact_index(topic_store, topic_task):
    from taskforge import retrieve

    with pytest.raises(SettingsError, match="folder every Ray worker can open"):
        retrieve(topic_task, topic_store, n=10, method="rebase", executor="ray")
    with pytest.raises(SettingsError, match="does not combine with --index ann"):
        retrieve(topic_task, topic_store, n=10, method="rebase", executor="ray", index="ann")
