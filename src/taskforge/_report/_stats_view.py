"""``filter/stats.json`` and ``eval/results.json`` as page blocks: tiles, bar charts and tables.

Both are rendered generically, so new keys show up without a report change:
numbers become tiles, ``{name: count}`` maps become bar charts, ``{row: {col: number}}``
maps (nested any depth) become tables, anything else goes to a collapsed JSON block.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from ._charts import PALETTE, bar_chart

SKIP = {"task", "seconds", "finished_at", "text", "settings"}  # bookkeeping, not statistics


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt_num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def stat_value(key: str, v: Any) -> str:
    """A statistic for display: shares and rates in [0, 1] as percentages."""
    if is_num(v) and any(w in key for w in ("share", "rate", "ratio")) and 0 <= v <= 1:
        return f"{100 * v:.1f}%"
    return fmt_num(v)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _flat_numbers(v: Any, prefix: str = "") -> dict[str, float] | None:
    """``{"chars": {"mean": 3}}`` -> ``{"chars mean": 3}``; None when a leaf is not a number."""
    if is_num(v):
        return {prefix: v}
    if not isinstance(v, dict) or not v:
        return None
    out: dict[str, float] = {}
    for k, x in v.items():
        sub = _flat_numbers(x, f"{prefix} {k}".strip())
        if sub is None:
            return None
        out.update(sub)
    return out


def _matrix(v: Any) -> tuple[list[str], list[tuple[str, list[Any]]]] | None:
    """``{row: {col...: number}}`` -> (columns, rows), or None."""
    if not isinstance(v, dict) or not v or not all(isinstance(r, dict) for r in v.values()):
        return None
    flat = {str(name): _flat_numbers(r) for name, r in v.items()}
    if any(f is None for f in flat.values()):
        return None
    cols = list(dict.fromkeys(c for f in flat.values() for c in f))  # type: ignore[union-attr]
    return cols, [(name, [f.get(c) for c in cols]) for name, f in flat.items()]  # type: ignore[union-attr]


def blocks(data: dict[str, Any], *, title: str = "") -> list[dict[str, Any]]:
    """Page blocks for one mapping: ``{"title", "tiles", "chart", "table", "json"}`` each."""
    out: list[dict[str, Any]] = []
    tiles = [(_label(k), stat_value(k, v)) for k, v in data.items() if k not in SKIP and is_num(v)]
    facts = [(_label(k), v) for k, v in data.items() if k not in SKIP and isinstance(v, str)]
    if tiles or facts:
        out.append({"title": title, "tiles": tiles, "facts": facts})
    other: dict[str, Any] = {}
    for k, v in data.items():
        if k in SKIP or v is None or is_num(v) or isinstance(v, str):
            continue
        if (
            isinstance(v, dict)
            and v
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v.values())
        ):
            rows = sorted(v.items(), key=lambda kv: -kv[1])[:40]
            color = PALETTE[(len(out) + 2) % len(PALETTE)]
            chart = bar_chart(
                [(str(a), [b]) for a, b in rows], [_label(k)], title=_label(k), colors=[color], width=520
            )
            out.append({"title": _label(k), "chart": chart, "more": max(0, len(v) - 40)})
        elif isinstance(v, dict) and v and all(is_num(x) or isinstance(x, str) for x in v.values()):
            out += blocks(v, title=_label(k))
        elif (m := _matrix(v)) is not None:
            out.append({"title": _label(k), "table": m})
        else:
            other[k] = v
    for k, v in other.items():  # anything without a chart or table: its own named, collapsed block
        out.append({"summary": f"{title}: {_label(k)}" if title else _label(k), "json": v})
    return out


def diversity_view(stats: Any) -> dict[str, Any]:
    """stats.json: one grid of figures (diversity first), bar charts for count maps, tables for the rest."""
    if not isinstance(stats, dict) or not stats:
        return {"present": False, "tiles": [], "charts": [], "blocks": []}
    ordered = {k: stats[k] for k in ("diversity", *stats) if k in stats}
    if isinstance(ordered.get("diversity"), dict):  # shown as its own table (uniqueness by part)
        ordered["diversity"] = {k: v for k, v in ordered["diversity"].items() if k != "parts"}
    tiles: list[tuple[str, str]] = []
    charts: list[dict[str, Any]] = []
    rest: dict[str, Any] = {}
    for k, v in ordered.items():
        if k in SKIP or v is None:
            continue
        if is_num(v) or isinstance(v, str):
            tiles.append((_label(k), stat_value(k, v)))
        elif isinstance(v, dict) and v and all(is_num(x) or isinstance(x, str) for x in v.values()):
            counts = all(isinstance(x, int) and not isinstance(x, bool) for x in v.values())
            if counts and len(v) > 1:
                charts += blocks({k: v})
            elif counts:
                tiles += [(f"{_label(k)}: {a}", fmt_num(b)) for a, b in v.items()]
            else:
                tiles += [(_label(a), stat_value(a, b)) for a, b in v.items() if a not in SKIP]
        else:
            rest[k] = v
    tiles.sort(key=lambda t: ("threshold" in t[0] or ":" in t[0], t[0] not in ("size", "unique share")))
    return {"present": True, "tiles": tiles, "charts": charts, "blocks": blocks(rest)}


def unique_share(stats: Any) -> float | None:
    """ReBase's share of unique samples, wherever stats.json keeps it."""
    if not isinstance(stats, dict):
        return None
    for d in (stats.get("diversity"), stats):
        if isinstance(d, dict) and is_num(d.get("unique_share")):
            return float(d["unique_share"])
    return None


