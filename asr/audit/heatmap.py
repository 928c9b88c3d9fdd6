"""Intersections of two attributes as a heatmap: an HTML grid, one cell per pair of values.

Each cell is shaded by its CER on one sequential blue scale (the report uses one for
all its grids; the legend gives its range) and *shows* its figures (the CER, its interval, the speakers)
as text, so nothing needs hovering or a script. Cells with fewer than ``min_speakers``
speakers are hatched, their text muted and their interval left out (it is in
``fairness.json``); an absent combination is a dash. The
shading encodes the value only: worst and best are marked elsewhere, in red and green,
and only when a test says so.
"""

from __future__ import annotations

from asr.audit.formatting import DASH, e, fmt_pct
from asr.audit.schema import GroupResult, Intersection
from asr.audit.svg import nice_axis

#: The scale's ends: light (CER 0) to dark blue (the axis maximum).
LIGHT, DARK = (239, 246, 255), (30, 64, 138)


def shade(value: float, top: float) -> tuple[str, bool]:
    """The background colour of ``value`` on a 0..``top`` scale, and whether text on it must be light."""
    t = 0.0 if top <= 0 else min(max(value / top, 0.0), 1.0)
    rgb = tuple(round(lo + (hi - lo) * t) for lo, hi in zip(LIGHT, DARK))
    return "#%02x%02x%02x" % rgb, t > 0.55


def heatmap(block: Intersection, metric: str, ci: str, top: float | None = None) -> str:
    """The grid of ``block`` (rows: the first attribute's values, columns: the second's).

    ``top``: the CER at the dark end of the scale (default: a round number above the grid's
    largest eligible CER); the report passes one for all grids, so their shades compare.
    """
    a, b = block.attributes
    rows = list(dict.fromkeys(c.value_of(a) for c in block.cells))
    cols = list(dict.fromkeys(c.value_of(b) for c in block.cells))
    cells = {(c.value_of(a), c.value_of(b)): c for c in block.cells}
    if top is None:
        top = nice_axis(max((c.cer for c in block.cells if c.eligible and c.cer is not None), default=0.0))[1]
    head = f"<tr><th>{e(a)} \\ {e(b)}</th>" + "".join(f"<th>{e(v)}</th>" for v in cols) + "</tr>"
    body = "".join(
        f"<tr><th>{e(r)}</th>" + "".join(_cell(cells.get((r, c)), top) for c in cols) + "</tr>" for r in rows)
    legend = (f'<div class=legend><span>{metric} 0%</span><span class=ramp style="background:linear-gradient(90deg,'
              f'{shade(0, 1)[0]},{shade(1, 1)[0]})"></span><span>{fmt_pct(top, 0)}</span>'
              f'<span class="swatch flagged"></span><span>fewer speakers than the minimum</span></div>')
    return (f"<h3>{e(a)} × {e(b)}</h3>{legend}<div class=scroll><table class=heatmap><thead>{head}</thead>"
            f"<tbody>{body}</tbody></table></div><p class=muted>Each cell: {e(metric)}, {e(ci)}, speakers.</p>")


def _cell(cell: GroupResult | None, top: float) -> str:
    if cell is None:
        return f"<td class=empty>{DASH}</td>"
    spk = f"<span>{cell.speakers} spk</span>"
    if not cell.eligible or cell.cer is None:  # its interval (in fairness.json) is too weak to print
        return f'<td class="cell flagged"><b>{fmt_pct(cell.cer)}</b><span>too few speakers</span>{spk}</td>'
    interval = f"{fmt_pct(cell.cer_low)}–{fmt_pct(cell.cer_high)}" if cell.cer_low is not None and cell.cer_high is not None else DASH
    text = f"<b>{fmt_pct(cell.cer)}</b><span>{interval}</span>{spk}"
    color, light = shade(cell.cer, top)
    return f'<td class="cell{" light" if light else ""}" style="background:{color}">{text}</td>'
