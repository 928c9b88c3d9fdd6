"""Forest plots: one row per group, a point and its interval per series, on a shared axis.

Used for the adjusted error-rate ratios (two series, unadjusted and adjusted, on a log
axis with a line at 1), the paired release differences (one series, in percentage
points, with a line at 0), the within-speaker ratios (log, 1) and several systems' CERs
(one series per system, no reference line). Labels and the figures have columns of their own beside the
plot, so nothing overlaps; each mark has a ``<title>`` too.
"""

from __future__ import annotations

import math

from asr.audit.formatting import e
from asr.audit.svg import COLOR, PAD, WIDTH, fit_text, nice_axis, svg_open, text_width, ticks

#: Marker colours of the series, in order (grey and blue for two; more series take the rest).
SERIES_COLORS = ("#718096", COLOR, "#dd6b20", "#805ad5", "#319795", "#b83280")
LINE = 17


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a log axis spanning ``[low, high]``: 1-2-5 steps, or powers of ten when those are too many."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1, 2, 5), (1,)):
        found = [m * 10**k for k in range(first, last + 1) for m in mantissas if low <= m * 10**k <= high]
        if len(found) <= 7:
            return found
    return [10**k for k in range(first, last + 1, max(1, (last - first) // 6)) if low <= 10**k <= high]


def _axis(values: list[float], log: bool, anchor: float | None):
    """``(low, high, ticks)`` covering ``values`` and ``anchor`` (1 for ratios, 0 for differences and rates)."""
    values = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
    values += [anchor] if anchor is not None else [0.0] if not log else []
    if log:
        low, high = min(values) / 1.15, max(values) * 1.15
        return low, high, log_ticks(low, high)
    lo, hi, step = nice_axis(max(values), min(values))
    return lo, hi, ticks(lo, hi, step)


def forest_plot(rows: list[dict], series: tuple[str, ...], *, log: bool, anchor: float | None, axis_label: str,
                fmt, tick_fmt, colors: tuple[str, ...] | None = None) -> str:
    """Rows ``{"label", "values": [(value, low, high) or None per series], "note"}`` on one axis.

    ``anchor``: the no-difference line (1 on a log axis, 0 otherwise; None: no line, and a
    linear axis from 0). ``fmt`` formats a value for the figures column, ``tick_fmt`` a tick;
    ``colors``: one per series (default :data:`SERIES_COLORS`, or the accent colour for one series).
    """
    colors = colors or (SERIES_COLORS if len(series) > 1 else (COLOR,))
    rows = [r for r in rows if any(v is not None for v in r["values"])]
    if not rows:
        return "<p class=muted>Nothing to plot.</p>"
    allv = [x for r in rows for v in r["values"] if v for x in v]
    low, high, marks = _axis(allv, log, anchor)
    label_w = min(220, max(60, max(text_width(r["label"]) for r in rows) + 20))
    texts = [[_figure(v, fmt) for v in r["values"]] for r in rows]
    text_w = max(text_width(t, 11) for row in texts for t in row) + 12
    plot_w = WIDTH - label_w - text_w - PAD
    scale = (lambda v: math.log(v)) if log else (lambda v: v)  # noqa: E731
    X = lambda v: label_w + plot_w * (scale(min(max(v, low), high)) - scale(low)) / (scale(high) - scale(low))  # noqa: E731
    n = len(series)
    block = n * LINE + 8
    legend = _legend(series, colors, label_w) if n > 1 else []
    legend_h = 20 * (max(line for _, _, _, line in legend) + 1) if legend else 0
    height = legend_h + len(rows) * block + 48  # the axis label's descenders (_, g, p) stay inside
    parts = [svg_open(height, axis_label)]
    for name, color, x0, line in legend:
        parts.append(f'<circle cx="{x0 + 5}" cy="{10 + 20 * line}" r="4" fill="{color}"/>'
                     f'<text x="{x0 + 13}" y="{14 + 20 * line}" class=lab>{e(name)}</text>')
    base = legend_h + 4
    for t in marks:
        parts.append(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{base}" y2="{height - 30}" stroke="#e2e8f0"/>'
                     f'<text x="{X(t):.1f}" y="{height - 16}" text-anchor="middle" class=tick>{e(tick_fmt(t))}</text>')
    if anchor is not None:
        parts.append(f'<line x1="{X(anchor):.1f}" x2="{X(anchor):.1f}" y1="{base}" y2="{height - 30}" stroke="#2d3748" '
                     'stroke-dasharray="4 3"/>')
    for i, (r, row_texts) in enumerate(zip(rows, texts)):
        y0 = base + i * block
        parts.append(f'<text x="{label_w - 8}" y="{y0 + block / 2 + 4:.1f}" text-anchor="end" class=lab>'
                     f'{e(fit_text(r["label"], label_w - 12))}</text>')
        for j, (v, text) in enumerate(zip(r["values"], row_texts)):
            cy = y0 + 4 + j * LINE + LINE / 2
            if v is None:
                continue
            value, lo, hi = v
            color = colors[j % len(colors)]
            tip = f"{r['label']}{' (' + series[j] + ')' if n > 1 else ''}: {text}" + (f"; {r['note']}" if r.get("note") else "")
            parts.append(f'<g><title>{e(tip)}</title>')
            if lo is not None and hi is not None:
                parts.append(f'<line x1="{X(lo):.1f}" x2="{X(hi):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="{color}" stroke-width="2"/>')
            parts.append(f'<circle cx="{X(value):.1f}" cy="{cy:.1f}" r="4.5" fill="{color}"/>'
                         f'<text x="{WIDTH - PAD}" y="{cy + 4:.1f}" text-anchor="end" class=val>{e(text)}</text></g>')
    parts.append(f'<text x="{label_w + plot_w / 2:.0f}" y="{height - 5}" text-anchor="middle" class=axis>'
                 f'{e(fit_text(axis_label, WIDTH - 20))}</text></svg>')
    return "".join(parts)


def _legend(series: tuple[str, ...], colors: tuple[str, ...], left: float) -> list[tuple[str, str, float, int]]:
    """``(name, colour, x, line)`` of each series' legend entry, wrapped onto more lines where they do not fit."""
    out, x0, line = [], left, 0
    for i, name in enumerate(series):
        name = fit_text(name, 200)
        width = text_width(name) + 36
        if x0 > left and x0 + width > WIDTH - PAD:
            x0, line = left, line + 1
        out.append((name, colors[i % len(colors)], x0, line))
        x0 += width
    return out


def _figure(v, fmt) -> str:
    if v is None:
        return ""
    value, lo, hi = v
    return fmt(value) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else "")

