"""``taskforge run``: every stage in one run directory, reusing what has not changed.

retrieve -> transform -> filter (+ stats) -> export -> [train -> eval] -> report

Settings for each stage come from the task YAML's ``defaults``, then a config file,
then flags (later wins); the resolved settings are saved in ``settings.json``. A stage
is skipped when its settings and its input are unchanged (see :mod:`taskforge._runstate`),
so changing a filter threshold re-runs the filter, not the LLM. A killed run resumes:
finished stages are reused, the interrupted one resumes its own partial work (the LLM
cache makes repeated calls free).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskforge._console import console, format_value, summary_table
from taskforge._io import atomic_write_json, atomic_write_text, stable_hash
from taskforge._runstate import StageRecord, fingerprint, finish, reusable
from taskforge._task import Task

STAGES = ("retrieve", "transform", "filter", "export", "train", "eval")
LLM_CACHE = "llm_cache.sqlite"


class SettingsError(ValueError):
    """A config file or flag that cannot be used."""


@dataclass
class RunResult:
    run_dir: Path
    records: dict[str, StageRecord] = field(default_factory=dict)
    report: Path | None = None
    warning: str | None = None

    @property
    def dataset(self) -> Path:
        return self.run_dir / "export"

    def funnel(self) -> dict[str, int]:
        r = self.records
        out: dict[str, int] = {}
        if "retrieve" in r:
            out["retrieved"] = int(r["retrieve"].counts.get("items", 0))
        if "transform" in r:
            out["transformed"] = int(r["transform"].counts.get("samples", 0))
            out["transform rejects"] = int(r["transform"].counts.get("rejects", 0))
        if "filter" in r:
            out["kept"] = int(r["filter"].counts.get("out", 0))
        return out


def resolve_settings(
    task: Task, *, config_file: Path | None = None, flags: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Merge stage settings: task defaults < config file < flags (``None`` flag values are ignored)."""
    settings: dict[str, dict[str, Any]] = {stage: {} for stage in STAGES}
    unknown = set(task.defaults) - set(STAGES)
    if unknown:
        raise SettingsError(f"task defaults: unknown stage(s) {sorted(unknown)}; stages are {list(STAGES)}")
    for stage in STAGES:
        settings[stage].update(task.stage_defaults(stage))
    if config_file is not None:
        try:
            cfg = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise SettingsError(f"{config_file}: cannot read config: {e}") from None
        if not isinstance(cfg, dict) or set(cfg) - set(STAGES):
            bad = sorted(set(cfg) - set(STAGES)) if isinstance(cfg, dict) else cfg
            raise SettingsError(f"{config_file}: top-level keys must be stages {list(STAGES)}; got {bad}")
        for stage, values in cfg.items():
            if not isinstance(values, dict):
                raise SettingsError(f"{config_file}: `{stage}` must be a mapping of settings")
            settings[stage].update(values)
    for stage, values in (flags or {}).items():
        settings[stage].update({k: v for k, v in values.items() if v is not None})
    return settings


