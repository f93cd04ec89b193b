"""Choose the default method's weights and thresholds on one half of the suite, report the other.

Coordinate ascent over small value lists (every ``rebase_parts`` weight and selection setting in
turn, a few rounds, from the shipped defaults), each setting scored on the tuning half only by

    objective = mean precision + 0.5 * worst precision
                - 2 * (sum of label shares short of 15%) - 2 * (sum of source shares over 60%)

(the issue's done-when, as penalties). A move must gain at least ``MIN_GAIN``: smaller gains are
rows shuffling in a task or two, and following them fits the half, not the task. The chosen setting is then run on the held-out half, and
the content-coverage threshold is set between the far and the covered tasks of the tuning half
and checked on the held-out half. Run it both ways (``--tune A`` and ``--tune B``):

    python benchmarks/retrieval_tune.py --datastore /work/stores/full1000 --tune A --out tuneA.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TASKFORGE_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import MAX_SHARE, Outcome, label_shares, labels_available, precision
from retrieval_suite import SUITE, SuiteTask

LABEL_SHARE = 0.15
MIN_GAIN = 0.005  # ~45 rows of one task's top 1,000 in a 9-task half

SPACE: dict[str, list[Any]] = {  # selection first: it decides the gross failures (one source, no label)
    "max_source_share": [0.3, 0.4, 0.5, 0.6],
    "share_margin": [0.25, 0.5, 1.0, math.inf],
    "label_share": [0.15, 0.2, 0.3],
    "label_bonus": [0.0, 0.5, 1.0],
    "label_reach": [1.0, 2.0, math.inf],
    "w_answer": [0.0, 0.25, 0.5],
    "w_dataset": [0.5, 1.0, 1.5],
    "shorter": [0.05, 0.1, 0.2],
    "longer": [0.0, 0.02],
    "per_example": [True, False],
    "names": [0.0, 0.1, 0.2],
}
LENGTH_KEYS = ("shorter", "longer", "answer_length", "per_example", "names")


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


_COMPONENTS: dict[tuple[Any, ...], dict[str, Any]] = {}


def cached_parts(store: Any, q: Any, n: int, block: int = 1 << 16, **w: Any) -> Any:
    """``rebase_parts`` with its components cached per task and length setting (weights only mix them)."""
    import numpy as np

    from taskforge._retrieval import Scored
    from taskforge._retrieval._methods import rebase_parts

    key = (q.instruction.tobytes(), store.n_rows, *(w[k] for k in LENGTH_KEYS), w["centre_descriptions"])
    if key not in _COMPONENTS:
        if len(_COMPONENTS) > 2000:
            _COMPONENTS.clear()
        _COMPONENTS[key] = rebase_parts(store, q, n, block, **w).components
    comps = _COMPONENTS[key]
    weights = {"query": w["w_query"], "answer": w["w_answer"], "dataset": w["w_dataset"]}
    final = sum(wt * comps[k] for k, wt in weights.items()) / np.float32(sum(weights.values()))
    final = np.asarray(final, dtype=np.float32)
    return Scored({**comps, "final": final}, [(final, None)])


def run_task(
    st: SuiteTask,
    ds: Any,
    n: int,
    weights: dict[str, Any],
    selection: dict[str, Any],
    resolvers: dict[str, Any],
) -> Outcome:
    from functools import partial

    from taskforge._retrieval import METHODS, retrieve

    METHODS["tune"] = partial(cached_parts, **weights)
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
    tasks: list[SuiteTask],
    ds: Any,
    n: int,
    weights: dict[str, Any],
    selection: dict[str, Any],
    resolvers: dict[str, Any],
) -> list[Outcome]:
    return [run_task(st, ds, n, weights, selection, resolvers) for st in tasks]


def make_resolvers(tasks: list[SuiteTask], ds: Any) -> dict[str, Any]:
    from taskforge._pipeline import label_resolver

    return {st.name: label_resolver(st.task(), ds) for st in tasks if st.labels}


def main() -> None:
    from taskforge._datastore import Datastore
    from taskforge._retrieval._methods import PARTS, SELECTION

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datastore", required=True)
    ap.add_argument("--tune", choices=["A", "B"], required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write the choice and every figure as JSON")
    args = ap.parse_args()
    ds = CachedStore(Datastore.open(args.datastore))
    held = "B" if args.tune == "A" else "A"
    tune_tasks = [t for t in SUITE if t.half == args.tune]
    held_tasks = [t for t in SUITE if t.half == held]
    resolvers = make_resolvers(tune_tasks + held_tasks, ds)
    setting: dict[str, Any] = {**PARTS, **SELECTION["rebase_parts"]}
    log: dict[str, Any] = {"tune": args.tune, "start": dict(setting), "steps": []}

    def score(cfg: dict[str, Any]) -> tuple[float, dict[str, float]]:
        w = {k: v for k, v in cfg.items() if k in PARTS}
        sel = {k: v for k, v in cfg.items() if k not in PARTS}
        return objective(evaluate(tune_tasks, ds, args.n, w, sel, resolvers))

    t0 = time.perf_counter()
    best_value, best_parts = score(setting)
    print(f"start {best_value:.3f} {json.dumps({k: round(v, 3) for k, v in best_parts.items()})}", flush=True)
    for rnd in range(args.rounds):
        changed = False
        for key, values in SPACE.items():
            for v in values:
                if v == setting[key]:
                    continue
                value, parts = score({**setting, key: v})
                print(
                    f"round {rnd} {key}={v}: {value:.3f} {json.dumps({k: round(x, 3) for k, x in parts.items()})}",
                    flush=True,
                )
                if value >= best_value + MIN_GAIN:
                    best_value, best_parts, setting, changed = value, parts, {**setting, key: v}, True
                    log["steps"].append({"round": rnd, key: str(v), "objective": value, **parts})
            print(
                f"== {key} = {setting[key]} ({best_value:.3f}, {time.perf_counter() - t0:.0f} s)", flush=True
            )
        if not changed:
            break

    weights = {k: v for k, v in setting.items() if k in PARTS}
    selection = {k: v for k, v in setting.items() if k not in PARTS}
    tuned = evaluate(tune_tasks, ds, args.n, weights, selection, resolvers)
    held_out = evaluate(held_tasks, ds, args.n, weights, selection, resolvers)
    threshold, card_threshold = coverage_threshold(tuned)
    log.update(
        setting={k: str(v) for k, v in setting.items()},
        content_threshold=threshold,
        card_content_threshold=card_threshold,
    )
    for name, outs in (("tuned half " + args.tune, tuned), ("held-out half " + held, held_out)):
        value, parts = objective(outs)
        print(f"\n{name}: objective {value:.3f} {json.dumps({k: round(v, 3) for k, v in parts.items()})}")
        for o in outs:
            ratio = o.confidence.get("ratio", float("nan"))
            lab = " ".join(f"{k}={v:.2f}" for k, v in o.label_shares.items())
            flag = "WARN" if warns(o, threshold, card_threshold) else ""
            print(
                f"  {o.task:20s} p={o.precision:.2f} share={o.max_share:.2f}/{o.n_sources} ratio={ratio:.2f} {flag} {lab}"
            )
        log[name] = [o.__dict__ for o in outs]
    print(f"\nsetting: {setting}")
    if args.out:
        args.out.write_text(json.dumps(log, indent=1, default=str))


def coverage_threshold(outs: list[Outcome]) -> tuple[float, float]:
    """The content-ratio thresholds: alone, midway between the far tasks' highest ratio and the
    covered tasks' lowest; with a weak card, the same over the tasks whose card is weak."""

    def midway(group: list[Outcome], what: str) -> float:
        far = [o.confidence.get("ratio", math.nan) for o in group if o.precision != o.precision]
        covered = [o.confidence.get("ratio", math.nan) for o in group if o.precision == o.precision]
        far, covered = [r for r in far if r == r], [r for r in covered if r == r]
        hi, lo = max(far, default=math.nan), min(covered, default=math.nan)
        print(f"content ratio{what}: far tasks up to {hi:.3f}, covered tasks from {lo:.3f}")
        return (hi + lo) / 2

    weak = [o for o in outs if o.confidence["description"] < CARD_BELOW]
    return midway(outs, ""), midway(weak, " (weak card)")


CARD_BELOW = 0.225  # taskforge._retrieval._coverage.WARN_BELOW


def warns(o: Outcome, threshold: float, card_threshold: float) -> bool:
    """The warning rule of ``low_confidence_warning`` with these thresholds."""
    ratio = o.confidence.get("ratio", math.nan)
    if o.confidence["description"] < CARD_BELOW and not (ratio == ratio and ratio >= card_threshold):
        return True
    return ratio == ratio and ratio < threshold


if __name__ == "__main__":
    main()
