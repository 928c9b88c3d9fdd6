"""Hand-written inline SVG plots for the report (no plotting library, no script).

Every label is passed through :func:`html.escape`; numbers are formatted here.
Plots carry a ``<title>`` per mark, so hovering shows the exact figures.
"""

from __future__ import annotations

import math
from html import escape

WIDTH = 680
ROW = 22
LABEL_W = 190
PAD = 14
COLOR = "#2b6cb0"
MUTED = "#a0aec0"
WORST = "#c53030"


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= value:
            return m * exp
    return 10 * exp


def _ticks(top: float, n: int = 5) -> list[float]:
    return [top * i / n for i in range(n + 1)]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def interval_plot(rows: list[dict], reference: float | None = None, label: str = "CER", pct: bool = True) -> str:
    """Horizontal bars with interval whiskers, one row per ``{"label", "value", "low", "high", "flag", "worst"}``.

    ``reference``: a dashed vertical line (the overall CER). Flagged rows are grey.
    """
    rows = [r for r in rows if r.get("value") is not None]
    if not rows:
        return "<p class=muted>No data to plot.</p>"
    top = _nice_max(max(max(r["value"], r.get("high") or 0) for r in rows))
    plot_w = WIDTH - LABEL_W - 2 * PAD - 60
    height = len(rows) * ROW + 46
    x = lambda v: LABEL_W + plot_w * min(max(v, 0.0), top) / top  # noqa: E731
    fmt = _pct if pct else (lambda v: f"{v:.3g}")
    parts = [f'<svg class=plot role=img viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)} by group</title>']
    for t in _ticks(top):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="8" y2="{height - 30}" stroke="#e2e8f0"/>'
                     f'<text x="{x(t):.1f}" y="{height - 16}" text-anchor="middle" class=tick>{fmt(t)}</text>')
    for i, r in enumerate(rows):
        y = 12 + i * ROW
        color = MUTED if r.get("flag") else (WORST if r.get("worst") else COLOR)
        tip = f"{r['label']}: {fmt(r['value'])}"
        if r.get("low") is not None and r.get("high") is not None:
            tip += f" [{fmt(r['low'])}, {fmt(r['high'])}]"
        if r.get("flag"):
            tip += f" ({r['flag']})"
        parts.append(
            f'<g><title>{escape(tip)}</title>'
            f'<text x="{LABEL_W - 8}" y="{y + 12}" text-anchor="end" class=lab>{escape(_short(r["label"]))}</text>'
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{max(x(r["value"]) - LABEL_W, 0.5):.1f}" height="{ROW - 8}" fill="{color}" opacity="0.75"/>'
        )
        if r.get("low") is not None and r.get("high") is not None:
            lo, hi, cy = x(r["low"]), x(r["high"]), y + ROW / 2 - 1
            parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{cy}" y2="{cy}" stroke="#1a202c" stroke-width="1.5"/>'
                         f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{cy - 5}" y2="{cy + 5}" stroke="#1a202c"/>'
                         f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{cy - 5}" y2="{cy + 5}" stroke="#1a202c"/>')
        parts.append(f'<text x="{x(max(r["value"], r.get("high") or 0)) + 6:.1f}" y="{y + 12}" class=val>{fmt(r["value"])}</text></g>')
    if reference is not None and math.isfinite(reference):
        parts.append(f'<line x1="{x(reference):.1f}" x2="{x(reference):.1f}" y1="6" y2="{height - 30}" stroke="#2d3748" '
                     f'stroke-dasharray="4 3"><title>overall {fmt(reference)}</title></line>')
    parts.append(f'<text x="{LABEL_W + plot_w / 2:.0f}" y="{height - 2}" text-anchor="middle" class=axis>{escape(label)}</text></svg>')
    return "".join(parts)


def scatter_plot(points: list[dict], x_label: str, y_label: str) -> str:
    """Points ``{"label", "x", "y", "low", "high"}`` with vertical interval whiskers and labels."""
    points = [p for p in points if p.get("x") is not None and p.get("y") is not None]
    if not points:
        return "<p class=muted>No data to plot.</p>"
    height, left, bottom = 320, 64, 44
    plot_w, plot_h = WIDTH - left - 120, height - bottom - 16
    x_top = _nice_max(max(p["x"] for p in points))
    y_top = _nice_max(max(max(p["y"], p.get("high") or 0) for p in points))
    X = lambda v: left + plot_w * v / x_top  # noqa: E731
    Y = lambda v: 12 + plot_h * (1 - min(v, y_top) / y_top)  # noqa: E731
    parts = [f'<svg class=plot role=img viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(y_label)} against {escape(x_label)}</title>']
    for t in _ticks(y_top, 4):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" class=tick>{_pct(t)}</text>')
    for t in _ticks(x_top, 4):
        parts.append(f'<text x="{X(t):.1f}" y="{height - bottom + 18}" text-anchor="middle" class=tick>{t:.3g}</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(0):.1f}" y2="{Y(0):.1f}" stroke="#4a5568"/>')
    for p in points:
        cx, cy = X(p["x"]), Y(p["y"])
        tip = f"{p['label']}: {x_label} {p['x']:.3g}, {y_label} {_pct(p['y'])}"
        parts.append(f'<g><title>{escape(tip)}</title>')
        if p.get("low") is not None and p.get("high") is not None:
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{Y(p["low"]):.1f}" y2="{Y(p["high"]):.1f}" stroke="#1a202c"/>')
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{COLOR}"/>'
                     f'<text x="{cx + 8:.1f}" y="{cy - 6:.1f}" class=lab>{escape(_short(p["label"], 18))}</text></g>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class=axis>{escape(x_label)}</text>'
                 f'<text x="14" y="{12 + plot_h / 2:.0f}" text-anchor="middle" class=axis '
                 f'transform="rotate(-90 14 {12 + plot_h / 2:.0f})">{escape(y_label)}</text></svg>')
    return "".join(parts)


def trend_plot(points: list[tuple[str, float | None, float | None, float | None]]) -> str:
    """Worst-group CER per release (in order) with interval whiskers, joined by a line."""
    points = [p for p in points if p[1] is not None]
    if not points:
        return "<p class=muted>No release with a worst-group CER yet.</p>"
    height, left, bottom = 260, 64, 48
    plot_w, plot_h = WIDTH - left - 40, height - bottom - 16
    top = _nice_max(max(max(p[1], p[3] or 0) for p in points))
    step = plot_w / max(len(points) - 1, 1)
    X = lambda i: left + (step * i if len(points) > 1 else plot_w / 2)  # noqa: E731
    Y = lambda v: 12 + plot_h * (1 - min(v, top) / top)  # noqa: E731
    parts = [f'<svg class=plot role=img viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Worst-group CER by release</title>']
    for t in _ticks(top, 4):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" class=tick>{_pct(t)}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{X(i):.1f},{Y(p[1]):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="{COLOR}" stroke-width="2"/>')
    for i, (name, value, low, high) in enumerate(points):
        parts.append(f'<g><title>{escape(name)}: {_pct(value)}</title>')
        if low is not None and high is not None:
            parts.append(f'<line x1="{X(i):.1f}" x2="{X(i):.1f}" y1="{Y(low):.1f}" y2="{Y(high):.1f}" stroke="#1a202c"/>')
        parts.append(f'<circle cx="{X(i):.1f}" cy="{Y(value):.1f}" r="5" fill="{COLOR}"/>'
                     f'<text x="{X(i):.1f}" y="{height - bottom + 18}" text-anchor="middle" class=tick>{escape(_short(name, 16))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, n: int = 28) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"
