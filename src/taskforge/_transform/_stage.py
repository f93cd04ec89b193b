"""The transform stage: retrieved items -> samples + rejects, by the mapper or an LLM, resumable.

LLM results are appended to ``<out>.partial`` (an :class:`~taskforge._io.AppendLog`, flushed per
record: that survives kill -9; no fsync, as the LLM cache re-answers anything an OS crash loses) as
they arrive; a run killed at any point and started again skips every unit already in it, and the
LLM layer's SQLite cache answers any call that finished but was not yet recorded, so no call is
made twice. The final files are written atomically in a deterministic order (rank, sample_index),
then the partial file is removed. LLM errors (the request failed after retries) are recorded
but retried on the next run; answers that fail parsing or validation are final.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from taskforge._errors import SettingsError, UsageError
from taskforge._io import AppendLog, atomic_write_json, read_jsonl_tolerant, stable_hash, writer_lock
from taskforge._llm._types import BUDGET_SPENT
from taskforge._records import Item, read_items, sample_id, write_rejects, write_samples
from taskforge._records import make_reject as _reject
from taskforge._settings import TransformSettings
from taskforge._task import Task
from taskforge._transform._mapper import Mapper
from taskforge._transform._parsing import SampleError, answer_fields, extract_json, validate_sample
from taskforge._transform._prompts import Messages, PromptBuilder
from taskforge._transform._schema import answer_schema
from taskforge._transform._settings import TransformResult

if TYPE_CHECKING:
    from taskforge._embed import Encoder
    from taskforge._llm import LLMClient, LLMResult

LLM_ERROR = "LLM error"


@dataclass
class Unit:
    """One sample to make: an item and which of its samples."""

    key: str
    item: dict[str, Any]
    rank: int
    sample_index: int


def _slug(category: str) -> str:
    return category.lower().replace(" ", "_")


def _item_ref(unit: Unit) -> dict[str, Any]:
    it = unit.item
    return {
        "source": it.get("source"),
        "row_id": it.get("row_id"),
        "rank": unit.rank,
        "sample_index": unit.sample_index,
    }


def make_reject(unit: Unit, err: SampleError, raw: str | None = None) -> dict[str, Any]:
    return dict(_reject("transform", _slug(err.category), str(err), item=_item_ref(unit), raw=raw))


def make_sample(
    unit: Unit,
    inp: Any,
    out: Any,
    *,
    method: str,
    reasoning: str | None = None,
    model: str | None = None,
    prompt_hash: str | None = None,
    repaired: bool = False,
) -> dict[str, Any]:
    it = unit.item
    sample: dict[str, Any] = {"id": unit.key, "input": inp, "output": out}
    if reasoning:
        sample["reasoning"] = reasoning
    prov = {
        "source": it.get("source"),
        "row_id": it.get("row_id"),
        "rank": unit.rank,
        "scores": it.get("scores") or {},
        "method": method,
        "model": model,
        "prompt_hash": prompt_hash,
        "sample_index": unit.sample_index,
    }
    if repaired:
        prov["repaired"] = True
    passage = it.get("passage")
    if isinstance(passage, dict):  # document stores: which passage of the document made it
        prov["passage"] = {k: passage[k] for k in ("index", "of", "score") if k in passage}
    if it.get("picked_by"):
        prov["picked_by"] = it["picked_by"]
    sample["provenance"] = prov
    return sample


def load_items(retrieved: str | Path | Iterable[Item], limit: int | None = None) -> list[dict[str, Any]]:
    """Items from a file written by ``retrieve`` (JSONL or Parquet) or an iterable, up to ``limit``."""
    items: list[dict[str, Any]] = []
    source = read_items(retrieved) if isinstance(retrieved, (str, Path)) else retrieved
    for it in source:
        items.append(it)
        if limit and len(items) >= limit:
            break
    return items


def transform(
    task: Task | str | Path,
    retrieved: str | Path | Iterable[Item],
    out: str | Path,
    *,
    llm: LLMClient | None = None,
    settings: TransformSettings | None = None,
    embedder: Encoder | None = None,
    progress: bool = True,
    **overrides: Any,
) -> TransformResult:
    """Turn retrieved items into samples at ``out`` and rejects beside it (or at ``settings.rejects``).

    ``retrieved``: the items file ``retrieve`` wrote (JSONL or Parquet) or the items themselves.
    ``llm``: a client from :func:`taskforge._llm.make_llm`; without one (or with ``method="mapper"``)
    rows are mapped onto the task's fields without an LLM. ``settings`` (or keyword ``overrides``
    of it) say how. See the module docstring for resume.
    """
    task = task if isinstance(task, Task) else Task.load(task)
    settings = TransformSettings.build(settings, overrides)
    out = Path(out)
    rejects_path = Path(settings.rejects) if settings.rejects else out.parent / "rejects.jsonl"
    method = settings.method if settings.method != "auto" else ("llm" if llm is not None else "mapper")
    if method == "llm" and llm is None:
        raise UsageError("method 'llm' needs an LLM (give --llm openai:MODEL), or use the mapper")
    started = time.monotonic()
    items = load_items(retrieved, settings.limit)
    per_item = settings.samples_per_item if method == "llm" else 1
    units = [
        Unit(sample_id(it, k, method), it, int(it.get("rank") or pos), k)
        for pos, it in enumerate(items, 1)
        for k in range(per_item)
    ]
    units.sort(key=lambda u: (u.rank, u.sample_index))
    result = TransformResult(samples_path=out, rejects_path=rejects_path, items=len(items), method=method)
    # one writer per output: a second transform into the same file would pay for every call again
    with writer_lock(out.parent, what="transform", name=f".{out.name}.lock", notify=_notify):
        if method == "mapper":
            records, result.label_report = _run_mapper(task, units, settings, embedder, progress)
        else:
            records = _run_llm(task, units, out, llm, settings, progress, result)
        samples = [records[u.key]["sample"] for u in units if "sample" in records.get(u.key, {})]
        rejects = [records[u.key]["reject"] for u in units if "reject" in records.get(u.key, {})]
        write_samples(out, samples)
        write_rejects(rejects_path, rejects)
        if result.label_report is not None:
            result.label_report_path = out.parent / "label_report.json"
            atomic_write_json(result.label_report_path, result.label_report)
        _partial_path(out).unlink(missing_ok=True)
    result.samples, result.rejects = len(samples), len(rejects)
    result.rejects_by_reason = dict(Counter(r["reason"].split(":", 1)[0] for r in rejects).most_common())
    result.units = len(units)
    errors = [r for r in rejects if r["filter"] == _slug(LLM_ERROR)]
    # requests the run's budget (max_calls / max_cost) held back were never sent: a stop the user
    # asked for, not a failing server, so they do not count towards max_error_rate
    failed = [r for r in errors if BUDGET_SPENT not in r["reason"]]
    result.budget_stopped = len(errors) - len(failed)
    result.llm_failed = len(failed)
    result.first_llm_error = failed[0]["reason"] if failed else None
    result.repaired = sum(1 for s in samples if (s.get("provenance") or {}).get("repaired"))
    result.seconds = time.monotonic() - started
    return result


def _notify(message: str) -> None:
    from taskforge._console import console

    console.print(f"[yellow]{message}[/]", soft_wrap=True)


# ---- mapper ------------------------------------------------------------------------------------
def _run_mapper(
    task: Task, units: list[Unit], settings: TransformSettings, embedder: Encoder | None, progress: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Samples and rejects by unit key, and the label report (None for a task without labels)."""
    from taskforge._console import console, make_progress
    from taskforge._transform._labels import report_lines

    mapper = Mapper(task, settings, embedder)
    if progress and task.labels_inferred:
        console.print(
            f"labels inferred from the examples' outputs ({task.label_field()}): {', '.join(task.labels() or [])}; "
            "samples keep to them (an output_schema with labels overrides this)"
        )
    records: dict[str, dict[str, Any]] = {}
    by_key = {id(u.item): u for u in units}
    bar = make_progress(transient=True) if progress else None
    with bar or contextlib.nullcontext():
        bar_task = bar.add_task("map rows", total=len(units)) if bar else None
        for item, mapped, err in mapper.map_items([u.item for u in units]):
            unit = by_key[id(item)]
            if mapped is not None:
                sample = make_sample(unit, mapped["input"], mapped["output"], method="mapper")
                cut = mapper.provenance(item)
                if cut:
                    sample["provenance"]["unwrapped"] = cut
                records[unit.key] = {"sample": sample}
            else:
                assert err is not None
                records[unit.key] = {"reject": make_reject(unit, err)}
            if bar is not None and bar_task is not None:
                bar.advance(bar_task)
    rep = mapper.label_report()
    if progress and rep is not None:
        for line in report_lines(rep):
            console.print(line, highlight=False, markup=False)
    return records, rep


