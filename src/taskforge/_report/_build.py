"""Assemble the report: run data -> template context -> one self-contained HTML file."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from taskforge._embed import Encoder
from taskforge._io import atomic_write_text
from taskforge._task import Task

from ._charts import PALETTE, bar_chart, funnel_chart, histogram
from ._embedmap import MapPoint, build_map
from ._load import RunData, clip, item_text, load_run
from ._next import next_steps
from ._stats_view import (
    diversity_view,
    eval_view,
    fmt_num,
    is_num,
    stat_value,
    unique_share,
    uniqueness,
)

SCORE_ORDER = ("final", "query", "answer", "dataset")
EMBED_CHARS = 600  # text embedded per map point (keeps the map's cost down; MiniLM reads ~256 tokens anyway)
HOVER_CHARS = 300


def _hover(text: str) -> str:
    return text if len(text) <= HOVER_CHARS else text[:HOVER_CHARS] + "…"


def build_report(
    run_dir: str | Path,
    *,
    embedder: Encoder | bool | None = None,
    projection: str = "pca",
    max_kept: int = 2000,
    max_rejects: int = 500,
    map_limit: int = 1000,
    out: str | Path | None = None,
) -> Path:
    """Write ``run_dir/report.html`` (or ``out``) from whatever stage files the run has; return its path.

    ``embedder``: an object with ``encode(texts) -> (n, d)`` for the embedding map; ``None`` loads the
    default embedder; ``False`` leaves the map out. ``projection``: ``"pca"`` (fast, the default),
    ``"tsne"`` (scikit-learn; clearer clusters, tens of seconds for a few thousand points) or ``"auto"``
    (t-SNE up to 800 points, else PCA).
    """
    run = load_run(run_dir, max_kept=max_kept, max_rejects=max_rejects, map_limit=map_limit)
    ctx = context(run, embedder=embedder, projection=projection, map_limit=map_limit)
    html = render(ctx)
    path = Path(out) if out is not None else run.run_dir / "report.html"
    atomic_write_text(path, html)
    return path


# ---- rendering ------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    return resources.files("taskforge._report").joinpath(name).read_text(encoding="utf-8")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_for_script(obj: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(_finite(obj), ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    for ch, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return Markup(text)


def render(ctx: dict[str, Any]) -> str:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["num"] = fmt_num
    env.filters["pretty"] = lambda v: json.dumps(_finite(v), ensure_ascii=False, indent=2, default=str)
    env.filters["text"] = Task.text_of
    template = env.from_string(_asset("report.html.j2"))
    return template.render(
        css=Markup(_asset("report.css")), js=Markup(_asset("report.js")), json=json_for_script, **ctx
    )


# ---- context --------------------------------------------------------------------------------------
def context(run: RunData, *, embedder: Any, projection: str, map_limit: int) -> dict[str, Any]:
    task = run.task
    raw = run.task_raw or {}
    evaluation = eval_view(run.eval)
    return {
        "title": (task.name if task else raw.get("name")) or run.run_dir.name,
        "run": run,
        "run_dir": str(run.run_dir.resolve()),
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "instruction": task.instruction if task else raw.get("instruction"),
        "examples": [e.model_dump() for e in task.examples] if task else list(raw.get("examples") or []),
        "schema": {k: v.model_dump(exclude_none=True) for k, v in (task.output_schema or {}).items()}
        if task
        else {},
        "exclude_sources": task.exclude_sources if task else [],
        "tiles": tiles(run, evaluation),
        "next_steps": next_steps(run, evaluation),
        "uniqueness": uniqueness(run.stats),
        "funnel": funnel_view(run),
        "retrieval": retrieval_view(run),
        "map": map_view(run, embedder, projection, map_limit),
        "diversity": diversity(run),
        "eval": evaluation,
        "browser": browser_data(run),
        "records": [(s, run.records[s], count_chips(run.records[s].get("counts"))) for s in run.records],
    }


def _pct(a: int | None, b: int | None) -> str | None:
    return f"{100 * a / b:.1f}%" if a is not None and b else None


def tiles(run: RunData, evaluation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The header's key numbers: (label, value, sub-line)."""
    out = []
    if run.n_items is not None:
        out.append(
            {
                "label": "Retrieved",
                "value": fmt_num(run.n_items),
                "sub": f"from {len(run.items_by_source)} sources",
            }
        )
    if run.n_samples is not None:
        out.append(
            {
                "label": "Transformed",
                "value": fmt_num(run.n_samples),
                "sub": f"{fmt_num(run.n_rejects.get('transform', 0))} rejected",
            }
        )
    if run.n_kept is not None:
        out.append(
            {
                "label": "Kept",
                "value": fmt_num(run.n_kept),
                "sub": f"{_pct(run.n_kept, run.n_items) or '–'} of retrieved",
                "accent": True,
            }
        )
    if run.n_rejects:
        out.append(
            {
                "label": "Rejected",
                "value": fmt_num(sum(run.n_rejects.values())),
                "sub": " · ".join(f"{k} {fmt_num(v)}" for k, v in run.n_rejects.items()),
            }
        )
    out += _uniqueness_tiles(run.stats)
    if evaluation and evaluation.get("headline"):
        name, metric, value = evaluation["headline"]
        tile = {"label": metric, "value": stat_value(metric, value), "sub": name, "accent": True}
        if evaluation.get("baselines"):
            tile["sub"] = f"vs {evaluation['baselines']}"
        if evaluation.get("beats_baselines") is False or evaluation.get("warnings"):
            tile["warn"] = True  # amber: the expert does not beat what the user had without it
        out.append(tile)
    return out


