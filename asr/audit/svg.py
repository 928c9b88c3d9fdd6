"""Hand-written inline SVG plots for the report (no plotting library, no script).

Every label goes through :func:`asr.audit.formatting.e`. Axes fit their data
(:func:`nice_axis`: a 9.6% maximum gets a 10% axis, not 20%); text never overlaps:
labels are cut to the width of their column (:func:`fit_text`, measured with
:func:`text_width`, full-width CJK characters counting double), value labels have a
column of their own, scatter labels are placed where they collide with nothing
(:func:`place_labels`) and release names on the trend axis are thinned to fit.
Every mark carries a ``<title>`` with its exact figures as well.
"""

from __future__ import annotations

import math
import unicodedata

from asr.audit.formatting import axis_pct, e

WIDTH = 760
ROW = 24
FONT = 12
PAD = 12
COLOR = "#2b6cb0"
MUTED = "#a0aec0"
WORST = "#c53030"
BEST = "#2f855a"
#: Fill of a row by its mark (``None``: the ordinary colour).
FILLS = {"worst": WORST, "best": BEST, "flagged": MUTED, None: COLOR}


def text_width(text: str, size: float = FONT) -> float:
    """Approximate rendered width in px: full-width (CJK) characters 1 em, others 0.6 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.6 * size for c in str(text))


def fit_text(text: str, width: float, size: float = FONT) -> str:
    """``text`` cut (with an ellipsis) to at most ``width`` px."""
    text = str(text)
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def nice_axis(top: float, bottom: float = 0.0, most: int = 7) -> tuple[float, float, float]:
    """``(low, high, step)``: an axis from ``bottom`` to just above ``top`` in 1, 2, 2.5 or 5 x 10^k steps.

    At most ``most`` steps: ``nice_axis(0.096)`` is ``(0, 0.10, 0.02)``; ``nice_axis(0.102)``
    ``(0, 0.12, 0.02)``; ``nice_axis(0.345)`` ``(0, 0.35, 0.05)``.
    """
    span = top - bottom
    if not math.isfinite(span) or span <= 0:
        return bottom, bottom + 1.0, 0.2
    mag = 10 ** math.floor(math.log10(span / most))
    for m in (1, 2, 2.5, 5, 10, 20):
        step = m * mag
        low = math.floor(bottom / step + 1e-9) * step
        high = math.ceil(top / step - 1e-9) * step
        if (high - low) / step <= most + 1e-9:
            return low, high, step
    return bottom, top, span


def ticks(low: float, high: float, step: float) -> list[float]:
    n = int(round((high - low) / step))
    return [low + i * step for i in range(n + 1)]


def svg_open(height: float, title: str) -> str:
    return (f'<svg class=plot role=img viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{e(title)}</title>')


def interval_plot(rows: list[dict], reference: float | None = None, label: str = "CER", pct: bool = True) -> str:
    """Horizontal bars with interval whiskers, one per ``{"label", "value", "low", "high", "mark", "note"}``.

    ``mark``: ``"worst"``, ``"best"``, ``"flagged"`` or None (:data:`FILLS`). ``reference``: a
    dashed vertical line (the overall CER).
    """
    rows = [r for r in rows if r.get("value") is not None]
    if not rows:
        return "<p class=muted>No data to plot.</p>"
    top = max(max(r["value"], r.get("high") or 0.0) for r in rows)
    low, high, step = nice_axis(top)
    fmt = (lambda v: axis_pct(v, step)) if pct else (lambda v: f"{v:g}")
    value_fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.3g}")
    label_w = min(240, max(60, max(text_width(r["label"]) for r in rows) + 20))
    value_w = max(text_width(value_fmt(r["value"]), 11) for r in rows) + 14
    plot_w = WIDTH - label_w - value_w - PAD
    height = len(rows) * ROW + 50  # the axis label's descenders (_, g, p) stay inside
    x = lambda v: label_w + plot_w * (min(max(v, low), high) - low) / (high - low)  # noqa: E731
    parts = [svg_open(height, f"{label} by group")]
    for t in ticks(low, high, step):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="8" y2="{height - 30}" stroke="#e2e8f0"/>'
                     f'<text x="{x(t):.1f}" y="{height - 16}" text-anchor="middle" class=tick>{e(fmt(t))}</text>')
    for i, r in enumerate(rows):
        y = 10 + i * ROW
        tip = f"{r['label']}: {value_fmt(r['value'])}"
        if r.get("low") is not None and r.get("high") is not None:
            tip += f" [{value_fmt(r['low'])}, {value_fmt(r['high'])}]"
        if r.get("note"):
            tip += f" ({r['note']})"
        parts.append(
            f'<g><title>{e(tip)}</title>'
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class=lab>{e(fit_text(r["label"], label_w - 12))}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{max(x(r["value"]) - label_w, 0.5):.1f}" height="{ROW - 8}" '
            f'fill="{FILLS[r.get("mark")]}" opacity="0.8"/>')
        if r.get("low") is not None and r.get("high") is not None:
            lo, hi, cy = x(r["low"]), x(r["high"]), y + ROW / 2
            parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{cy}" y2="{cy}" stroke="#1a202c" stroke-width="1.5"/>'
                         f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{cy - 5}" y2="{cy + 5}" stroke="#1a202c"/>'
                         f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{cy - 5}" y2="{cy + 5}" stroke="#1a202c"/>')
        parts.append(f'<text x="{WIDTH - PAD}" y="{y + 15}" text-anchor="end" class=val>{e(value_fmt(r["value"]))}</text></g>')
    if reference is not None and math.isfinite(reference):
        parts.append(f'<line x1="{x(reference):.1f}" x2="{x(reference):.1f}" y1="6" y2="{height - 30}" stroke="#2d3748" '
                     f'stroke-dasharray="4 3"><title>overall {e(value_fmt(reference))}</title></line>')
    parts.append(f'<text x="{label_w + plot_w / 2:.0f}" y="{height - 5}" text-anchor="middle" class=axis>'
                 f'{e(fit_text(label, WIDTH - 20))}</text></svg>')
    return "".join(parts)


def place_labels(points: list[tuple[float, float, str]], bounds: tuple[float, float, float, float],
                 size: float = FONT) -> list[tuple[float, float, str] | None]:
    """Positions ``(x, y, anchor)`` for each label beside its point, overlapping no other label or point.

    ``points``: ``(px, py, text)``; ``bounds``: ``(left, top, right, bottom)`` of the drawing.
    Candidate spots are tried right, left, above, below and diagonally; a label that fits
    nowhere gets ``None`` (the caller numbers the point and lists it below the plot).
    """
    boxes = [(px - 6, py - 6, px + 6, py + 6) for px, py, _ in points]
    out: list[tuple[float, float, str] | None] = []
    for px, py, text in points:
        w, h = text_width(text, size), size + 2
        placed = None
        for dx, dy, anchor in ((9, 4, "start"), (-9, 4, "end"), (0, -10, "middle"), (0, 18, "middle"),
                               (9, -9, "start"), (-9, -9, "end"), (9, 16, "start"), (-9, 16, "end")):
            x0 = px + dx - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
            box = (x0, py + dy - size, x0 + w, py + dy - size + h)
            inside = box[0] >= bounds[0] and box[2] <= bounds[2] and box[1] >= bounds[1] and box[3] <= bounds[3]
            if inside and not any(_overlap(box, b) for b in boxes):
                placed = (px + dx, py + dy, anchor)
                boxes.append(box)
                break
        out.append(placed)
    return out


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def scatter_plot(points: list[dict], x_label: str, y_label: str) -> str:
    """Points ``{"label", "x", "y", "low", "high"}`` with vertical interval whiskers and non-overlapping labels."""
    points = [p for p in points if p.get("x") is not None and p.get("y") is not None]
    if not points:
        return "<p class=muted>No data to plot.</p>"
    left, bottom, right = 64, 44, 24
    plot_w, plot_h = WIDTH - left - right, 280
    height = plot_h + bottom + 16
    x_low, x_high, x_step = nice_axis(max(p["x"] for p in points))
    y_low, y_high, y_step = nice_axis(max(max(p["y"], p.get("high") or 0) for p in points))
    X = lambda v: left + plot_w * (v - x_low) / (x_high - x_low)  # noqa: E731
    Y = lambda v: 12 + plot_h * (1 - (min(v, y_high) - y_low) / (y_high - y_low))  # noqa: E731
    parts = [svg_open(height, f"{y_label} against {x_label}")]
    for t in ticks(y_low, y_high, y_step):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" class=tick>{e(axis_pct(t, y_step))}</text>')
    for t in ticks(x_low, x_high, x_step):
        parts.append(f'<text x="{X(t):.1f}" y="{plot_h + 30}" text-anchor="middle" class=tick>{t:g}</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(0):.1f}" y2="{Y(0):.1f}" stroke="#4a5568"/>')
    names = [fit_text(p["label"], 160) for p in points]
    spots = place_labels([(X(p["x"]), Y(p["y"]), n) for p, n in zip(points, names)], (left, 0, WIDTH, plot_h + 14))
    legend = []
    for i, (p, name, spot) in enumerate(zip(points, names, spots)):
        cx, cy = X(p["x"]), Y(p["y"])
        parts.append(f'<g><title>{e(p["label"])}: {e(x_label)} {p["x"]:.3g}, {e(y_label)} {100 * p["y"]:.1f}%</title>')
        if p.get("low") is not None and p.get("high") is not None:
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{Y(p["low"]):.1f}" y2="{Y(p["high"]):.1f}" stroke="#1a202c"/>')
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{COLOR}"/>')
        if spot is None:
            legend.append(f"{len(legend) + 1}: {p['label']}")
            spot, name = (cx + 7, cy - 6, "start"), str(len(legend))
        parts.append(f'<text x="{spot[0]:.1f}" y="{spot[1]:.1f}" text-anchor="{spot[2]}" class=lab>{e(name)}</text></g>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class=axis>{e(x_label)}</text>'
                 f'<text x="14" y="{12 + plot_h / 2:.0f}" text-anchor="middle" class=axis '
                 f'transform="rotate(-90 14 {12 + plot_h / 2:.0f})">{e(y_label)}</text></svg>')
    if legend:
        parts.append(f"<p class=muted>{e('; '.join(legend))}</p>")
    return "".join(parts)


def trend_plot(points: list[tuple[str, float | None, float | None, float | None]]) -> str:
    """Worst-group CER per release (in order) with interval whiskers, joined by a line."""
    points = [p for p in points if p[1] is not None]
    if not points:
        return "<p class=muted>No release with a worst-group CER yet.</p>"
    height, left, bottom = 260, 64, 48
    plot_w, plot_h = WIDTH - left - 40, height - bottom - 16
    low, high, step = nice_axis(max(max(p[1], p[3] or 0) for p in points))
    gap = plot_w / max(len(points) - 1, 1)
    X = lambda i: left + (gap * i if len(points) > 1 else plot_w / 2)  # noqa: E731
    Y = lambda v: 12 + plot_h * (1 - (min(v, high) - low) / (high - low))  # noqa: E731
    widest = min(120.0, max(text_width(p[0], 11) for p in points))
    every = max(1, math.ceil((widest + 6) / gap)) if len(points) > 1 else 1  # thin the names so none overlaps
    name_w = every * gap - 6 if len(points) > 1 else 160
    parts = [svg_open(height, "Worst-group CER by release")]
    for t in ticks(low, high, step):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" class=tick>{e(axis_pct(t, step))}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{X(i):.1f},{Y(p[1]):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="{COLOR}" stroke-width="2"/>')
    for i, (name, value, lo, hi) in enumerate(points):
        parts.append(f'<g><title>{e(name)}: {100 * value:.1f}%</title>')
        if lo is not None and hi is not None:
            parts.append(f'<line x1="{X(i):.1f}" x2="{X(i):.1f}" y1="{Y(lo):.1f}" y2="{Y(hi):.1f}" stroke="#1a202c"/>')
        parts.append(f'<circle cx="{X(i):.1f}" cy="{Y(value):.1f}" r="5" fill="{COLOR}"/>')
        if i % every == 0:
            parts.append(f'<text x="{X(i):.1f}" y="{height - bottom + 18}" text-anchor="middle" class=tick>'
                         f'{e(fit_text(name, name_w, 11))}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
