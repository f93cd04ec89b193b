"""Expert quality: does the expert taskforge trains beat what the user had without it?

Six classification tasks built from the shared sources (benchmarks/_eq_tasks.py): NLI
(SciTail), sentiment (Customer Reviews), topic (AG News), yes/no QA over a passage (BoolQ),
paraphrase (QQP) and question topic (StackOverflow titles, standing in for TREC, whose shared
copy has no labels). For each task and k (3 and 8 examples drawn from the target with a fixed
seed) the suite writes the task YAML a user would write (every copy of the target excluded)
and a held-out eval set of up to --eval-n target rows, then scores, side by side:

- ``majority``   always answering the eval set's most frequent label;
- ``zero_shot``  embedding similarity (bundled MiniLM) of the input to the label descriptions;
- ``setfit``     SetFit (the ``setfit`` library, its defaults, bundled MiniLM) on the k examples;
- ``examples``   the taskforge expert trained on the k examples alone;
- ``taskforge``  ``taskforge run TASK --datastore STORE --mapper -n N --train --eval EVAL``
                 (the CLI, as a user runs it), scored from the run's own eval;
- ``llm``        the same with ``--llm SPEC`` instead of ``--mapper`` (only with --llm);
- ``upper``      the taskforge expert trained on hand-mapped rows of the relevant sources
                 (balanced, --n rows, the k examples included): what careful manual work gives.

Each cell is accuracy, macro-F1 and the share of the most-predicted label. Results are cached
per (task, k, system, settings and code hash) under --work, so a re-run only trains what
changed. Defaults are chosen on one half of the tasks (--half A / B) and reported on the other.

    python benchmarks/expert_quality.py --store /work/stores/full1000 --work DIR [--tasks nli,boolq]
        [--k 3,8] [--systems majority,setfit,taskforge] [--expert-config cfg.yaml] [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import yaml

from _eq_tasks import MAX_K, SRC, TASKS, Row, TaskDef, balanced, draw_examples, eval_split, label_of
from taskforge._io import atomic_write_json, stable_hash, write_jsonl
from taskforge._task import Task

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("majority", "zero_shot", "setfit", "examples", "taskforge", "llm", "upper")
LABELS = {
    "majority": "majority",
    "zero_shot": "zero-shot",
    "setfit": "SetFit-k",
    "examples": "examples only",
    "taskforge": "taskforge",
    "llm": "taskforge (LLM)",
    "upper": "upper ref.",
}


# ---- metrics ---------------------------------------------------------------------------------------------
def metrics(golds: Sequence[str], preds: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    top, top_n = Counter(preds).most_common(1)[0]
    return {
        "accuracy": sum(g == p for g, p in zip(golds, preds, strict=True)) / len(golds),
        "macro_f1": float(f1_score(golds, preds, labels=list(labels), average="macro", zero_division=0)),
        "top_label": top,
        "top_share": top_n / len(preds),
        "n": len(golds),
    }


# ---- one (task, k) case ------------------------------------------------------------------------------------
class Case:
    """A task at one k: its examples, eval rows, task YAML and files under ``work``."""

    def __init__(self, td: TaskDef, k: int, args: argparse.Namespace) -> None:
        self.td, self.k, self.args = td, k, args
        rows = td.target()
        self.examples = draw_examples(rows, k, args.seed)
        self.eval_rows = eval_split(rows, args.eval_n, args.seed)
        self.dir = args.work / f"{td.name}-k{k}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.task_dict = {
            "name": f"{td.name}-k{k}",
            "instruction": td.instruction,
            "examples": [{"input": e["input"], "output": e["output"]} for e in self.examples],
            "output_schema": {td.label_field: {"labels": td.labels}},
            "exclude_sources": td.exclude,
        }
        if td.transform_defaults:
            self.task_dict["defaults"] = {"transform": td.transform_defaults}
        self.task = Task.from_dict(self.task_dict)
        self.task_file = self.dir / "task.yaml"
        self.eval_file = self.dir / "eval.jsonl"
        _write_if_changed(self.task_file, yaml.safe_dump(self.task_dict, sort_keys=False, allow_unicode=True))
        _write_if_changed(
            self.eval_file,
            "".join(json.dumps({"input": r["input"], "output": r["output"]}) + "\n" for r in self.eval_rows),
        )
        self.data_hash = stable_hash([self.task_dict, [r["input"] for r in self.eval_rows]])

    @property
    def golds(self) -> list[str]:
        return [label_of(r) for r in self.eval_rows]


def _write_if_changed(path: Path, text: str) -> None:
    """Keep the file (and its mtime/fingerprint) when the content is the same, so runs reuse stages."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_CODE_HASHES: dict[tuple[str, ...], str] = {}


