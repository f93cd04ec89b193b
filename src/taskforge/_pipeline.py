"""``taskforge run``: every stage in one run directory, reusing what has not changed.

retrieve -> transform -> filter (+ stats) -> export -> [train -> eval] -> report

The stages are a table (:data:`PIPELINE`): each row names the stage, its settings model, its
runner and the files it writes; :func:`run` walks the table with one loop. Settings are
resolved and validated before the first stage (:class:`~taskforge.RunSettings`: task
defaults < config file < flags) and saved in ``settings.json``. A stage is skipped when its
settings and its input are unchanged (see :mod:`taskforge._runstate`), so changing a filter
threshold re-runs the filter, not the LLM. A killed run resumes: finished stages are reused,
the interrupted one resumes its own partial work (the LLM cache makes repeated calls free).
Each runner calls the same API function as the stage's own command, so ``run`` and the
single-stage commands write the same files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._console import console, format_value, results, summary_table
from taskforge._errors import Interrupted, SettingsError, StageError
from taskforge._io import atomic_write_json, atomic_write_text, stable_hash, writer_lock
from taskforge._records import read_samples
from taskforge._runstate import StageRecord, fingerprint, finish, load_record, reusable
from taskforge._settings import (
    EvalSettings,
    ExportSettings,
    FilterSettings,
    RetrieveSettings,
    RunSettings,
    StageSettings,
    TrainSettings,
    TransformSettings,
)
from taskforge._task import Task

LLM_CACHE = "llm_cache.sqlite"


@dataclass
class StageOutput:
    """What a runner hands back: counts for the record, its in-memory result for later stages."""

    counts: dict[str, Any]
    value: Any = None
    files: Sequence[str] | None = None  # when they differ from the table's (export's formats)


@dataclass
class RunContext:
    """What every runner sees: the task, the validated settings, the store, the run directory."""

    task: Task
    settings: RunSettings
    datastore: Any
    run_dir: Path
    values: dict[str, Any] = field(default_factory=dict)  # results of the stages run this time
    current: str = ""  # the stage running now (for the Ctrl-C message)

    def dir(self, stage: str) -> Path:
        return self.run_dir / stage

    def llm_settings(self) -> Any:
        """The run's LLM settings, its cache at ``RUN/llm_cache.sqlite`` unless set."""
        llm = self.settings.llm
        return llm if llm.cache else llm.model_copy(update={"cache": self.run_dir / LLM_CACHE})


@dataclass(frozen=True)
class Stage:
    """One row of the pipeline table."""

    name: str
    settings: type[StageSettings]
    runner: Callable[[RunContext, Path], StageOutput]
    outputs: tuple[str, ...]  # files / folders the stage writes in RUN/<name>/
    config: Callable[[RunContext], dict[str, Any]] | None = None  # what its reuse key covers
    enabled: Callable[[RunSettings], bool] = lambda s: True


@dataclass
class RunResult:
    run_dir: Path
    records: dict[str, StageRecord] = field(default_factory=dict)
    report: Path | None = None
    warning: str | None = None
    target: dict[str, Any] | None = (
        None  # --target-samples: rounds, kept, what stopped them (RUN/target.json)
    )

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