def _uniqueness_tiles(stats: Any) -> list[dict[str, Any]]:
    """Unique inputs (and outputs, when they are not labels), each with what the figure means."""
    view = uniqueness(stats)
    if view is None:  # an older stats.json: one figure over input+output
        share = unique_share(stats)
        if share is None:
            return []
        return [
            {"label": "Unique samples", "value": f"{100 * share:.1f}%", "sub": "ROUGE-L < 0.7 to all others"}
        ]
    out = [{"label": "Unique inputs", "value": view["value"], "sub": view["sub"]}]
    if is_num(view["output"].get("unique_share")):
        share = view["output"]["unique_share"]
        out.append(
            {
                "label": "Unique outputs",
                "value": f"{100 * share:.1f}%",
                "sub": "ROUGE-L < 0.7 to every other output",
            }
        )
    return out


def contamination_table(contamination: Any) -> list[dict[str, Any]]:
    """funnel.json's eval-set overlap as one named table (it used to fall into an "other" block)."""
    if not isinstance(contamination, dict) or not contamination:
        return []
    cols = ["samples checked", "sharing an n-gram", "rate", "n-gram", "n-gram rate", "removed"]
    rows = []
    for name, v in contamination.items():
        if not isinstance(v, dict):
            continue
        rate, ngram_rate = v.get("rate"), v.get("ngram_rate")
        rows.append(
            (
                str(name),
                [
                    v.get("checked"),
                    v.get("n"),
                    f"{100 * rate:.1f}%" if is_num(rate) else None,
                    v.get("ngram"),
                    f"{100 * ngram_rate:.2f}%" if is_num(ngram_rate) else None,
                    "yes" if v.get("filtered") else "no",
                ],
            )
        )
    title = "Overlap with evaluation sets (before decontamination)"
    return [{"title": title, "table": (cols, rows)}] if rows else []