# ---- LLM -----------------------------------------------------------------------------------------
def _stats(llm: LLMClient) -> dict[str, Any]:
    return llm.stats.as_dict()


def _delta(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """This run's share of an LLM's running totals (a client may serve several stages)."""
    return {k: v - before.get(k, 0) if isinstance(v, (int, float)) else v for k, v in now.items()}


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _open_partial(out: Path, header: dict[str, Any]) -> tuple[AppendLog, dict[str, dict[str, Any]]]:
    """The partial log of this run, with the records a killed earlier run left (same config only)."""
    path = _partial_path(out)
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        recs = list(read_jsonl_tolerant(path))
        if recs and recs[0].get("header") == header:
            for rec in recs[1:]:
                if "key" in rec:
                    done[rec["key"]] = rec
        else:
            path.unlink()
    log = AppendLog(path, fsync=False)  # flush per record survives kill -9; the LLM cache covers the rest
    if not path.stat().st_size:
        log.append({"header": header})
    return log, done


@dataclass
class _Pending:
    unit: Unit
    messages: Messages
    prompt_hash: str
    raw: str | None = None
    error: SampleError | None = None


def _run_llm(
    task: Task,
    units: list[Unit],
    out: Path,
    llm: LLMClient,
    settings: TransformSettings,
    progress: bool,
    result: TransformResult,
) -> dict[str, dict[str, Any]]:
    from rich.progress import TextColumn

    from taskforge._console import make_progress
    from taskforge._llm import GenerationOptions, LLMRequest

    builder = PromptBuilder(task, settings)
    if units:  # a broken template fails here, before any file is written
        try:
            builder.messages(units[0].item, units[0].sample_index)
        except jinja2.TemplateError as e:
            raise SettingsError(f"{settings.template}: {type(e).__name__}: {e}") from None
    # seed + sample_index goes to the server: several samples per item differ, and reruns reproduce
    options = GenerationOptions(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
    )
    model = llm.spec
    header = {
        "task": stable_hash(task.model_dump(mode="json")),
        "config": stable_hash(settings.prompt_config()),
        "model": model,
    }
    log, done = _open_partial(out, header)
    records = {k: r for k, r in done.items() if LLM_ERROR not in str(r.get("reject", {}).get("reason", ""))}
    result.resumed = len([u for u in units if u.key in records])
    todo = [u for u in units if u.key not in records]
    pending: dict[str, _Pending] = {}
    for u in todo:
        msgs = builder.messages(u.item, u.sample_index)
        pending[u.key] = _Pending(u, msgs, stable_hash(msgs))
    fields = frozenset(answer_fields(task, chain_of_thought=settings.chain_of_thought)) | {"input", "output"}
    # the client sends it to servers that constrain decoding (LLM(structured=...)); validated either way
    schema = answer_schema(task, chain_of_thought=settings.chain_of_thought)

    def record(key: str, rec: dict[str, Any]) -> None:
        records[key] = rec
        log.append({"key": key, **rec})

    def handle(res: LLMResult, repair_round: bool) -> None:
        p = pending[res.request.key]
        model_name = res.model or model
        if not res.ok:
            err = SampleError(LLM_ERROR, str(res.error))
            record(p.unit.key, {"reject": make_reject(p.unit, err, p.raw)})
            return
        try:
            obj = extract_json(res.text or "", prefer_keys=fields)
            inp, outp, reasoning = validate_sample(task, obj, chain_of_thought=settings.chain_of_thought)
        except SampleError as err:
            if settings.repair and not repair_round:
                p.raw, p.error = res.text, err
                return
            if repair_round and p.error is not None:
                err = SampleError(
                    err.category, f"{err.detail} (after a repair request; first answer: {p.error})"
                )
            record(p.unit.key, {"reject": make_reject(p.unit, err, res.text)})
            return
        sample = make_sample(
            p.unit,
            inp,
            outp,
            method="llm",
            reasoning=reasoning if settings.chain_of_thought else None,  # unasked-for reasoning is dropped
            model=model_name,
            prompt_hash=p.prompt_hash,
            repaired=repair_round,
        )
        record(p.unit.key, {"sample": sample})

    before = _stats(llm)
    bar = make_progress(TextColumn("{task.fields[cost]}"), transient=True) if progress else None
    try:
        with bar or contextlib.nullcontext():
            bar_task = (
                bar.add_task("transform", total=len(units), completed=result.resumed, cost="") if bar else 0
            )

            def tick() -> None:
                if bar is not None:
                    s = _delta(_stats(llm), before)
                    bar.update(
                        bar_task, advance=1, cost=f"${s.get('cost', 0):,.4f} {s.get('calls', 0)} calls"
                    )

            requests = (
                LLMRequest(
                    key=p.unit.key,
                    messages=p.messages,
                    options=options,
                    sample_index=p.unit.sample_index,
                    json_schema=schema,
                )
                for p in list(pending.values())
            )
            for res in llm.run(requests):
                handle(res, repair_round=False)
                if res.request.key in records:
                    tick()
            repairs = [p for p in pending.values() if p.unit.key not in records and p.error is not None]
            repair_requests = (
                LLMRequest(
                    key=p.unit.key,
                    messages=builder.repair_messages(p.messages, p.raw or "", str(p.error)),
                    options=options,
                    sample_index=p.unit.sample_index,
                    json_schema=schema,
                )
                for p in repairs
            )
            result.repairs = len(repairs)
            for res in llm.run(repair_requests):
                handle(res, repair_round=True)
                tick()
    finally:
        log.close()
    result.llm_stats = _delta(_stats(llm), before)
    result.model = model
    return records
