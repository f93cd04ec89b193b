"""Choose the default method's weights and thresholds on one half of the suite, report the other.

Two stages over small grids (``rebase_parts`` weights with the selection settings fixed, then the
selection settings with the chosen weights), each scored on the tuning half only by

    objective = mean precision + 0.5 * worst precision
                - 2 * (sum of label shares short of 15%) - 2 * (sum of source shares over 60%)

(the issue's done-when, as penalties). The chosen setting is then run on the held-out half, and
the content-coverage threshold is set between the far and the covered tasks of the tuning half
and checked on the held-out half. Run it both ways (``--tune A`` and ``--tune B``):

    python benchmarks/retrieval_tune.py --datastore /work/stores/full1000 --tune A
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TASKFORGE_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import MAX_SHARE, Outcome, label_shares, labels_available, precision  # noqa: E402
from retrieval_suite import SUITE, SuiteTask  # noqa: E402

LABEL_SHARE = 0.15

WEIGHT_GRID = {
    "w_answer": [0.0, 0.25, 0.5],
    "w_dataset": [0.5, 1.0, 2.0],
    "shorter": [0.0, 0.05, 0.1, 0.2],
    "longer": [0.0, 0.02],
    "answer_length": [True, False],
}
SELECTION_GRID = {
    "max_source_share": [0.35, 0.5, 0.6],
    "share_margin": [0.02, 0.05, 0.1, math.inf],
    "label_share": [0.15, 0.2, 0.25, 0.33],
}


class CachedStore:
    """The datastore with fetched rows kept in memory (a tuning run fetches the same rows often)."""

    def __init__(self, ds: Any) -> None:
        self._ds = ds
        self._rows: dict[int, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)

    def get_rows(self, rows: Any) -> list[dict[str, Any]]:
        rows = [int(r) for r in rows]
        todo = [r for r in rows if r not in self._rows]
        if todo:
            self._rows.update(zip(todo, self._ds.get_rows(todo), strict=True))
        return [dict(self._rows[r]) for r in rows]


def grid(spec: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(spec)
    out = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*spec.values())]
    # the answer's length term is moot without length terms
    return [c for c in out if c.get("answer_length", True) or c.get("shorter") or c.get("longer")]


def run_task(
    st: SuiteTask, ds: Any, n: int, weights: dict[str, Any], selection: dict[str, Any], resolvers: dict[str, Any]
) -> Outcome:
    from functools import partial

    from taskforge._retrieval import METHODS, retrieve
    from taskforge._retrieval._methods import rebase_parts

    METHODS["tune"] = partial(rebase_parts, **weights)
    task = st.task()
    res = retrieve(task, ds, n=n, method="tune", labels_of=resolvers.get(st.name), show=False, **selection)
    names = {s.name for s in ds.sources}
    rel = st.relevant & names
    per = res.per_source
    o = Outcome(
        st.name,
        "tune",
        precision(res.items, rel) if rel else float("nan"),
        max_share=max(per.values()) / max(1, len(res.items)) if per else 0.0,
        n_sources=len(per),
        relevant_in_store=len({s for s in rel if not task.is_excluded(s)}),
        warned=res.warning is not None,
        confidence={**res.coverage, "description": res.confidence},
        n=n,
    )
    if st.labels and st.label_sources:
        o.label_shares = label_shares(st, res.items)
        o.label_available = labels_available(st, ds)
    return o


def objective(outs: list[Outcome]) -> tuple[float, dict[str, float]]:
    covered = [o for o in outs if o.precision == o.precision]
    prec = [o.precision for o in covered]
    mean, worst = sum(prec) / max(1, len(prec)), min(prec, default=0.0)
    label_gap = sum(
        max(0.0, LABEL_SHARE - s) for o in covered for lab, s in o.label_shares.items() if o.label_ok(lab)
    )
    share_gap = sum(max(0.0, o.max_share - MAX_SHARE) for o in covered if o.relevant_in_store >= 3)
    value = mean + 0.5 * worst - 2 * label_gap - 2 * share_gap
    return value, {"mean": mean, "worst": worst, "label_gap": label_gap, "share_gap": share_gap}


def evaluate(
    tasks: list[SuiteTask], ds: Any, n: int, weights: dict[str, Any], selection: dict[str, Any], resolvers: dict[str, Any]
) -> list[Outcome]:
    return [run_task(st, ds, n, weights, selection, resolvers) for st in tasks]


def make_resolvers(tasks: list[SuiteTask], ds: Any) -> dict[str, Any]:
    from taskforge._transform import Mapper

    return {st.name: Mapper(st.task(), embedder=ds.embedder()) for st in tasks if st.labels}


def main() -> None:
    from taskforge._datastore import Datastore
    from taskforge._retrieval._methods import PARTS, SELECTION

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datastore", required=True)
    ap.add_argument("--tune", choices=["A", "B"], required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--out", type=Path, help="write the choice and every figure as JSON")
    args = ap.parse_args()
    ds = CachedStore(Datastore.open(args.datastore))
    held = "B" if args.tune == "A" else "A"
    tune_tasks = [t for t in SUITE if t.half == args.tune]
    held_tasks = [t for t in SUITE if t.half == held]
    resolvers = make_resolvers(tune_tasks + held_tasks, ds)
    weights = {k: v for k, v in PARTS.items() if k != "w_query"}
    selection = dict(SELECTION["rebase_parts"])
    log: dict[str, Any] = {"tune": args.tune, "stages": []}

    for stage, spec in (("weights", WEIGHT_GRID), ("selection", SELECTION_GRID)):
        best: tuple[float, dict[str, Any], dict[str, float]] | None = None
        t0 = time.perf_counter()
        for cfg in grid(spec):
            w = {**weights, **cfg} if stage == "weights" else weights
            sel = {**selection, **cfg} if stage == "selection" else selection
            value, parts = objective(evaluate(tune_tasks, ds, args.n, w, sel, resolvers))
            if best is None or value > best[0] + 1e-9:
                best = (value, cfg, parts)
            print(f"{stage} {json.dumps(cfg, default=str)} -> {value:.3f} {json.dumps({k: round(v, 3) for k, v in parts.items()})}", flush=True)
        assert best is not None
        if stage == "weights":
            weights = {**weights, **best[1]}
        else:
            selection = {**selection, **best[1]}
        log["stages"].append({"stage": stage, "chosen": best[1], "objective": best[0], "parts": best[2], "seconds": time.perf_counter() - t0})
        print(f"== {stage}: chose {best[1]} ({best[0]:.3f}) in {time.perf_counter() - t0:.0f} s", flush=True)

    tuned = evaluate(tune_tasks, ds, args.n, weights, selection, resolvers)
    held_out = evaluate(held_tasks, ds, args.n, weights, selection, resolvers)
    threshold = coverage_threshold(tuned)
    log.update(weights=weights, selection={k: str(v) for k, v in selection.items()}, content_threshold=threshold)
    for name, outs in (("tuned half " + args.tune, tuned), ("held-out half " + held, held_out)):
        value, parts = objective(outs)
        print(f"\n{name}: objective {value:.3f} {json.dumps({k: round(v, 3) for k, v in parts.items()})}")
        for o in outs:
            ratio = o.confidence.get("ratio", float("nan"))
            lab = " ".join(f"{k}={v:.2f}" for k, v in o.label_shares.items())
            flag = "WARN" if ratio < threshold or o.confidence["description"] < 0.225 else ""
            print(f"  {o.task:20s} p={o.precision:.2f} share={o.max_share:.2f}/{o.n_sources} ratio={ratio:.2f} {flag} {lab}")
        log[name] = [o.__dict__ for o in outs]
    if args.out:
        args.out.write_text(json.dumps(log, indent=1, default=str))


def coverage_threshold(outs: list[Outcome]) -> float:
    """Midway between the far tasks' highest content ratio and the covered tasks' lowest."""
    far = [o.confidence.get("ratio", math.nan) for o in outs if o.precision != o.precision]
    covered = [o.confidence.get("ratio", math.nan) for o in outs if o.precision == o.precision]
    hi, lo = max(far, default=math.nan), min(covered, default=math.nan)
    print(f"content ratio: far tasks up to {hi:.3f}, covered tasks from {lo:.3f}")
    return (hi + lo) / 2


if __name__ == "__main__":
    main()