# ---- runners ---------------------------------------------------------------------------------------
def run_retrieve(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._retrieval import retrieve

    resolver = label_resolver(ctx.task, ctx.datastore, ctx.settings.transform)
    res = retrieve(
        ctx.task,
        ctx.datastore,
        settings=ctx.settings.retrieve,
        out=stage_dir / "items.jsonl",
        labels_of=resolver,
    )
    (stage_dir / "warning.txt").unlink(missing_ok=True)
    if not len(res):
        raise StageError("retrieve: no items (every source is excluded by the task, or the store is empty)")
    counts: dict[str, Any] = {"items": len(res), "per_source": dict(res.per_source)}
    if res.warning:
        atomic_write_text(stage_dir / "warning.txt", res.warning)
        counts["warning"] = res.warning
    return StageOutput(counts, res)


MAPPER_LABEL_SETTINGS = ("label_map", "label_names", "sources_dir", "label_threshold", "plan_rows")


def label_resolver(task: Task, datastore: Any, transform: TransformSettings | None = None) -> Any:
    """The transform stage's mapper, as retrieval's label resolver (per-label quotas), or None
    when the task has no labels. Only the mapper's label settings (``label_map`` ...) of
    ``transform`` matter. Retrieval sits below the transform stage, so the mapper is injected."""
    if not task.labels():
        return None
    from taskforge._transform import Mapper

    given = transform if transform is not None else TransformSettings.for_task(task)
    opts = {k: getattr(given, k) for k in MAPPER_LABEL_SETTINGS}
    return Mapper(task, TransformSettings.build(opts), datastore.embedder())


def run_transform(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._llm import make_llm
    from taskforge._transform import transform

    settings = ctx.settings.transform
    use_llm = settings.method == "llm" or (settings.method == "auto" and ctx.settings.llm.spec)
    if use_llm:
        console.print(f"transform: with the LLM {ctx.settings.llm.spec}")
    elif settings.method == "auto":
        console.print(
            "transform: no --llm given, so the no-LLM mapper maps rows onto the task's fields "
            "(--llm PROVIDER:MODEL for an LLM; --mapper says it and silences this line)"
        )
    llm = make_llm(ctx.llm_settings()) if use_llm else None
    fresh = ctx.values.get("retrieve")
    items = fresh.items if fresh is not None else ctx.dir("retrieve") / "items.jsonl"
    try:
        res = transform(ctx.task, items, stage_dir / "samples.jsonl", llm=llm, settings=settings)
    finally:
        if llm is not None:
            llm.close()
    console.print(res.table())  # requests, cache hits, retries, throttles, failures, repairs
    fallback = _examples_only_fallback(ctx, res, use_llm=bool(use_llm))
    if not fallback:  # nothing made (one line: top reject reason, what to do), or too many failures
        res.check(settings.max_error_rate)
    counts: dict[str, Any] = {"items": res.items, "samples": res.samples, "rejects": res.rejects}
    if fallback:
        counts["warning"] = fallback
    if res.rejects_by_reason:
        counts["rejects_by_reason"] = dict(res.rejects_by_reason)
    if res.label_report:
        counts["unmapped_label_rows"] = res.label_report["unmapped_rows"]
    if llm is not None:
        counts["llm"] = res.llm_stats
    return StageOutput(counts, res)


EXAMPLES_ONLY = "examples only"


def _examples_only_fallback(ctx: RunContext, res: Any, *, use_llm: bool) -> str | None:
    """The warning for a mapper run that made no sample but can still train an expert, else None.

    When no retrieved row's labels map onto the task (a topic task over a store with no labelled
    news, say), ``run --train`` trains the CPU expert on the task's examples alone, which beats
    stopping with no expert at all, and says so loudly; the transform's own command, an LLM
    transform and a run without ``--train`` still stop with exit 1 (there, nothing made is a failure).
    """
    if use_llm or res.samples or not res.items or not ctx.settings.train.enabled:
        return None
    train = ctx.settings.train
    if train.base_model or train.expert == "lora" or not (ctx.task.labels() or train.expert == "cpu"):
        return None
    from taskforge._transform import no_samples_message

    return (
        f"{no_samples_message(res)}; so the expert trains on the task's {len(ctx.task.examples)} "
        "examples alone (no generated data): add sources whose labels map onto the task, or a "
        "label_map (see transform/label_report.json)"
    )


def _transform_fell_back(ctx: RunContext) -> bool:
    """True when this run's transform made nothing and handed over to an examples-only expert."""
    rec = load_record(ctx.dir("transform"))
    return (
        ctx.settings.train.enabled
        and rec is not None
        and not rec.counts.get("samples")
        and bool(rec.counts.get("warning"))
    )


def run_filter(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._quality import filter_samples

    samples = ctx.dir("transform") / "samples.jsonl"
    res = filter_samples(ctx.task, samples, stage_dir, settings=ctx.settings.filter, llm=ctx.llm_settings())
    counts = {"in": res.funnel["in"], "out": res.funnel["out"], "dropped": res.funnel.get("dropped", {})}
    if not res.kept and not (counts["in"] == 0 and _transform_fell_back(ctx)):
        from taskforge._quality import nothing_kept_message

        raise StageError(nothing_kept_message(counts["in"], counts["dropped"], res.paths["rejects"]))
    return StageOutput(counts, res)


def run_export(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._quality import export_dataset

    fresh = ctx.values.get("filter")
    if fresh is not None:
        kept, funnel, stats = fresh.kept, fresh.funnel, fresh.stats
    else:
        fdir = ctx.dir("filter")
        kept = read_samples(fdir / "kept.jsonl")
        funnel = _read_json(fdir / "funnel.json")
        stats = _read_json(fdir / "stats.json")
    from taskforge._quality._card import source_folders

    store = ctx.datastore
    run_settings = {"datastore": str(store.path), **ctx.settings.model_dump(mode="json")}
    paths = export_dataset(
        ctx.task,
        kept,
        stage_dir,
        funnel=funnel,
        stats=stats,
        settings=ctx.settings.export,
        source_dirs=source_folders(store.manifest.get("sources", []), store.path),
        run_settings=run_settings,
    )
    files = [str(Path(p).relative_to(stage_dir)) for p in paths.values()]
    return StageOutput({"files": len(paths)}, paths, files=files)


def run_train(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._experts import train_expert

    train = ctx.settings.train
    fresh = ctx.values.get("filter")
    data = fresh.kept if fresh is not None else ctx.dir("filter") / "kept.jsonl"
    options = train.options()
    examples_only = _transform_fell_back(ctx)  # the only way the filter hands on no sample
    if examples_only:  # fit the examples (see _examples_only_fallback)
        from taskforge._experts._train import examples_only_options

        options = examples_only_options(options)
    res = train_expert(
        ctx.task,
        data,
        stage_dir / "model",
        expert=train.expert,
        base_model=train.base_model,
        **options,
    )
    counts: dict[str, Any] = {"samples": res.n_samples}
    if examples_only:
        counts["trained_on"] = EXAMPLES_ONLY
    return StageOutput(counts, res)


def run_eval(ctx: RunContext, stage_dir: Path) -> StageOutput:
    from taskforge._experts import evaluate
    from taskforge._llm import make_llm

    opts = ctx.settings.eval
    judge_settings = opts.judge_llm(ctx.llm_settings())
    judge = make_llm(judge_settings) if judge_settings is not None else None
    try:
        res = evaluate(
            ctx.dir("train") / "model",
            ctx.task,
            opts.data,  # type: ignore[arg-type]
            input_fields=opts.input_fields,
            output_field=opts.output_field,
            exclude_examples=opts.exclude_examples,
            limit=opts.limit,
            judge=judge,
        )
    finally:
        if judge is not None:
            judge.close()
    res.write(stage_dir / "results.json")
    return StageOutput({"n": res.n, **res.metrics}, res)


# ---- what each stage's reuse key covers ------------------------------------------------------------
def _dump(settings: StageSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")


def retrieve_config(ctx: RunContext) -> dict[str, Any]:
    """Retrieve settings without the target (a larger target must not redo a finished round), and
    the mapper's label settings the label quotas read."""
    cfg = {k: v for k, v in _dump(ctx.settings.retrieve).items() if k != "target_samples"}
    labels = _dump(ctx.settings.transform)
    return {**cfg, "labels": {k: labels[k] for k in MAPPER_LABEL_SETTINGS}}


def transform_config(ctx: RunContext) -> dict[str, Any]:
    """Transform settings and the model (not the URL, concurrency or limits: the LLM cache covers those;
    nor the error bound, which changes no output)."""
    settings = {k: v for k, v in _dump(ctx.settings.transform).items() if k != "max_error_rate"}
    return {**settings, "llm": ctx.settings.llm.spec}


def filter_config(ctx: RunContext) -> dict[str, Any]:
    files = ctx.settings.filter.eval_files
    return {**_dump(ctx.settings.filter), "eval_fingerprints": [fingerprint(Path(p)) for p in files]}


def eval_config(ctx: RunContext) -> dict[str, Any]:
    return {**_dump(ctx.settings.eval), "data_fingerprint": fingerprint(Path(ctx.settings.eval.data or ""))}


PIPELINE: tuple[Stage, ...] = (
    Stage("retrieve", RetrieveSettings, run_retrieve, ("items.jsonl",), retrieve_config),
    Stage(
        "transform", TransformSettings, run_transform, ("samples.jsonl", "rejects.jsonl"), transform_config
    ),
    Stage(
        "filter",
        FilterSettings,
        run_filter,
        ("kept.jsonl", "rejects.jsonl", "funnel.json", "stats.json"),
        filter_config,
    ),
    Stage("export", ExportSettings, run_export, ("data.jsonl", "README.md")),
    Stage("train", TrainSettings, run_train, ("model",), enabled=lambda s: s.train.enabled),
    Stage(
        "eval",
        EvalSettings,
        run_eval,
        ("results.json", "predictions.jsonl"),
        eval_config,
        enabled=lambda s: s.train.enabled and s.eval.data is not None,
    ),
)


# ---- the loop --------------------------------------------------------------------------------------
def run(
    task: Task,
    *,
    datastore: str | Path,
    out: str | Path,
    settings: RunSettings | Mapping[str, Mapping[str, Any]] | None = None,
    report: bool = True,
    wait: bool = True,
) -> RunResult:
    """Run every stage of the pipeline for ``task`` into the run directory ``out``.

    ``settings``: a :class:`RunSettings` (see :meth:`RunSettings.resolve`), or a mapping of
    sections laid over the task's defaults; None: the task's defaults. Everything is checked
    before the first stage runs. One run at a time writes a run directory: a second waits for
    the first (and then reuses its stages), or with ``wait=False`` stops with ``LockedError``.
    """
    from taskforge._datastore import Datastore

    if not isinstance(settings, RunSettings):
        settings = RunSettings.resolve(task, config=settings)
    preflight(settings)
    ds = Datastore.open(datastore)
    run_dir = Path(out)
    with writer_lock(run_dir, what="run", wait=wait, notify=_notify):
        return _run_locked(task, datastore, ds, run_dir, settings, report=report)


def _notify(message: str) -> None:
    console.print(f"[yellow]{message}[/]", soft_wrap=True)


def _run_locked(
    task: Task, datastore: str | Path, ds: Any, run_dir: Path, settings: RunSettings, *, report: bool
) -> RunResult:
    """The stages, in order, while this process holds the run directory."""
    atomic_write_text(run_dir / "task.yaml", task.to_yaml())
    atomic_write_json(
        run_dir / "settings.json", {"datastore": str(datastore), **settings.model_dump(mode="json")}
    )

    ctx = RunContext(task=task, settings=settings, datastore=ds, run_dir=run_dir)
    result = RunResult(run_dir=run_dir)
    # the task's own content; its `defaults` are already in each stage's settings
    task_hash = stable_hash(task.model_dump(mode="json", exclude={"defaults"}))
    upstream = fingerprint(Path(datastore) / "manifest.json")
    try:
        _walk(ctx, result, task_hash, upstream)
    except KeyboardInterrupt:
        stage = ctx.current or "the run"
        raise Interrupted(interrupted_message(result, stage, ctx.dir(stage))) from None
    if report:
        from taskforge._report import build_report

        result.report = build_report(run_dir)
    return result


def _walk(ctx: RunContext, result: RunResult, task_hash: str, upstream: str) -> None:
    """Each enabled stage in table order (the first three in rounds with ``retrieve.target_samples``)."""
    settings = ctx.settings
    rounds = settings.retrieve.target_samples is not None
    if rounds:
        upstream = _run_rounds(ctx, result, task_hash, upstream)
    for stage in PIPELINE:
        if not stage.enabled(settings) or (rounds and stage.name in ROUND_STAGES):
            continue
        rec = _run_stage(ctx, stage, input_hash=stable_hash([task_hash, upstream]))
        result.records[stage.name] = rec
        upstream = rec.output_hash
        if rec.counts.get("warning"):
            result.warning = str(rec.counts["warning"])
            console.print(f"[yellow bold]warning:[/] {result.warning}", soft_wrap=True)


ROUND_STAGES = ("retrieve", "transform", "filter")


def _run_rounds(ctx: RunContext, result: RunResult, task_hash: str, upstream: str) -> str:
    """``retrieve.target_samples``: retrieve -> transform -> filter in growing rounds (taskforge._target).

    Each round is the plain stages with ``retrieve.n`` = the round's rows and the LLM budget
    that is left; the LLM cache makes every row an earlier round paid for free. Returns the
    filter's output hash for the stages after it.
    """
    from taskforge._target import RoundResult, run_until, start_rows

    base = ctx.settings
    stages = [s for s in PIPELINE if s.name in ROUND_STAGES]
    last = {"upstream": upstream}

    def one_round(rows: int, cost_left: float | None, calls_left: int | None) -> RoundResult:
        llm = base.llm.model_copy(update={"max_cost": cost_left, "max_calls": calls_left})
        retrieve = base.retrieve.model_copy(update={"n": rows})
        ctx.settings = base.model_copy(update={"retrieve": retrieve, "llm": llm})
        ctx.values.clear()
        up, kept = upstream, 0
        for stage in stages:
            try:
                rec = _run_stage(ctx, stage, input_hash=stable_hash([task_hash, up]))
            except StageError:
                if stage.name != "filter":
                    raise
                break  # this round kept nothing (every sample dropped): the next one is larger
            result.records[stage.name] = rec
            up = rec.output_hash
            kept = int(rec.counts.get("out", 0)) if stage.name == "filter" else kept
        last["upstream"] = up
        spent = (
            {} if result.records["transform"].reused else result.records["transform"].counts.get("llm", {})
        )
        calls, cost = int(spent.get("calls", 0)), float(spent.get("cost", 0.0))
        stop = None
        if calls_left is not None and calls >= calls_left:
            stop = "max_calls"
        elif cost_left is not None and cost >= cost_left:
            stop = "max_cost"
        items = int(result.records["retrieve"].counts.get("items", 0))
        console.print(
            f"[bold]round:[/] {rows:,} rows -> {items:,} items -> {kept:,} kept (target {target:,})"
        )
        return RoundResult(rows, items, kept, cost=cost, calls=calls, budget_stop=stop)

    target = int(base.retrieve.target_samples or 0)
    try:
        report = run_until(
            target,
            one_round,
            rows=start_rows(ctx.run_dir, base.retrieve.n),
            run_dir=ctx.run_dir,
            max_cost=base.llm.max_cost,
            max_calls=base.llm.max_calls,
            max_rows=getattr(ctx.datastore, "n_rows", None),
        )
    finally:
        ctx.settings = base
    result.target = report.to_json()
    console.print(
        f"[bold]target {target:,}:[/] kept {report.kept:,} in {len(report.rounds)} round(s), "
        f"{report.calls:,} LLM calls, ${report.cost:,.4f}; stopped by {report.stopped_by}"
    )
    return last["upstream"]


def interrupted_message(result: RunResult, stage: str, stage_dir: Path) -> str:
    """What a Ctrl-C during ``stage`` leaves: the finished stages, the stage's own partial work."""
    done = ", ".join(f"{name} ({_main_count(rec.counts)})" for name, rec in result.records.items())
    line = f"interrupted during {stage}; kept: {done or 'no finished stage'}"
    partial = stage_dir / "samples.jsonl.partial"  # the transform's log of LLM answers
    if partial.exists():
        with partial.open("rb") as f:
            answers = max(0, sum(1 for _ in f) - 1)  # the first line is the log's header
        line += f", and {answers:,} {stage} results in {partial}"
    return line + "; run the same command again to resume (finished stages are reused)"


def _main_count(counts: Mapping[str, Any]) -> str:
    for key in ("out", "samples", "items", "files", "n"):
        if isinstance(counts.get(key), int):
            return f"{counts[key]:,} {'kept' if key == 'out' else key}"
    return "done"


def preflight(settings: RunSettings) -> None:
    """Checks that need more than the settings models: LLM specs, the retrieval method, files named."""
    from taskforge._llm import check_llm
    from taskforge._retrieval import METHODS

    check_llm(settings.llm)
    check_llm(settings.filter.judge_llm(settings.llm))
    check_llm(settings.eval.judge_llm(settings.llm))
    if settings.retrieve.method not in METHODS:
        raise SettingsError(
            f"retrieve.method: unknown {settings.retrieve.method!r}; choose one of {', '.join(sorted(METHODS))}"
        )
    if settings.transform.method == "llm" and not settings.llm.spec:
        raise SettingsError("transform.method is 'llm' but no LLM is given (llm.spec, --llm openai:MODEL)")
    named = [("filter.eval_files", Path(p)) for p in settings.filter.eval_files]
    if settings.train.enabled and settings.eval.data is not None:
        named.append(("eval.data", settings.eval.data))
    if settings.transform.template is not None:
        named.append(("transform.template", settings.transform.template))
    for key, path in named:
        if not path.is_file():
            raise SettingsError(f"{key}: {path} is not a file")


def _run_stage(ctx: RunContext, stage: Stage, *, input_hash: str) -> StageRecord:
    """Reuse the stage when nothing it depends on changed; otherwise run it and record it."""
    stage_dir = ctx.dir(stage.name)
    config = stage.config(ctx) if stage.config else _dump(ctx.settings.stage(stage.name))
    config_hash = stable_hash(config)
    rec = reusable(stage_dir, config_hash, input_hash)
    if rec is not None:
        console.print(f"[dim]{stage.name}: unchanged, reusing {stage_dir}[/]")
        return rec
    console.rule(f"[bold]{stage.name}")
    ctx.current = stage.name
    stage_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    output = stage.runner(ctx, stage_dir)
    ctx.values[stage.name] = output.value
    files = output.files if output.files is not None else stage.outputs
    return finish(
        stage_dir,
        stage.name,
        config_hash=config_hash,
        input_hash=input_hash,
        outputs=list(files),
        counts=output.counts,
        started=started,
    )


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


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
        main = {k: v for k, v in rec.counts.items() if _scalar(v) and k != "warning"}
        what = ", ".join(f"{k} {format_value(v)}" for k, v in main.items())
        rows.append([name, what, "reused" if rec.reused else f"{rec.seconds:.1f}s"])
    results.print(summary_table("Run summary", ["stage", "counts", "time"], rows))
    funnel = result.funnel()
    if funnel:
        results.print(summary_table("Funnel", ["", "samples"], funnel.items()))
    flt = result.records.get("filter")
    if flt and flt.counts.get("dropped"):
        results.print(
            summary_table("Dropped by filter", ["filter", "samples"], flt.counts["dropped"].items())
        )
    if result.target:
        t = result.target
        results.print(
            summary_table(
                "Target",
                ["", ""],
                [
                    ("target samples", t["target"]),
                    ("kept", t["kept"]),
                    ("rounds", len(t["rounds"])),
                    ("rows retrieved", t["rows"]),
                    ("LLM calls", t["calls"]),
                    ("cost", f"${t['cost']:,.4f}"),
                    ("stopped by", t["stopped_by"]),
                ],
            )
        )
    _print_eval(result)
    results.print(f"dataset: [bold]{result.dataset}[/]")
    if result.report:
        results.print(f"report:  [bold]{result.report}[/]")


__all__ = ["PIPELINE", "RunContext", "RunResult", "Stage", "StageOutput", "preflight", "print_summary", "run"]