def funnel_view(run: RunData) -> dict[str, Any]:
    steps: list[tuple[str, int, str]] = []
    if run.n_items is not None:
        steps.append(("Retrieved", run.n_items, ""))
    if run.n_samples is not None:
        dropped = run.n_rejects.get("transform")
        steps.append(("Transformed", run.n_samples, f"−{dropped:,} rejected in transform" if dropped else ""))
    remaining = run.n_samples
    groups: Counter[tuple[str, str]] = Counter()
    for (stage, flt, _), c in run.reject_groups.items():
        groups[(stage, flt)] += c
    funnel = run.funnel if isinstance(run.funnel, dict) else {}
    dropped_map = funnel.get("dropped") if isinstance(funnel.get("dropped"), dict) else {}
    seen = run.reject_filters.get("filter", [])
    if seen:  # counts from rejects.jsonl, in the order funnel.json lists the filters (else first seen)
        order = [str(k) for k in dropped_map if str(k) in seen] + [f for f in seen if f not in dropped_map]
        filter_steps = [(f, groups[("filter", f)]) for f in order]
    else:  # no rejects file: funnel.json's own counts
        filter_steps = [(str(k), int(v)) for k, v in dropped_map.items() if is_num(v) and v]
    if remaining is not None:
        for flt, dropped in filter_steps:
            remaining -= dropped
            steps.append((flt, remaining, f"−{dropped:,} {flt}"))
    if run.n_kept is not None:
        note = ""
        if remaining is not None and remaining != run.n_kept and filter_steps:
            note = f"{remaining - run.n_kept:+,} not accounted for by rejects".replace("+", "−", 1)
        steps.append(("Kept", run.n_kept, note))
    stage_in = {"transform": run.n_items, "filter": run.n_samples}
    rows = [
        {"stage": st, "filter": flt, "reason": reason, "count": c, "share": _pct(c, stage_in.get(st))}
        for (st, flt, reason), c in sorted(
            run.reject_groups.items(), key=lambda kv: (kv[0][0] != "transform", -kv[1])
        )
    ]
    contamination = funnel.get("contamination")
    return {
        "contamination": contamination_table(contamination),
        "chart": funnel_chart(steps, width=1100) if len(steps) > 1 else None,
        "steps": steps,
        "rejects": rows[:60],
        "more_reasons": max(0, len(rows) - 60),
    }


def retrieval_view(run: RunData) -> dict[str, Any] | None:
    if run.n_items is None:
        return None
    sources = sorted(run.items_by_source, key=lambda s: -run.items_by_source[s])
    has_kept = run.n_kept is not None
    rows = [
        (s, [run.items_by_source[s], run.kept_by_source.get(s, 0)] if has_kept else [run.items_by_source[s]])
        for s in sources[:40]
    ]
    extra_kept = [s for s in run.kept_by_source if s not in run.items_by_source]
    rows += [(s, [0, run.kept_by_source[s]]) for s in extra_kept[:10]]
    names = sorted(run.scores, key=lambda n: (SCORE_ORDER.index(n) if n in SCORE_ORDER else 99, n))
    return {
        "sources_chart": bar_chart(
            rows, ["retrieved", "kept"] if has_kept else ["retrieved"], title="Items per source", width=540
        )
        if rows
        else None,
        "n_sources": len(sources),
        "histograms": [
            histogram(run.scores[n], title=n, color=PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)
        ],
        "methods": dict(run.methods),
    }


