"""Static charts as inline SVG strings (every text escaped), sized by viewBox to fill their card."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup, escape

PALETTE = [
    "#4f6bed",
    "#e8804f",
    "#2aa876",
    "#c84b8f",
    "#8a63d2",
    "#d4a72c",
    "#3fa7c4",
    "#7a8793",
    "#b85450",
    "#5b8c3a",
]
INK, MUTED, GRID = "#1d2433", "#6b7385", "#e6e9f0"


def _fmt(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _trim(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    title: str,
    colors: Sequence[str] | None = None,
    width: int = 640,
) -> Markup:
    """Horizontal bars, one group per row, one bar per series (e.g. retrieved vs kept per source)."""
    colors = list(colors or PALETTE)
    label_w, pad, bar_h, gap = 170, 8, 16, 10
    group_h = bar_h * len(series) + gap
    legend_h = 24 if len(series) > 1 else 0
    height = legend_h + len(rows) * group_h + pad
    vmax = max([v for _, vals in rows for v in vals] + [1])
    plot_w = width - label_w - 70
    body: list[str] = []
    if len(series) > 1:
        x = label_w
        for i, name in enumerate(series):
            body.append(
                f'<rect x="{x}" y="6" width="12" height="12" rx="3" fill="{colors[i % len(colors)]}"/>'
            )
            body.append(f'<text x="{x + 17}" y="16" class="lg">{escape(name)}</text>')
            x += 30 + 8 * len(name)
    for r, (label, vals) in enumerate(rows):
        y0 = legend_h + r * group_h
        body.append(
            f'<text x="{label_w - 10}" y="{y0 + group_h / 2}" class="lb" text-anchor="end" '
            f'dominant-baseline="middle"><title>{escape(label)}</title>{escape(_trim(label))}</text>'
        )
        for i, v in enumerate(vals):
            w = max(1.5, plot_w * v / vmax) if v else 0
            y = y0 + i * bar_h
            body.append(
                f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 3}" rx="3" '
                f'fill="{colors[i % len(colors)]}"><title>{escape(label)} · {escape(series[i])}: {_fmt(v)}</title></rect>'
            )
            body.append(
                f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h / 2}" class="vl" dominant-baseline="middle">{_fmt(v)}</text>'
            )
    return _svg(width, height, body, title)


def histogram(
    values: Sequence[float], *, title: str, color: str = PALETTE[0], bins: int = 24, width: int = 320
) -> Markup:
    """A histogram with min/mean/max marks; ``title`` is drawn above it."""
    vals = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    height, top, bottom, left, right = 150, 26, 22, 8, 8
    body = [f'<text x="{left}" y="15" class="ct">{escape(title)}</text>']
    if len(vals) == 0:
        body.append(
            f'<text x="{width / 2}" y="{height / 2}" class="vl" text-anchor="middle">no values</text>'
        )
        return _svg(width, height, body, title)
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(vals, bins=bins, range=(lo, hi))
    plot_w, plot_h = width - left - right, height - top - bottom
    cmax = max(int(counts.max()), 1)
    bw = plot_w / bins
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{GRID}"/>'
    )
    for i, c in enumerate(counts):
        h = plot_h * c / cmax
        body.append(
            f'<rect class="bar" x="{left + i * bw + 0.5:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" rx="1.5" fill="{color}"><title>{edges[i]:.3f} – {edges[i + 1]:.3f}: {int(c):,}</title></rect>'
        )
    mean = float(vals.mean())
    mx = left + plot_w * (mean - lo) / (hi - lo)
    body.append(
        f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 2}" y2="{top + plot_h}" stroke="{INK}" stroke-dasharray="3 3"/>'
    )
    body.append(
        f'<text x="{width - right}" y="15" class="vl" text-anchor="end">mean {mean:.3f} · n={len(vals):,}</text>'
    )
    body.append(f'<text x="{left}" y="{height - 6}" class="ax">{lo:.3f}</text>')
    body.append(f'<text x="{width - right}" y="{height - 6}" class="ax" text-anchor="end">{hi:.3f}</text>')
    return _svg(width, height, body, title)


def funnel_chart(steps: Sequence[tuple[str, int, str]], *, title: str = "Funnel", width: int = 760) -> Markup:
    """Centered bars narrowing stage by stage: ``(label, count, note)``; the note sits on the right."""
    bar_h, gap, label_w, note_w = 30, 10, 150, 230
    height = len(steps) * (bar_h + gap)
    plot_w = width - label_w - note_w
    vmax = max([c for _, c, _ in steps] + [1])
    body: list[str] = []
    for i, (label, count, note) in enumerate(steps):
        y = i * (bar_h + gap)
        w = max(2.0, plot_w * count / vmax)
        x = label_w + (plot_w - w) / 2
        color = PALETTE[2] if i == len(steps) - 1 else PALETTE[0]
        body.append(
            f'<text x="{label_w - 12}" y="{y + bar_h / 2}" class="lb" text-anchor="end" dominant-baseline="middle">{escape(_trim(label, 22))}</text>'
        )
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="5" fill="{color}" '
            f'opacity="{1 - 0.35 * i / max(len(steps) - 1, 1):.2f}"><title>{escape(label)}: {count:,}</title></rect>'
        )
        inside = w > 60
        body.append(
            f'<text x="{label_w + plot_w / 2:.1f}" y="{y + bar_h / 2}" class="{"fv" if inside else "vl"}" '
            f'text-anchor="middle" dominant-baseline="middle">{count:,}</text>'
        )
        if note:
            body.append(
                f'<text x="{label_w + plot_w + 12}" y="{y + bar_h / 2}" class="nt" dominant-baseline="middle">{escape(note)}</text>'
            )
    return _svg(width, height, body, title)
