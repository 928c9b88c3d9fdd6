"""Report sections: adjusted ratios and paired release differences (forest plots), intersections
(heatmaps) and the method. Every data string goes through :func:`asr.audit.formatting.e`."""

from __future__ import annotations

from asr.audit.card import METHOD_TEXT
from asr.audit.formatting import e, fmt_interval, fmt_num, fmt_p, fmt_pct, fmt_pts
from asr.audit.forest import forest_plot
from asr.audit.heatmap import heatmap
from asr.audit.schema import Adjusted, AuditResult, Change, Comparison, Intersection, RatioEstimate
from asr.audit.svg import nice_axis


def _ratio(x: RatioEstimate | None):
    return None if x is None else (x.ratio, x.low, x.high)


def _ratio_cell(x: RatioEstimate | None) -> str:
    if x is None:
        return "<td class=num>–</td>"
    return f"<td class=num>{fmt_num(x.ratio)}× {fmt_interval(x.low, x.high)} <span class=muted>p {fmt_p(x.p_value)}</span></td>"


def render_adjusted(a: Adjusted, ci: str) -> str:
    """The count model's ratios to the reference group as a forest plot, with the table folded below."""
    html = "<h3>Adjusted error-rate ratios</h3>"
    if not a.estimable:
        return html + f"<p class=muted>Not estimable: {e(a.reason or 'no model')}.</p>"
    confounders = ", ".join(a.confounders) or "none present"
    html += (f"<p>Poisson GEE of errors per utterance (offset log reference length; robust errors clustered by "
             f"speaker; {e(a.cov_struct)} working correlation): each group's error rate over the reference group "
             f"<b>{e(a.reference)}</b>'s, before and after adjusting for {e(confounders)}. {a.utterances} utterances, "
             f"{a.speakers} speakers{' (sample)' if a.sampled else ''}.</p>")
    html += forest_plot(
        [{"label": r.group, "values": [_ratio(r.unadjusted), _ratio(r.adjusted)], "note": r.note} for r in a.rows],
        ("unadjusted", "adjusted"), log=True, anchor=1.0,
        axis_label=f"error-rate ratio to {a.reference} (log scale; {ci})",
        fmt=lambda v: f"{v:.2f}×", tick_fmt=lambda v: f"{v:g}×")
    rows = "".join(f"<tr><td>{e(r.group)}</td>{_ratio_cell(r.unadjusted)}{_ratio_cell(r.adjusted)}"
                   f"<td>{e(r.note or '')}</td></tr>" for r in a.rows)
    html += ("<details><summary>Table</summary><div class=scroll><table><thead><tr><th>group</th>"
             "<th class=num>unadjusted ratio</th><th class=num>adjusted ratio</th><th>note</th></tr></thead>"
             f"<tbody>{rows}</tbody></table></div></details>")
    if a.notes:
        html += "<ul>" + "".join(f"<li class=muted>{e(n)}</li>" for n in a.notes) + "</ul>"
    return html


def render_intersections(r: AuditResult, ci: str) -> str:
    """One heatmap per pair of attributes; the full tables folded below each."""
    if not r.intersections:
        return "<p class=muted>One attribute audited (or intersections turned off): no intersections.</p>"
    values = [c.cer for b in r.intersections for c in b.cells if c.eligible and c.cer is not None]
    top = nice_axis(max(values, default=0.0))[1]
    return (f"<p>Every pair of attributes, shaded on one scale. Hatched cells have fewer than {r.config.min_speakers} "
            "speakers: their intervals are weak and only in the tables.</p>"
            + "".join(heatmap(b, r.metric, ci, top) + _overlap(r, b) + _cells_table(b, r.metric, ci)
                      for b in r.intersections))


def _overlap(r: AuditResult, block: Intersection) -> str:
    multi = [a for a in block.attributes if r.attributes[a].multivalued]
    if not multi:
        return ""
    return (f"<p class=muted>{e(', '.join(multi))} holds several values per utterance: an utterance is in the cell "
            "of each of its values, so the cells overlap and do not add up to the total.</p>")


def _cells_table(block: Intersection, metric: str, ci: str) -> str:
    a, b = block.attributes
    rows = "".join(
        f"<tr class=\"{'flagged' if not c.eligible else ''}\"><td>{e(c.value_of(a))}</td><td>{e(c.value_of(b))}</td>"
        f"<td class=num>{c.utterances}</td><td class=num>{c.speakers}</td><td class=num>{c.ref_len}</td>"
        f"<td class=num><b>{fmt_pct(c.cer)}</b></td><td class=num>{fmt_interval(c.cer_low, c.cer_high, pct=True)}</td>"
        f"<td class=num>{fmt_pct(c.sub_rate)}</td><td class=num>{fmt_pct(c.del_rate)}</td>"
        f"<td class=num>{fmt_pct(c.ins_rate)}</td><td>{e(c.flag or '')}</td></tr>"
        for c in block.cells)
    return (f"<details><summary>Table: {e(a)} × {e(b)}</summary><div class=scroll><table><thead><tr><th>{e(a)}</th>"
            f"<th>{e(b)}</th><th class=num># utt</th><th class=num># spk</th><th class=num># ref</th>"
            f"<th class=num>{e(metric)}</th><th class=num>{e(ci)}</th><th class=num>Sub</th><th class=num>Del</th>"
            f"<th class=num>Ins</th><th>note</th></tr></thead><tbody>{rows}</tbody></table></div></details>")