def map_view(run: RunData, embedder: Any, projection: str, map_limit: int) -> dict[str, Any]:
    if embedder is False:
        return {"points": [], "method": None, "error": "the embedding map was turned off for this report"}
    points: list[tuple[MapPoint, str]] = []
    for e in run.task.examples if run.task else []:
        text = Task.text_of(e.input) + "\n" + Task.text_of(e.output)
        points.append((MapPoint("example", "example", _hover(text)), text[:EMBED_CHARS]))
    for it in run.map_items:
        points.append((MapPoint("retrieved", it["source"], _hover(it["text"])), it["text"][:EMBED_CHARS]))
    step = max(1, -(-len(run.kept) // map_limit)) if map_limit else 0
    for s in run.kept[::step] if step else []:
        text = (Task.text_of(s.get("input")) + "\n" + Task.text_of(s.get("output")))[:EMBED_CHARS]
        src = str((s.get("provenance") or {}).get("source", ""))
        points.append((MapPoint("kept", src, _hover(text)), text))
    try:
        data = build_map(points, None if embedder is True else embedder, projection=projection)
    except Exception as e:  # the map is optional: a missing model must not cost the whole report
        data = {
            "points": [],
            "method": None,
            "error": f"could not embed ({type(e).__name__}: {str(e)[:200]})",
        }
    counts = Counter(p.kind for p, _ in points)
    names = {"example": "task examples", "retrieved": "retrieved rows", "kept": "kept samples"}
    data["caption"] = ", ".join(f"{counts[k]:,} {names[k]}" for k in names if counts[k])
    return data


def browser_data(run: RunData) -> dict[str, Any]:
    """The sample browser's JSON: capped samples and rejects, and the retrieved rows they came from."""

    def ref(d: Any) -> str | None:
        return (
            f"{d['source']}\u241f{d['row_id']}"
            if isinstance(d, dict) and d.get("source") is not None and d.get("row_id") is not None
            else None
        )

    def sample_view(s: dict[str, Any]) -> dict[str, Any]:
        prov = s.get("provenance") if isinstance(s.get("provenance"), dict) else {}
        return {
            "id": s.get("id"),
            "input": s.get("input"),
            "output": s.get("output"),
            "reasoning": s.get("reasoning"),
            "source": prov.get("source"),
            "row_id": prov.get("row_id"),
            "method": prov.get("method"),
            "model": prov.get("model"),
            "label": run.label_of(s),
            "item": ref(prov),
        }

    kept = [sample_view(s) for s in run.kept]
    rejects = []
    for r in run.rejects:
        sample = r.get("sample") if isinstance(r.get("sample"), dict) else None
        view = sample_view(sample) if sample else {"id": None, "input": None, "output": None, "label": None}
        item = r.get("item") if isinstance(r.get("item"), dict) else {}
        view.update(
            {
                "stage": r.get("stage"),
                "filter": r.get("filter"),
                "reason": r.get("reason"),
                "raw": r.get("raw"),
                "source": view.get("source") or item.get("source"),
                "row_id": view.get("row_id") or item.get("row_id"),
                "item": view.get("item") or ref(item),
            }
        )
        rejects.append(view)
    used = {v["item"] for v in kept + rejects if v.get("item")}
    items = {}
    for (src, row_id), it in run.items.items():
        key = f"{src}\u241f{row_id}"
        if key in used:
            items[key] = {
                **it,
                "text": it.get("text") or None,
                "cells": it.get("cells") or clip({"text": item_text(it)}),
            }
    return {
        "kept": kept,
        "rejects": rejects,
        "items": items,
        "label_field": run.label_field,
        "labels": run.task.labels() if run.task else None,
        "n_kept": run.n_kept,
        "n_rejects": sum(run.n_rejects.values()),
    }


def diversity(run: RunData) -> dict[str, Any]:
    view = diversity_view(run.stats)
    if not view["present"] and run.kept_by_label:  # no stats.json: at least the kept samples' labels
        rows = sorted(((a, [b]) for a, b in run.kept_by_label.items()), key=lambda r: -r[1][0])
        view["charts"] = [
            {"title": "labels (kept)", "chart": bar_chart(rows, ["kept"], title="labels", width=520)}
        ]
    return view


def count_chips(counts: Any) -> list[str]:
    """A stage record's counts as short chips; nested maps flattened (``per_source snli_dev 150``)."""
    if not isinstance(counts, dict):
        return []
    chips = []
    for k, v in counts.items():
        if isinstance(v, dict):
            chips += [
                f"{k} {a} {fmt_num(b)}" for a, b in list(v.items())[:12] if not isinstance(b, (dict, list))
            ]
        elif not isinstance(v, list):
            chips.append(f"{k} {fmt_num(v)}")
    return chips