def code_hash(*parts: str) -> str:
    """Hash of the source files under src/taskforge/<part> (what a system's result depends on).

    Taken once per process, right after taskforge is imported (see ``main``), so a file edited
    while the suite runs cannot label results of the code already loaded.
    """
    if parts in _CODE_HASHES:
        return _CODE_HASHES[parts]
    h = hashlib.sha256()
    for part in parts:
        for p in sorted((REPO / "src" / "taskforge" / part).rglob("*")):
            if p.is_file() and p.suffix in (".py", ".j2", ".yaml", ".json"):
                h.update(str(p.relative_to(REPO)).encode())
                h.update(p.read_bytes())
    _CODE_HASHES[parts] = h.hexdigest()[:16]
    return _CODE_HASHES[parts]


# ---- systems ---------------------------------------------------------------------------------------------
def sys_majority(case: Case) -> dict[str, Any]:
    top = Counter(case.golds).most_common(1)[0][0]
    return {"metrics": metrics(case.golds, [top] * len(case.golds), case.td.labels)}


def sys_zero_shot(case: Case) -> dict[str, Any]:
    from taskforge._embed import Embedder

    emb = Embedder.load()
    labels = case.td.labels
    lab_vecs = emb.encode([f"{lab}: {case.td.descriptions.get(lab, lab)}" for lab in labels])
    vecs = emb.encode([Task.text_of(r["input"]) for r in case.eval_rows])
    preds = [labels[i] for i in (vecs @ lab_vecs.T).argmax(1)]
    return {"metrics": metrics(case.golds, preds, labels)}


