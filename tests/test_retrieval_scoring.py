"""The scoring core on synthetic arrays: exact against brute force, blocks, fp16, selection."""

from __future__ import annotations

import numpy as np
import pytest

from taskforge._retrieval._methods import Queries, craft, mean, rebase, rebase_plus, source_fit
from taskforge._retrieval._scoring import (
    StoreArrays,
    brute_force_rebase,
    cell_scores,
    rebase_components,
    rescore_rows,
    row_max_scores,
    segment_max,
    segment_mean,
    top_k,
)
from taskforge._retrieval._select import Selector, iter_ranked, share_handicap


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _store(seed: int = 0, n_rows: int = 400, d: int = 32, n_sources: int = 5) -> StoreArrays:
    rng = np.random.default_rng(seed)
    cells = rng.integers(1, 6, size=n_rows)  # 1..5 cells per row
    vector_row = np.repeat(np.arange(n_rows), cells)
    row_source = np.sort(rng.integers(0, n_sources, size=n_rows)).astype(np.int32)
    vectors = _unit(rng.normal(size=(len(vector_row), d)))
    return StoreArrays(vectors, vector_row, row_source, _unit(rng.normal(size=(n_sources, d))))


def _queries(d: int = 32, f: int = 3, seed: int = 1) -> Queries:
    rng = np.random.default_rng(seed)
    return Queries(
        _unit(rng.normal(size=d)),
        _unit(rng.normal(size=(f, d))),
        _unit(rng.normal(size=(f, d))),
        _unit(rng.normal(size=(f, d))),
    )


def _naive_row_max(vectors, vector_row, n_rows, queries):
    out = np.full((n_rows, len(queries)), -np.inf)
    for v, r in zip(vectors, vector_row, strict=True):
        out[r] = np.maximum(out[r], queries @ v)
    return out


@pytest.mark.parametrize("block", [7, 64, 1 << 17])
def test_row_max_matches_naive_loop_for_any_block_size(block):
    s = _store()
    q = _unit(np.random.default_rng(3).normal(size=(4, 32)))
    got = row_max_scores(s.vectors, s.vector_row, s.n_rows, q, block=block)
    np.testing.assert_allclose(got, _naive_row_max(s.vectors, s.vector_row, s.n_rows, q), atol=1e-6)


def test_row_max_handles_unsorted_rows_and_rows_without_vectors():
    s = _store()
    perm = np.random.default_rng(5).permutation(len(s.vector_row))
    vrow = s.vector_row[perm]
    q = _unit(np.ones((1, 32)))
    got = row_max_scores(s.vectors[perm], vrow, s.n_rows + 2, q, block=50)
    ref = _naive_row_max(s.vectors[perm], vrow, s.n_rows + 2, q)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert np.isneginf(got[-2:]).all()


def test_rebase_equals_brute_force_reference_exactly():
    s, q = _store(), _queries()
    comps = rebase_components(s, q.inputs, q.outputs, q.instruction, block=100)
    ref = brute_force_rebase(s, q.inputs, q.outputs, q.instruction)
    np.testing.assert_allclose(comps["final"], ref, atol=1e-6)
    np.testing.assert_allclose(
        comps["final"], (comps["query"] + comps["answer"] + comps["dataset"]) / 3, atol=1e-6
    )
    assert list(top_k(comps["final"], 50)) == list(top_k(ref.astype(np.float32), 50))


def test_float16_vectors_score_close_to_float32():
    s, q = _store(), _queries()
    half = StoreArrays(s.vectors.astype(np.float16), s.vector_row, s.row_source, s.description_vectors)
    a = rebase_components(s, q.inputs, q.outputs, q.instruction)["final"]
    b = rebase_components(half, q.inputs, q.outputs, q.instruction)["final"]
    np.testing.assert_allclose(a, b, atol=2e-3)
    assert b.dtype == np.float32


def test_rescore_rows_equals_full_pass_on_those_rows():
    s = _store()
    q = _unit(np.random.default_rng(9).normal(size=(2, 32)))
    full = row_max_scores(s.vectors, s.vector_row, s.n_rows, q)
    rows = np.array([3, 0, 399, 17])
    np.testing.assert_allclose(rescore_rows(s.vectors, s.vector_row, rows, q), full[rows], atol=1e-6)


def test_top_k_and_lazy_ranking_skip_excluded_and_keep_order():
    scores = np.array([0.1, 0.9, -np.inf, 0.5, 0.7, 0.3], dtype=np.float32)
    assert list(top_k(scores, 3)) == [1, 4, 3]
    assert list(iter_ranked(scores, 1)) == [1, 4, 3, 5, 0]  # grows past the first prefix, no -inf


def _fetch_factory(texts: dict[int, str]):
    return lambda rows: [{"cells": {"t": texts.get(int(r), f"row {int(r)}")}} for r in rows]