def run(
    task: Task,
    *,
    datastore: str | Path,
    out: str | Path,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    report: bool = True,
) -> RunResult:
    """Run every stage of the pipeline for ``task`` into the run directory ``out``."""
    from taskforge._datastore import Datastore

    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = {stage: dict((settings or {}).get(stage, {})) for stage in STAGES}
    settings["retrieve"].setdefault("n", 1000)
    atomic_write_text(run_dir / "task.yaml", task.to_yaml())
    atomic_write_json(run_dir / "settings.json", {"datastore": str(datastore), **settings})

    # the task's own content; its `defaults` are already in each stage's settings hash
    task_hash = stable_hash(task.model_dump(mode="json", exclude={"defaults"}))
    result = RunResult(run_dir=run_dir)
    ds = Datastore.open(datastore)
    ds_hash = fingerprint(Path(datastore) / "manifest.json")

    # ---- retrieve ------------------------------------------------------------------------------
    def do_retrieve(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._retrieval import retrieve

        res = retrieve(task, ds, out=stage_dir / "items.jsonl", **settings["retrieve"])
        (stage_dir / "warning.txt").unlink(missing_ok=True)
        if res.warning:
            atomic_write_text(stage_dir / "warning.txt", res.warning)
        return ["items.jsonl"], {"items": len(res), "per_source": dict(res.per_source)}

    rec = _stage(result, "retrieve", settings["retrieve"], stable_hash([task_hash, ds_hash]), do_retrieve)
    warning_file = run_dir / "retrieve" / "warning.txt"
    if warning_file.exists():
        result.warning = warning_file.read_text(encoding="utf-8")
        console.print(f"[yellow bold]warning:[/] {result.warning}")

    # ---- transform ------------------------------------------------------------------------------
    def do_transform(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._transform import TransformSettings, transform

        opts = dict(settings["transform"])
        llm = _make_llm(opts, run_dir)
        opts["method"] = "llm" if llm is not None else "mapper"
        try:
            res = transform(
                task,
                run_dir / "retrieve" / "items.jsonl",
                stage_dir / "samples.jsonl",
                llm=llm,
                settings=TransformSettings(**opts),
            )
        finally:
            if llm is not None:
                llm.close()
        counts: dict[str, Any] = {"items": res.items, "samples": res.samples, "rejects": res.rejects}
        if res.rejects_by_reason:
            counts["rejects_by_reason"] = dict(res.rejects_by_reason)
        if llm is not None:
            counts["llm"] = llm.stats.as_dict()
        return ["samples.jsonl", "rejects.jsonl"], counts

    rec = _stage(
        result, "transform", settings["transform"], stable_hash([task_hash, rec.output_hash]), do_transform
    )

    # ---- filter (+ stats) ----------------------------------------------------------------------
    def do_filter(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._quality import FilterSettings, dataset_stats, filter_samples, load_samples

        res = filter_samples(
            task,
            run_dir / "transform" / "samples.jsonl",
            stage_dir,
            settings=FilterSettings(**settings["filter"]),
        )
        atomic_write_json(
            stage_dir / "stats.json", dataset_stats(task, load_samples(stage_dir / "kept.jsonl"))
        )
        funnel = res.funnel
        return ["kept.jsonl", "rejects.jsonl", "funnel.json", "stats.json"], {
            "in": funnel["in"],
            "out": funnel["out"],
            "dropped": funnel.get("dropped", {}),
        }

    filter_config = {
        **settings["filter"],
        "eval_fingerprints": [fingerprint(Path(p)) for p in settings["filter"].get("eval_files") or []],
    }
    rec = _stage(result, "filter", filter_config, stable_hash([task_hash, rec.output_hash]), do_filter)

    # ---- export ---------------------------------------------------------------------------------
    def do_export(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._quality import export_dataset, load_samples

        fdir = run_dir / "filter"
        paths = export_dataset(
            task,
            load_samples(fdir / "kept.jsonl"),
            stage_dir,
            funnel=json.loads((fdir / "funnel.json").read_text(encoding="utf-8")),
            stats=json.loads((fdir / "stats.json").read_text(encoding="utf-8")),
            **settings["export"],
        )
        return [str(Path(p).relative_to(stage_dir)) for p in paths.values()], {"files": len(paths)}

    rec = _stage(result, "export", settings["export"], stable_hash([task_hash, rec.output_hash]), do_export)

    # ---- train -> eval (optional) ----------------------------------------------------------------
    if settings["train"].get("enabled"):
        rec = _run_train(result, task, settings, task_hash, rec)
        if settings["eval"].get("data"):
            _run_eval(result, task, settings, task_hash, rec)

    if report:
        from taskforge._report import build_report

        result.report = build_report(run_dir)
    return result


def _run_train(
    result: RunResult, task: Task, settings: dict[str, dict[str, Any]], task_hash: str, prev: StageRecord
) -> StageRecord:
    run_dir = result.run_dir

    def do_train(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._experts import train_expert

        opts = {k: v for k, v in settings["train"].items() if k != "enabled"}
        data = run_dir / "filter" / "kept.jsonl"
        train_expert(task, data, stage_dir / "model", **opts)
        return ["model"], {"samples": sum(1 for _ in data.open(encoding="utf-8"))}

    return _stage(result, "train", settings["train"], stable_hash([task_hash, prev.output_hash]), do_train)


def _run_eval(
    result: RunResult, task: Task, settings: dict[str, dict[str, Any]], task_hash: str, prev: StageRecord
) -> StageRecord:
    run_dir = result.run_dir

    def do_eval(stage_dir: Path) -> tuple[list[str], dict[str, Any]]:
        from taskforge._experts import evaluate

        opts = dict(settings["eval"])
        data = Path(opts.pop("data"))
        res = evaluate(run_dir / "train" / "model", task, data, **opts)
        res.write(stage_dir / "results.json")
        return ["results.json", "predictions.jsonl"], {"n": res.n, **res.metrics}

    config = {**settings["eval"], "data_fingerprint": fingerprint(Path(settings["eval"]["data"]))}
    return _stage(result, "eval", config, stable_hash([task_hash, prev.output_hash]), do_eval)


def _stage(
    result: RunResult,
    name: str,
    config: Mapping[str, Any],
    input_hash: str,
    body: Callable[[Path], tuple[list[str], dict[str, Any]]],
) -> StageRecord:
    """Reuse the stage when nothing it depends on changed; otherwise run ``body`` and record it."""
    stage_dir = result.run_dir / name
    config_hash = stable_hash(dict(config))
    rec = reusable(stage_dir, config_hash, input_hash)
    if rec is not None:
        console.print(f"[dim]{name}: unchanged, reusing {stage_dir}[/]")
    else:
        console.rule(f"[bold]{name}")
        stage_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        outputs, counts = body(stage_dir)
        rec = finish(
            stage_dir,
            name,
            config_hash=config_hash,
            input_hash=input_hash,
            outputs=outputs,
            counts=counts,
            started=started,
        )
    result.records[name] = rec
    return rec


def _make_llm(opts: dict[str, Any], run_dir: Path) -> Any:
    """Build the LLM client from transform/judge settings (pops the client keys); None for the mapper."""
    spec = opts.pop("llm", None)
    client_keys = (
        "base_url",
        "api_key_env",
        "max_in_flight",
        "rpm",
        "tpm",
        "timeout",
        "max_retries",
        "prices",
    )
    client = {k: opts.pop(k) for k in client_keys if k in opts}
    mapper = opts.pop("mapper", None)
    if not spec or mapper:
        return None
    from taskforge._llm import LLM

    return LLM.from_spec(spec, cache_path=run_dir / LLM_CACHE, **client)


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool))


def _print_eval(result: RunResult) -> None:
    """The expert beside its baselines (majority, examples only) and any warning, from eval/results.json."""
    path = result.run_dir / "eval" / "results.json"
    if "eval" not in result.records or not path.exists():
        return
    from taskforge._experts._honest import print_honest_eval

    print_honest_eval(json.loads(path.read_text(encoding="utf-8")), confusion=False)


def print_summary(result: RunResult) -> None:
    """The funnel table and where the outputs are."""
    rows = []
    for name, rec in result.records.items():
        main = {k: v for k, v in rec.counts.items() if _scalar(v)}
        what = ", ".join(f"{k} {format_value(v)}" for k, v in main.items())
        rows.append([name, what, "reused" if rec.reused else f"{rec.seconds:.1f}s"])
    console.print(summary_table("Run summary", ["stage", "counts", "time"], rows))
    funnel = result.funnel()
    if funnel:
        console.print(summary_table("Funnel", ["", "samples"], funnel.items()))
    flt = result.records.get("filter")
    if flt and flt.counts.get("dropped"):
        console.print(
            summary_table("Dropped by filter", ["filter", "samples"], flt.counts["dropped"].items())
        )
    _print_eval(result)
    console.print(f"dataset: [bold]{result.dataset}[/]")
    if result.report:
        console.print(f"report:  [bold]{result.report}[/]")