REUSED = 0.9  # a field with fewer distinct texts than this share of the samples is "reused"


def uniqueness(stats: Any) -> dict[str, Any] | None:
    """The inputs' and outputs' uniqueness, separately, and a sentence on what the figure means.

    ``{"value", "sub", "explain", "rows"}`` from stats.json's ``diversity.parts``; None without it.
    One figure over input+output alarms without explaining: SNLI pairs each premise with three
    hypotheses, so few whole samples are "unique" although every hypothesis is new.
    """
    div = stats.get("diversity") if isinstance(stats, dict) else None
    parts = div.get("parts") if isinstance(div, dict) else None
    if not isinstance(parts, dict) or not isinstance(parts.get("input"), dict):
        return None
    n = int(stats.get("size") or 0)
    threshold = div.get("rouge_l_threshold", 0.7)
    fields = {
        k.removeprefix("input."): v
        for k, v in parts.items()
        if k.startswith("input.") and isinstance(v, dict)
    }
    reused = {k: v for k, v in fields.items() if n and v.get("distinct", n) < REUSED * n}
    share = parts["input"].get("unique_share")
    explain = [
        f"A text counts as unique when it shares less than {threshold:.0%} (ROUGE-L) with every other "
        f"text of the same part; {_pct(share)} of the {n:,} inputs are unique."
    ]
    sub = f"ROUGE-L < {threshold} to every other input"
    if reused:
        name, v = min(reused.items(), key=lambda kv: kv[1].get("distinct", n))
        sub = f"{name} reused: {v.get('distinct', 0):,} distinct in {n:,}"
        explain.append(
            f"That is low because `{name}` is reused: {v.get('distinct', 0):,} distinct {name}s among "
            f"{n:,} samples (a source may pair each {name} with several samples, as SNLI pairs each premise with three hypotheses)."
        )
    others = [f"`{k}` {_pct(v.get('unique_share'))} unique" for k, v in fields.items() if k not in reused]
    if others:
        explain.append("Other fields: " + ", ".join(others) + ".")
    out = parts.get("output") if isinstance(parts.get("output"), dict) else {}
    if "unique_share" in out:
        explain.append(f"Outputs: {_pct(out['unique_share'])} unique ({out.get('distinct', 0):,} distinct).")
    elif out:
        explain.append(f"Outputs are labels ({out.get('distinct', 0):,} distinct), so they repeat by design.")
    rows = [
        (part, [v.get("distinct"), v.get("unique_share")]) for part, v in parts.items() if isinstance(v, dict)
    ]
    return {"value": _pct(share), "sub": sub, "explain": " ".join(explain), "rows": rows, "output": out}


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if is_num(v) else "–"