def test_selector_excludes_caps_and_dedups():
    rng = np.random.default_rng(0)
    n_rows = 200
    scores = rng.random(n_rows).astype(np.float32)
    row_source = (np.arange(n_rows) % 4).astype(np.int32)
    ok = row_source != 0  # source 0 excluded
    best = [int(r) for r in np.argsort(-scores) if ok[r]]
    texts = {best[1]: f"row {best[0]}", best[2]: "an example input text, long enough"}
    sel = Selector(
        n=30,
        row_source=row_source,
        row_ok=ok,
        fetch=_fetch_factory(texts),
        per_source_cap=9,
        banned_keys={"an example input text, long enough"},
    )
    sel.fill(scores, None)
    got = list(sel.taken)
    assert len(got) == 27  # 3 allowed sources x cap 9: fewer than n is fine, never more
    assert not any(row_source[r] == 0 for r in got)
    assert max(np.bincount(row_source[got])) <= 9
    assert best[1] not in got and best[2] not in got
    assert sel.dropped == {"duplicate": 1, "example": 1}


def test_craft_mix_takes_per_example_tops_then_mean():
    s, q = _store(n_rows=600), _queries()
    n = 60
    scored = craft(s, q, n)
    assert len(scored.lists) == 4 and [quota for _, quota in scored.lists] == [10, 10, 10, None]
    assert scored.names == ["example 1", "example 2", "example 3", "mean"] and scored.quota_counts_taken
    sel = Selector(n=n, row_source=s.row_source, row_ok=np.ones(s.n_rows, bool), fetch=_fetch_factory({}))
    for sc, quota in scored.lists:
        sel.fill(sc, quota, count_taken=quota is not None)
    taken = list(sel.taken)
    assert len(taken) == n and len(set(taken)) == n
    tops = set()
    for f in range(3):  # each example's own top 10 is in (a row in two tops counts for both)
        tops |= set(top_k(scored.lists[f][0], 10).tolist())
    assert set(taken[: len(tops)]) == tops
    # the rest is the best by mean similarity among rows not already taken
    mean_s = scored.components["final"]
    remaining = [r for r in top_k(mean_s, s.n_rows).tolist() if r not in tops]
    assert taken[len(tops) :] == remaining[: n - len(tops)]


def test_mean_method_is_row_max_of_mean_example():
    s, q = _store(), _queries()
    got = mean(s, q, 10).components["final"]
    ref = _naive_row_max(s.vectors, s.vector_row, s.n_rows, q.examples.mean(axis=0, keepdims=True))[:, 0]
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert rebase(s, q, 10).lists[0][1] is None


def test_segment_mean_is_the_score_of_the_rows_mean_vector():
    s = _store()
    q = _unit(np.random.default_rng(4).normal(size=(1, 32)))
    cells = cell_scores(s.vectors, q, block=33)
    got = segment_mean(cells, s.vector_row, s.n_rows + 1)
    for r in (0, 7, 399):
        mean_vec = s.vectors[s.vector_row == r].mean(axis=0)
        assert got[r, 0] == pytest.approx(float(mean_vec @ q[0]), abs=1e-6)
    assert np.isneginf(got[-1, 0])
    np.testing.assert_allclose(
        segment_max(cells, s.vector_row, s.n_rows),
        row_max_scores(s.vectors, s.vector_row, s.n_rows, q),
        atol=1e-6,
    )


def test_source_fit_is_mean_of_each_sources_top_rows():
    scores = np.array([0.9, 0.1, 0.5, -np.inf, 0.3, 0.8, 0.7], dtype=np.float32)
    source = np.array([0, 0, 0, 1, 1, 2, 2], dtype=np.int32)
    fit = source_fit(scores, source, 4, top=2)
    np.testing.assert_allclose(fit[:3], [0.7, 0.3, 0.75], atol=1e-6)
    assert np.isneginf(fit[3])  # a source with no scorable rows


def test_rebase_plus_with_paper_weights_is_the_paper_formula():
    s, q = _store(), _queries()
    plus = rebase_plus(s, q, 10, w_row=0.0, w_source=0.0).components["final"]
    np.testing.assert_allclose(plus, rebase(s, q, 10).components["final"], atol=1e-6)


# ---- the default's source-description part ---------------------------------------------------
def _cards(n: int, d: int = 16, seed: int = 5) -> np.ndarray:
    """n source descriptions sharing one dominant direction (what all dataset cards say)."""
    rng = np.random.default_rng(seed)
    shared = np.zeros(d, dtype=np.float32)
    shared[0] = 1.0
    return _unit(3.0 * shared + 0.5 * rng.normal(size=(n, d)))


def test_centred_description_scores_are_cosines_after_removing_the_mean_card():
    from taskforge._retrieval._methods import description_scores

    cards = _cards(10)
    inst = _unit(np.random.default_rng(6).normal(size=16))
    got = description_scores(cards, inst, centre=True)
    mu = cards.mean(0)
    want = [float(_unit(c - mu) @ _unit(inst - mu)) for c in cards]
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(description_scores(cards, inst, centre=False), cards @ inst, atol=1e-6)


