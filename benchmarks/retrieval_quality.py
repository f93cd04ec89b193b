"""Retrieval quality: does each method find the right sources, labels and variety? 18 tasks + 4 far ones.

The suite (tasks, relevance criterion, hand label tables, the fixed halves A/B) is in
``retrieval_suite.py`` beside this script. For each task and method the script measures, on the
top N (default 1,000):

- **precision**: the share of items from sources a careful person would call relevant;
- **labels** (classification tasks): the share of the smallest task label among the items,
  counting rows whose own label maps onto it (hand tables) from relevant sources, and whether
  the store holds enough such rows for 15% (``-`` when it does not);
- **diversity**: the largest single-source share and the number of sources;
- **warning**: whether ``retrieve`` warned that nothing in the store covers the task (far tasks
  should warn, covered ones should not).

``--half A`` / ``--half B`` runs one half (weights are chosen on one half and reported on the
other: see ``retrieval_tune.py``). The store used in the README: every shared source, at most
1,000 rows each (73 sources, 40,049 rows, 144,515 vectors):

    taskforge datastore build ../shared/datastore-sources/* --out /work/stores/full1000 --max-rows 1000
    python benchmarks/retrieval_quality.py --datastore /work/stores/full1000 --half B --markdown
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TASKFORGE_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_suite import SUITE, SuiteTask

LABEL_SHARE = 0.15  # done-when: each label in >= 15% of the top N when the store holds such rows
MAX_SHARE = 0.60  # done-when: no source above 60% when >= 3 relevant sources exist


@dataclass
class Outcome:
    """One (task, method) run, measured."""

    task: str
    method: str
    precision: float
    label_shares: dict[str, float] = field(default_factory=dict)
    label_available: dict[str, int] = field(default_factory=dict)
    max_share: float = 0.0
    n_sources: int = 0
    relevant_in_store: int = 0
    warned: bool = False
    confidence: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def min_label(self) -> float | None:
        """Smallest share among labels the store holds enough rows of (None: not a labelled task)."""
        shares = [s for lab, s in self.label_shares.items() if self.label_ok(lab)]
        return min(shares) if shares else None

    def label_ok(self, label: str) -> bool:
        return self.label_available.get(label, 0) >= LABEL_SHARE * self.n

    n: int = 1000


def precision(items: list[dict[str, Any]], relevant: set[str]) -> float:
    return sum(it["source"] in relevant for it in items) / max(1, len(items))


def label_shares(st: SuiteTask, items: list[dict[str, Any]]) -> dict[str, float]:
    """Share of the items per task label (rows of relevant sources whose own label maps onto it)."""
    counts = dict.fromkeys(st.labels or [], 0)
    for it in items:
        if it["source"] in st.relevant:
            lab = st.row_label(it)
            if lab is not None:
                counts[lab] += 1
    return {k: v / max(1, len(items)) for k, v in counts.items()}


_AVAILABLE: dict[tuple[str, str], dict[str, int]] = {}


def labels_available(st: SuiteTask, ds: Any) -> dict[str, int]:
    """Rows per task label the store holds in allowed relevant sources (what 15% can be asked of)."""
    key = (str(ds.path), st.name)
    if key not in _AVAILABLE:
        import numpy as np

        counts = dict.fromkeys(st.labels or [], 0)
        task = st.task()
        for s in ds.sources:
            if s.name in st.label_sources and s.name in st.relevant and not task.is_excluded(s.name):
                rows = ds.get_rows(np.arange(s.row_start, s.row_start + s.n_rows))
                for it in rows:
                    lab = st.row_label(it)
                    if lab is not None:
                        counts[lab] += 1
        _AVAILABLE[key] = counts
    return _AVAILABLE[key]


_RESOLVERS: dict[tuple[str, str], Any] = {}


def resolver(task: Any, ds: Any) -> Any:
    """The label resolver the pipeline and the CLI pass (the mapper), one per task and store."""
    from taskforge._pipeline import label_resolver

    key = (str(getattr(ds, "path", id(ds))), task.name)
    if key not in _RESOLVERS:
        _RESOLVERS[key] = label_resolver(task, ds)
    return _RESOLVERS[key]


def measure(st: SuiteTask, ds: Any, method: str, n: int, **options: Any) -> Outcome:
    from taskforge._retrieval import retrieve

    t0 = time.perf_counter()
    task = st.task()
    if "labels_of" not in options:
        options["labels_of"] = resolver(task, ds)
    res = retrieve(task, ds, n=n, method=method, show=False, **options)
    names = {s.name for s in ds.sources}
    rel = st.relevant & names
    per = res.per_source
    out = Outcome(
        st.name,
        method,
        precision(res.items, rel) if rel else float("nan"),
        max_share=max(per.values()) / max(1, len(res.items)) if per else 0.0,
        n_sources=len(per),
        relevant_in_store=len(rel - {s for s in names if st.task().is_excluded(s)}),
        warned=res.warning is not None,
        confidence={**res.coverage, "description": res.confidence},
        seconds=time.perf_counter() - t0,
        n=n,
    )
    if st.labels and st.label_sources:
        out.label_shares = label_shares(st, res.items)
        out.label_available = labels_available(st, ds)
    out.top_sources = list(per.items())[:6]  # type: ignore[attr-defined]
    return out


def register_ablations() -> None:
    """Variants shown next to the shipped methods (registered for this script only)."""
    from functools import partial

    from taskforge._retrieval import METHODS, rebase_plus

    # the paper's equal weights with centred descriptions: what centring alone does
    METHODS.setdefault("rebase_centred", partial(rebase_plus, centre_descriptions=True))


def register_held_out(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """For each half, the selection settings chosen on the *other* half; its weights are registered
    as the method ``held_out_<half>`` (``rebase_parts`` with those weights)."""
    import json
    from functools import partial

    from taskforge._retrieval import METHODS
    from taskforge._retrieval._methods import PARTS, rebase_parts

    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        log = json.loads(path.read_text())
        report = "B" if log["tune"] == "A" else "A"
        chosen = {k: _value(v) for k, v in log["setting"].items()}
        weights = {k: v for k, v in chosen.items() if k in PARTS}
        METHODS[f"held_out_{report}"] = partial(rebase_parts, **weights)
        out[report] = {k: v for k, v in chosen.items() if k not in PARTS}
    return out


def _value(text: str) -> Any:
    """A setting as retrieval_tune.py writes it (str of a bool / float)."""
    if text in ("True", "False"):
        return text == "True"
    return float(text)


def summarise(outs: list[Outcome]) -> dict[str, float]:
    """Mean / worst precision, worst label share, largest source share where >= 3 relevant sources."""
    prec = [o.precision for o in outs if o.precision == o.precision]
    labs = [o.min_label for o in outs if o.min_label is not None]
    shares = [o.max_share for o in outs if o.relevant_in_store >= 3 and o.precision == o.precision]
    return {
        "mean": sum(prec) / max(1, len(prec)),
        "min": min(prec) if prec else float("nan"),
        "min_label": min(labs) if labs else float("nan"),
        "max_share": max(shares) if shares else float("nan"),
    }


def main() -> None:
    from taskforge import Datastore
    from taskforge._console import console

    register_ablations()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datastore", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--methods", default="rebase,rebase_tuned,rebase_parts")
    ap.add_argument("--half", default="all", choices=["A", "B", "all"])
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: the half)")
    ap.add_argument("--show-sources", action="store_true", help="print each run's top sources")
    ap.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    ap.add_argument(
        "--held-out",
        default="",
        help="comma-separated retrieval_tune.py --out files: adds a 'held_out' column that runs each "
        "task with the setting chosen on the other half (the figures the README reports)",
    )
    args = ap.parse_args()
    ds = Datastore.open(args.datastore)
    methods = [m for m in args.methods.split(",") if m]
    held_out = register_held_out([Path(p) for p in args.held_out.split(",") if p])
    if held_out:
        methods.append("held_out")
    tasks = [t for t in SUITE if (t.half == args.half or args.half == "all")]
    if args.tasks:
        tasks = [t for t in SUITE if t.name in args.tasks.split(",")]

    results: dict[str, list[Outcome]] = {m: [] for m in methods}
    for st in tasks:
        for m in methods:
            if m == "held_out":
                setting = held_out.get(st.half)
                if setting is None:
                    raise SystemExit(f"--held-out: no setting tuned on the half other than {st.half}")
                o = measure(st, ds, f"held_out_{st.half}", args.n, **setting)
                o.method = m
            else:
                o = measure(st, ds, m, args.n)
            results[m].append(o)
            if args.show_sources:
                top = ", ".join(f"{s} {c}" for s, c in o.top_sources)  # type: ignore[attr-defined]
                lab = " ".join(f"{k}={v:.2f}" for k, v in o.label_shares.items())
                console.print(f"{st.name:20s} {m:14s} p={o.precision:.2f} {o.seconds:5.1f}s {lab}  {top}")
    console.print(table(tasks, results, methods, args.n))
    if args.markdown:
        print(markdown(tasks, results, methods))


def _cell(o: Outcome) -> str:
    p = "-" if o.precision != o.precision else f"{o.precision:.2f}"
    lab = "" if o.min_label is None else f" L{o.min_label:.2f}"
    w = " W" if o.warned else ""
    ratio = o.confidence.get("ratio", float("nan"))
    return f"{p}{lab} S{o.max_share:.2f}/{o.n_sources} R{ratio:.2f}{w}"


def table(tasks: list[SuiteTask], results: dict[str, list[Outcome]], methods: list[str], n: int) -> Any:
    from taskforge._console import summary_table

    rows = []
    for i, st in enumerate(tasks):
        rows.append([f"{st.half} {st.name}", *[_cell(results[m][i]) for m in methods]])
    for key in ("mean", "min", "min_label", "max_share"):
        rows.append([key, *[f"{summarise(results[m])[key]:.2f}" for m in methods]])
    title = f"Top {n}: precision, L smallest label share, S largest source share / sources, W warned"
    return summary_table(title, ["task", *methods], rows)


def markdown(tasks: list[SuiteTask], results: dict[str, list[Outcome]], methods: list[str]) -> str:
    """Precision per task (and the label/share figures) as a markdown table for the README."""
    lines = ["| task | half | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for i, st in enumerate(tasks):
        cells = []
        for m in methods:
            o = results[m][i]
            if st.shape == "far":
                cells.append("warned" if o.warned else "**no warning**")
                continue
            c = f"{o.precision:.2f}"
            if o.min_label is not None:
                c += f" (labels >= {o.min_label:.2f})"
            cells.append(c)
        lines.append(f"| {st.kind} | {st.half} | " + " | ".join(cells) + " |")
    for key, label in (
        ("mean", "mean precision"),
        ("min", "worst task"),
        ("min_label", "smallest label share"),
        ("max_share", "largest source share (>= 3 relevant)"),
    ):
        lines.append(
            f"| **{label}** | | " + " | ".join(f"{summarise(results[m])[key]:.2f}" for m in methods) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