def _change_cells(c: Change | None, pct: bool = True) -> str:
    if c is None:
        return "<td>–</td>" * 3
    fmt = fmt_pct if pct else fmt_num
    delta = fmt_pts(c.delta, sign=True) + " pts" if pct else (fmt_num(c.delta) if c.delta is None or c.delta <= 0 else "+" + fmt_num(c.delta))
    return (f"<td class=num>{fmt(c.baseline)} → {fmt(c.value)}</td>"
            f"<td class=num>{delta} {fmt_interval(c.low, c.high, pts=pct)}</td>"
            f"<td class=num>{fmt_num(c.p_worse, 2)}</td>")


def render_baseline(b: Comparison, ci: str) -> str:
    """Per attribute: the paired differences as a forest plot, the disparity's changes, the table folded."""
    html = (f"<p>Paired on {b.matched_utterances} utterances present in both releases "
            f"({b.only_current} only in this one, {b.only_baseline} only in {e(b.release)}). "
            "Intervals treat speakers as clusters; both releases' figures come from the same speakers. "
            "P(worse): the share of speaker-bootstrap replicates in which the figure got worse; a small change "
            "shared by every speaker can have P(worse) near 0 or 1 and still an interval across 0, as the "
            "intervals are conservative there.</p>")
    for attr, block in b.attributes.items():
        html += f"<h3>By {e(attr)}</h3>"
        html += forest_plot(
            [{"label": g.group if g.eligible else f"{g.group} ({g.speakers} spk)",
              "values": [None if g.difference is None else (g.difference, g.low, g.high) if g.eligible
                         else (g.difference, None, None)],  # a flagged group's weak interval: table only
              "note": None if g.eligible else "fewer speakers than the minimum"} for g in block.groups],
            ("difference",), log=False, anchor=0.0,
            axis_label=f"{attr}: CER now minus {b.release}, points ({ci}; left of 0: improved)",
            fmt=lambda v: f"{100 * v:+.1f}", tick_fmt=lambda v: f"{100 * v:+.0f}" if v else "0")
        rows = [("overall CER", block.overall_cer, True)]
        if block.estimable:
            rows += [(f"worst group ({block.baseline_worst_group} → {block.worst_group})", block.worst_group_cer, True),
                     (f"best group ({block.baseline_best_group} → {block.best_group})", block.best_group_cer, True)]
            if block.ratio is not None:
                rows.append((f"ratio to {block.reference_group} ({block.baseline_compared_group} → "
                             f"{block.compared_group})", block.ratio, False))
        html += ("<div class=scroll><table><thead><tr><th></th><th class=num>baseline → now</th>"
                 f"<th class=num>change [{e(ci)}]</th><th class=num>P(worse)</th></tr></thead><tbody>"
                 + "".join(f"<tr><td>{e(name)}</td>{_change_cells(c, pct)}</tr>" for name, c, pct in rows)
                 + "</tbody></table></div>")
        grows = "".join(
            f"<tr class=\"{'flagged' if not g.eligible else ''}\"><td>{e(g.group)}</td><td class=num>{g.speakers}</td>"
            f"<td class=num>{fmt_pct(g.baseline_cer)}</td><td class=num>{fmt_pct(g.cer)}</td>"
            f"<td class=num>{fmt_pts(g.difference, sign=True)} {fmt_interval(g.low, g.high, pts=True)}</td>"
            f"<td class=num>{fmt_num(g.p_improvement, 2)}</td></tr>" for g in block.groups)
        html += ("<details><summary>Table by group</summary><div class=scroll><table><thead><tr><th>group</th>"
                 "<th class=num># spk</th><th class=num>baseline</th><th class=num>now</th>"
                 f"<th class=num>difference, pts [{e(ci)}]</th><th class=num>P(improved)</th></tr></thead>"
                 f"<tbody>{grows}</tbody></table></div></details>")
    return html


def render_method(r: AuditResult) -> str:
    c = r.config
    timings = ", ".join(f"{e(k)} {v:.2f} s" for k, v in r.timings.items())
    references = "; ".join(f"{e(a)}: {e(b.disparity.reference_group)} ({e(b.disparity.reference_source)})"
                           for a, b in r.attributes.items() if b.disparity.reference_group)
    return (
        f"<p>Error rates are pooled: a group's edits (substitutions + deletions + insertions) over its reference "
        f"tokens ({e(r.unit)}s). Normalisation: <code>{e(r.normalization)}</code>.</p>"
        f"<p>Intervals: {e(METHOD_TEXT[c.interval_method])} (<code>{e(c.interval_method)}</code>, "
        f"{round(100 * c.confidence, 1):g}%); a difference combines its two rates' intervals (MOVER). "
        f"Tests: each group against the rest, {c.permutations} permutations of group labels over speakers, "
        f"Holm-corrected. Groups with fewer than {c.min_speakers} speakers are flagged and left out of the disparity "
        f"summary. Ratios and differences are to a reference group, the same in every run: {references or 'none'}.</p>"
        f"<p class=muted>Computation: {timings}.</p>"
    )