def test_centring_ranks_by_what_sets_a_card_apart_not_by_the_shared_boilerplate():
    from taskforge._retrieval._methods import description_scores

    # card k: boilerplate (axis 0) + its own topic (axis k+1); card 3 has less boilerplate
    eye = np.eye(16, dtype=np.float32)
    weight = np.full(10, 1.0, dtype=np.float32)
    weight[3] = 0.6
    cards = _unit(np.stack([weight[k] * eye[0] + 0.5 * eye[k + 1] for k in range(10)]))
    inst = _unit(eye[0] + 0.15 * eye[4])  # boilerplate + a little of card 3's topic
    assert int(np.argmax(cards @ inst)) != 3  # raw cosine: the boilerplate decides
    assert int(np.argmax(description_scores(cards, inst, centre=True))) == 3


def test_small_stores_are_not_centred():
    from taskforge._retrieval._methods import MIN_SOURCES_TO_CENTRE, description_scores

    cards = _cards(MIN_SOURCES_TO_CENTRE - 1)
    inst = _unit(np.random.default_rng(7).normal(size=16))
    np.testing.assert_allclose(description_scores(cards, inst, centre=True), cards @ inst, atol=1e-6)


def test_rebase_tuned_is_its_weighted_parts_with_centred_descriptions():
    from taskforge._retrieval._methods import TUNED, description_scores, rebase_tuned

    s = _store(n_sources=9, d=32)
    q = _queries(d=32)
    got = rebase_tuned(s, q, 10).components
    paper = rebase(s, q, 10).components
    desc = description_scores(s.description_vectors, q.instruction, centre=True)[s.row_source]
    np.testing.assert_allclose(got["dataset"], desc, atol=1e-6)
    wq, wa, wd = (float(TUNED[k]) for k in ("w_query", "w_answer", "w_dataset"))
    want = (wq * paper["query"] + wa * paper["answer"] + wd * desc) / (wq + wa + wd)
    np.testing.assert_allclose(got["final"], want, atol=1e-6)


# ---- source shares and label quotas ------------------------------------------------------------
def test_share_handicap_lowers_only_rows_past_each_sources_allowance():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, -np.inf], dtype=np.float32)
    row_source = np.array([0, 0, 0, 1, 1, 1], dtype=np.int32)
    got = share_handicap(scores, row_source, np.array([2, 5]), 0.25)
    np.testing.assert_allclose(got, [0.9, 0.8, 0.45, 0.6, 0.5, -np.inf])
    hard = share_handicap(scores, row_source, np.array([1, 0]), np.inf)
    assert hard[0] == np.float32(0.9) and np.isneginf(hard[1:]).all()


def _two_sources(gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Source 0's rows score 1.0, 0.99, ...; source 1's the same minus ``gap``."""
    best = 1.0 - 0.001 * np.arange(50)
    return np.concatenate([best, best - gap]).astype(np.float32), np.repeat([0, 1], 50).astype(np.int32)


@pytest.mark.parametrize(("gap", "most"), [(0.02, 10), (0.5, 20)])
def test_source_share_holds_a_source_back_only_while_others_score_close(gap, most):
    scores, row_source = _two_sources(gap)
    sel = Selector(
        n=20,
        row_source=row_source,
        row_ok=np.ones(100, bool),
        fetch=_fetch_factory({}),
        max_source_share=0.5,
        share_margin=0.1,
    )
    sel.fill(scores, None)
    assert len(sel.taken) == 20 and sel.per_source[0] == most  # close: capped at half; far: all


class _CellLabels:
    """A label resolver reading the row's own ``label`` cell (the mapper's job in real runs)."""

    def row_labels(self, items):
        return [(it.get("cells") or {}).get("label") for it in items]


def test_label_quotas_fill_each_label_best_first_and_report_what_is_missing():
    rng = np.random.default_rng(2)
    n_rows = 300
    scores = rng.random(n_rows).astype(np.float32)
    labels = np.where(np.arange(n_rows) % 10 == 0, "rare", np.where(np.arange(n_rows) % 2, "a", "b"))
    labels[np.arange(n_rows) % 10 == 5] = "none"
    fetch = lambda rows: [{"cells": {"t": f"row {r}", "label": str(labels[r])}} for r in rows]  # noqa: E731
    sel = Selector(n=60, row_source=np.zeros(n_rows, np.int32), row_ok=np.ones(n_rows, bool), fetch=fetch)
    report = sel.fill_labels(scores, _CellLabels(), ["a", "b", "rare", "absent"], per_label=12, depth=300)
    sel.fill(scores, None)
    taken = [str(labels[r]) for r in sel.taken]
    assert len(taken) == 60
    for lab in ("a", "b", "rare"):
        assert taken.count(lab) >= 12
        best = sorted((r for r in range(n_rows) if labels[r] == lab), key=lambda r: -scores[r])[:12]
        assert set(best) <= set(sel.taken)  # each label's quota is its best rows
    assert report.taken == {"a": 12, "b": 12, "rare": 12} and report.seen["rare"] == 30
    assert [s.split(":")[0] for s in report.shortfalls()] == ["label 'absent'"]