def sys_setfit(case: Case) -> dict[str, Any]:
    """SetFit with its defaults (contrastive pairs, 1 epoch, logistic-regression head) on the k examples."""
    import tempfile

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from taskforge._experts._cpu import bundled_encoder_path

    labels = case.td.labels
    model = SetFitModel.from_pretrained(bundled_encoder_path(), labels=labels)
    train = Dataset.from_dict(
        {
            "text": [Task.text_of(e["input"]) for e in case.examples],
            "label": [labels.index(label_of(e)) for e in case.examples],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, seed=case.args.seed, save_strategy="no", report_to="none", show_progress_bar=False
        )
        t0 = time.perf_counter()
        Trainer(model=model, args=targs, train_dataset=train).train()
        seconds = time.perf_counter() - t0
    preds = [str(p) for p in model.predict([Task.text_of(r["input"]) for r in case.eval_rows])]
    return {"metrics": metrics(case.golds, preds, labels), "train_seconds": round(seconds, 1)}


def _train_and_eval(case: Case, rows: list[Row] | None, out: Path) -> dict[str, Any]:
    """Train the taskforge expert on ``rows`` (None: the examples alone, as eval's baseline does)."""
    from taskforge._experts import evaluate, train_expert
    from taskforge._experts._train import examples_only_expert

    settings = dict(case.args.expert_settings)
    settings.pop("enabled", None)
    t0 = time.perf_counter()
    if rows is None:
        res = examples_only_expert(case.task, {"settings": settings}, out)
        rows = [{"input": e["input"], "output": e["output"]} for e in case.examples]
    else:
        res = train_expert(case.task, rows, out, **settings)
    seconds = time.perf_counter() - t0
    ev = evaluate(out, case.task, case.eval_file, baselines=False)
    preds = [p["answer"] for p in ev.predictions]
    return {
        "metrics": metrics(case.golds, preds, case.td.labels),
        "train_seconds": round(seconds, 1),
        "n_train": res.n_samples,
        "train_labels": dict(Counter(label_of(r) for r in rows)),
    }


def sys_examples(case: Case) -> dict[str, Any]:
    return _train_and_eval(case, None, case.dir / "examples_expert")


def sys_upper(case: Case) -> dict[str, Any] | None:
    if case.td.reference is None:
        return None
    rows = balanced(case.td.reference(), case.args.n, case.args.seed)
    rows = [*rows, *({"input": e["input"], "output": e["output"]} for e in case.examples)]
    res = _train_and_eval(case, rows, case.dir / "upper_expert")
    res["sources"] = dict(Counter(r.get("source", "examples") for r in rows))
    return res


def _run_pipeline(case: Case, transform: list[str], label: str) -> dict[str, Any]:
    """``taskforge run`` as a user runs it; the train settings go in through --config."""
    args = case.args
    cfg = case.dir / f"{label}-config.yaml"
    _write_if_changed(cfg, yaml.safe_dump({"train": dict(args.expert_settings)}, sort_keys=True))
    run_key = stable_hash([str(args.store), args.n, transform, code_hash(".")])
    run_dir = case.dir / f"{label}-run-{run_key[:8]}"
    cmd = [
        str(Path(sys.executable).with_name("taskforge")),
        "run",
        str(case.task_file),
        "--datastore",
        str(args.store),
        *transform,
        "-n",
        str(args.n),
        "--out",
        str(run_dir),
        "--train",
        "--eval",
        str(case.eval_file),
        "--config",
        str(cfg),
        "--no-report",
    ]
    t0 = time.perf_counter()
    log = run_dir.with_suffix(".log")
    with log.open("w", encoding="utf-8") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return {"error": f"taskforge run exited {proc.returncode}: {' | '.join(tail)}", "log": str(log)}
    results = json.loads((run_dir / "eval" / "results.json").read_text(encoding="utf-8"))
    preds = [
        json.loads(line)["answer"]
        for line in (run_dir / "eval" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    counts = {
        s: json.loads((run_dir / s / "record.json").read_text())["counts"] for s in ("retrieve", "filter")
    }
    kept_labels = Counter(
        label_of(json.loads(line)) for line in (run_dir / "filter" / "kept.jsonl").open(encoding="utf-8")
    )
    return {
        "metrics": metrics(case.golds, preds, case.td.labels),
        "seconds": round(time.perf_counter() - t0, 1),
        "run_dir": str(run_dir),
        "retrieved_per_source": counts["retrieve"].get("per_source"),
        "kept": counts["filter"].get("out"),
        "kept_labels": dict(kept_labels),
        "baselines": results.get("baselines"),
        "warnings": results.get("warnings"),
    }


def sys_taskforge(case: Case) -> dict[str, Any]:
    return _run_pipeline(case, ["--mapper"], "mapper")


def sys_llm(case: Case) -> dict[str, Any] | None:
    if not case.args.llm:
        return None
    extra = ["--base-url", case.args.llm_base_url] if case.args.llm_base_url else []
    return _run_pipeline(case, ["--llm", case.args.llm, *extra], "llm")


RUNNERS: dict[str, Callable[[Case], dict[str, Any] | None]] = {
    "majority": sys_majority,
    "zero_shot": sys_zero_shot,
    "setfit": sys_setfit,
    "examples": sys_examples,
    "taskforge": sys_taskforge,
    "llm": sys_llm,
    "upper": sys_upper,
}


def cache_key(case: Case, system: str) -> str:
    a = case.args
    parts: list[Any] = [system, case.data_hash, a.seed]
    if system in ("examples", "upper", "taskforge", "llm"):
        parts += [a.expert_settings, code_hash("_experts")]
    if system == "upper":
        parts += [a.n]
    if system in ("taskforge", "llm"):
        parts += [str(a.store), a.n, code_hash("."), a.llm, _store_id(a.store)]
    if system == "setfit":
        import setfit

        parts += [setfit.__version__]
    return stable_hash(parts)


def _store_id(store: Path) -> str:
    manifest = store / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest()[:16] if manifest.exists() else "-"


def run_system(case: Case, system: str) -> dict[str, Any] | None:
    path = case.args.work / "cache" / f"{case.td.name}-k{case.k}-{system}-{cache_key(case, system)}.json"
    if path.exists() and not case.args.force:
        return json.loads(path.read_text(encoding="utf-8"))
    if system == "llm" and not case.args.llm:
        return None
    print(
        f"[{time.strftime('%H:%M:%S')}] {case.td.name} k={case.k}: {system} ...", file=sys.stderr, flush=True
    )
    t0 = time.perf_counter()
    res = RUNNERS[system](case)
    if res is None:
        return None
    res["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if "error" not in res:
        atomic_write_json(path, res)
    return res


# ---- report ------------------------------------------------------------------------------------------------
def cell(res: dict[str, Any] | None) -> str:
    if res is None:
        return "–"
    if "error" in res:
        return "error"
    m = res["metrics"]
    return f"{m['accuracy']:.3f} / {m['macro_f1']:.3f} / {m['top_share']:.0%}"


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def table(results: dict[tuple[str, int], dict[str, Any]], systems: list[str], markdown: bool) -> str:
    head = ["task", "k", "eval n", *(LABELS[s] for s in systems)]
    lines = []
    for (task, k), res in results.items():
        n = next((r["metrics"]["n"] for r in res.values() if r and "metrics" in r), "")
        lines.append([task, str(k), str(n), *(cell(res.get(s)) for s in systems)])
    for k in sorted({k for _, k in results}):
        for half in ("A", "B", None):
            keys = [key for key in results if key[1] == k and (half is None or TASKS[key[0]].half == half)]
            if not keys or (half and len({TASKS[t].half for t, _ in results}) < 2):
                continue
            row = [
                f"**mean{' half ' + half if half else ''}**" if markdown else f"mean {half or 'all'}",
                str(k),
                "",
            ]
            for s in systems:
                accs = [results[key][s]["metrics"]["accuracy"] for key in keys if _ok(results[key].get(s))]
                f1s = [results[key][s]["metrics"]["macro_f1"] for key in keys if _ok(results[key].get(s))]
                row.append(
                    f"{mean(accs):.3f} / {mean(f1s):.3f}"
                    + ("" if len(accs) == len(keys) else f" ({len(accs)})")
                    if accs
                    else "–"
                )
            lines.append(row)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in lines]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(head), *(fmt(r) for r in lines)])


def _ok(res: dict[str, Any] | None) -> bool:
    return bool(res) and "metrics" in res  # type: ignore[operator]


# ---- main ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--store", type=Path, default=Path("/work/stores/full1000"), help="datastore for taskforge"
    )
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "taskforge" / "expert_quality")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma list of {list(TASKS)}")
    ap.add_argument("--half", choices=["A", "B"], help="only the tasks of one half")
    ap.add_argument("--k", default="3,8", help=f"comma list of example counts (at most {MAX_K})")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma list of {list(SYSTEMS)}")
    ap.add_argument("--n", type=int, default=1500, help="rows retrieved by taskforge / reference rows")
    ap.add_argument(
        "--eval-n", type=int, default=500, help="eval rows per task (fewer when the target is small)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--expert-config", type=Path, help="YAML of train settings (taskforge's `train:` section)"
    )
    ap.add_argument("--llm", help="LLM spec for the `llm` system, e.g. openai:MODEL")
    ap.add_argument("--llm-base-url", help="its endpoint, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--quick", action="store_true", help="k=8 only, 200 eval rows, n=500: a fast smoke run")
    ap.add_argument("--force", action="store_true", help="ignore cached results")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown (for the README)")
    args = ap.parse_args(argv)
    if args.quick:
        args.k, args.eval_n, args.n = "8", min(args.eval_n, 200), min(args.n, 500)
    args.expert_settings = (
        yaml.safe_load(args.expert_config.read_text(encoding="utf-8")) or {} if args.expert_config else {}
    )
    args.expert_settings = args.expert_settings.get("train", args.expert_settings)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not SRC.exists():
        print(f"{SRC} not found (set TASKFORGE_SHARED)", file=sys.stderr)
        return 2
    tasks = [t for t in args.tasks.split(",") if t and (not args.half or TASKS[t].half == args.half)]
    unknown = [t for t in tasks if t not in TASKS] + [s for s in args.systems.split(",") if s not in SYSTEMS]
    if unknown:
        print(f"unknown task(s)/system(s): {unknown}", file=sys.stderr)
        return 2
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    if "taskforge" in systems and not (args.store / "manifest.json").exists():
        print(f"{args.store}: not a datastore (no manifest.json)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    import taskforge._experts  # noqa: F401  (loaded before the code hashes are taken)

    code_hash("_experts"), code_hash(".")
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for name in tasks:
        for k in (int(x) for x in args.k.split(",")):
            case = Case(TASKS[name], k, args)
            results[(name, k)] = {}
            for s in systems:
                results[(name, k)][s] = run_system(case, s)
    atomic_write_json(
        args.work / "results.json",
        {f"{t}-k{k}": res for (t, k), res in results.items()},
    )
    write_jsonl(args.work / "results.jsonl", [{"task": t, "k": k, **res} for (t, k), res in results.items()])
    print("cells: accuracy / macro-F1 / share of the most-predicted label")
    print(table(results, systems, args.markdown))
    notes = {t: TASKS[t].note for t in tasks if TASKS[t].note}
    for t, note in notes.items():
        print(f"- {t}: {note}")
    if not args.llm and "llm" in systems:
        print("- llm: skipped (no --llm given; no local model was available)")
    errors = [
        (key, s, r["error"]) for key, res in results.items() for s, r in res.items() if r and "error" in r
    ]
    for key, s, err in errors:
        print(f"error {key} {s}: {err}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