def eval_view(results: Any) -> dict[str, Any] | None:
    """eval/results.json: a metrics table (one row per model/system) with a bar chart, plus the rest."""
    if not isinstance(results, dict):
        return None
    metrics = results.get("metrics")
    rows: list[tuple[str, list[Any]]] = []
    cols: list[str] = []
    rest = dict(results)
    if isinstance(metrics, dict) and metrics and all(is_num(v) for v in metrics.values()):
        cols = list(metrics)
        rows = [(str(results.get("model") or "expert"), list(metrics.values()))]
        rest.pop("metrics")
    elif (m := _matrix(metrics)) is not None:  # several systems compared: {system: {metric: x}}
        cols, rows = m
        rest.pop("metrics")
    rows += _baseline_rows(rest.pop("baselines", None), cols)
    for key in ("baselines", "compare", "systems"):  # optional extra rows in the same metrics
        m = _matrix(rest.get(key))
        if m is not None and cols:
            rows += [(name, [dict(zip(m[0], vals, strict=True)).get(c) for c in cols]) for name, vals in m[1]]
            rest.pop(key)
    chart: Markup | None = None
    if rows and len(rows) > 1:
        chart = bar_chart(
            [(n, [v[0] or 0]) for n, v in rows], [cols[0]], title=cols[0], colors=[PALETTE[2]], width=620
        )
    headline = (
        (rows[0][0], cols[0], rows[0][1][0]) if rows and rows[0][1] and rows[0][1][0] is not None else None
    )
    warnings = [str(w) for w in rest.pop("warnings", None) or []]
    diag = rest.pop("diagnostics", None)
    return {
        "columns": cols,
        "rows": [
            (n, [stat_value(c, v) if v is not None else "–" for c, v in zip(cols, vals, strict=True)])
            for n, vals in rows
        ],
        "chart": chart,
        "headline": headline,
        "baselines": _baseline_line(results.get("baselines")),
        "beats_baselines": _beats(results),
        "warnings": warnings,
        "blocks": _diagnostic_blocks(diag) + blocks(rest),
    }


def _baseline_rows(baselines: Any, cols: list[str]) -> list[tuple[str, list[Any]]]:
    """Rows for the examples-only and majority baselines, in the expert's metric columns."""
    if not isinstance(baselines, dict) or not cols:
        return []
    out = []
    for key, b in baselines.items():
        if not isinstance(b, dict) or not is_num(b.get("accuracy")):
            continue
        name = {"majority": f"majority ({b.get('label', '?')})", "examples_only": "examples only"}.get(
            key, key
        )
        if key == "examples_only" and b.get("n_train"):
            name = f"examples only ({b['n_train']})"
        values = {**b, "top_share": 1.0} if key == "majority" else b
        out.append((name, [values.get(c) if is_num(values.get(c)) else None for c in cols]))
    return out


def _baseline_line(baselines: Any) -> str:
    """ "majority 0.626 · examples only 0.580" for the accuracy tile."""
    if not isinstance(baselines, dict):
        return ""
    names = {"majority": "majority", "examples_only": "examples only"}
    return " · ".join(
        f"{names.get(k, k)} {fmt_num(round(float(b['accuracy']), 3))}"
        for k, b in baselines.items()
        if isinstance(b, dict) and is_num(b.get("accuracy"))
    )


def _beats(results: dict[str, Any]) -> bool | None:
    """Whether the expert's accuracy beats every baseline (None when there is nothing to compare)."""
    acc = (results.get("metrics") or {}).get("accuracy") if isinstance(results.get("metrics"), dict) else None
    base = results.get("baselines")
    accs = [b["accuracy"] for b in (base or {}).values() if isinstance(b, dict) and is_num(b.get("accuracy"))]
    if not is_num(acc) or not accs:
        return None
    return all(acc > a for a in accs)


def _diagnostic_blocks(diag: Any) -> list[dict[str, Any]]:
    """Per-label precision/recall and the confusion matrix as tables."""
    if not isinstance(diag, dict):
        return []
    out: list[dict[str, Any]] = []
    per_label = _matrix(diag.get("per_label"))
    if per_label is not None:
        out.append({"title": "per label", "table": per_label})
    conf = diag.get("confusion")
    if (
        isinstance(conf, dict)
        and isinstance(conf.get("labels"), list)
        and isinstance(conf.get("matrix"), list)
    ):
        labels = [str(x) for x in conf["labels"]]
        rows = [(f"gold {lab}", list(r)) for lab, r in zip(labels, conf["matrix"], strict=False)]
        out.append({"title": "confusion matrix (rows: gold, columns: predicted)", "table": (labels, rows)})
    return out
