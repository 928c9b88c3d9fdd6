"""``fairness.html``: one self-contained page rendered from an :class:`~asr.audit.schema.AuditResult`.

Inline CSS, inline SVG plots, no script and no external resource; a
Content-Security-Policy forbids both, so the page cannot reach the network even if
a string escaped our escaping. Every data string goes through
:func:`asr.audit.formatting.e`. A group is shown as worst (red) or best (green) only
when it differs from the rest after Holm's correction; otherwise the section says the
groups are indistinguishable. Tables scroll inside their box on narrow screens.
"""

from __future__ import annotations

from asr.audit.formatting import CSP, ci_label, confidence_pct, css, e, fmt_interval, fmt_num, fmt_p, fmt_pct, fmt_pts
from asr.audit.multivalued import overlap_note
from asr.audit.report_compare import render_systems, render_within_speaker
from asr.audit.report_explain import render_explanations, render_model_card
from asr.audit.report_sections import render_adjusted, render_baseline, render_intersections, render_method
from asr.audit.schema import AttributeResult, AuditResult, Disparity, GroupResult, GroupTest
from asr.audit.svg import interval_plot


def render_report(r: AuditResult) -> str:
    """The whole page."""
    by = r.config.by
    ci = ci_label(r.config.confidence)
    sections = [
        ("summary", "Summary", _summary(r)),
        *[(f"attr-{a}", f"By {a}", _attribute(r, a, ci)) for a in by],
        ("intersections", "Intersections", render_intersections(r, ci)),
    ]
    if r.within_speaker:
        w = r.within_speaker
        sections.append(("within-speaker", f"Within {w.paired_by}s: {w.contrast} {w.levels[0]} against {w.levels[1]}",
                          render_within_speaker(w, r.metric, ci, r.config.interval_method)))
    if r.systems:
        sections.append(("systems", f"{len(r.systems.systems)} systems side by side", render_systems(r.systems, r.metric, ci)))
    if r.baseline:
        sections.append(("baseline", f"Compared with {r.baseline.release}", render_baseline(r.baseline, ci)))
    sections += [("explanations", f"Why: explanations by {by[0]}", render_explanations(r.explanations, r)),
                 ("model-card", "Model card", render_model_card(r.model_card)),
                 ("method", "Method", render_method(r))]
    nav = "".join(f'<a href="#{e(sid)}">{e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{e(sid)}"><h2>{e(title)}</h2>{html}</section>' for sid, title, html in sections)
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{CSP}"
        f'<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>Fairness audit: {e(r.release)}</title><style>{css()}</style></head><body><main>"
        f"<h1>Fairness audit: {e(r.release)}</h1>"
        f"<p class=meta>{e(r.metric)} per group · created {e(r.created)} · asr {e(r.asr_version)} · "
        f"{r.overall.utterances} utterances, {r.overall.speakers} speakers</p>"
        f"<nav>{nav}</nav>{body}</main></body></html>"
    )


def _summary(r: AuditResult) -> str:
    h, o = r.headline, r.overall
    cls = "headline" if h.estimable and r.attributes[h.attribute].disparity.worst_differs else "headline neutral"
    cards = [
        (f"overall {r.metric}", fmt_pct(o.cer), fmt_interval(o.cer_low, o.cer_high, pct=True)),
        ("utterances", e(o.utterances), ""),
        ("speakers", e(o.speakers), ""),
        ("reference tokens", e(o.ref_len), ""),
    ]
    if h.estimable and h.ratio is not None:
        cards.insert(1, (f"{h.compared_group} / {h.reference_group}", f"{fmt_num(h.ratio.value)}×",
                         fmt_interval(h.ratio.low, h.ratio.high)))
    html = f"<p class=\"{cls}\">{e(h.text)}</p><div class=cards>"
    html += "".join(f"<div class=card>{e(k)}<b>{v}</b>{c}</div>" for k, v, c in cards) + "</div>"
    if r.gates:
        html += "<h3>Release gates</h3><ul>" + "".join(
            f"<li class={'fail' if g.failed else 'pass'}>{'FAILED' if g.failed else 'passed'}: {e(g.message)}</li>"
            for g in r.gates) + "</ul>"
    if r.warnings:
        html += "<h3>Notes on the data</h3><ul>" + "".join(f"<li>{e(w)}</li>" for w in r.warnings) + "</ul>"
    return html


def mark(row: GroupResult, d: Disparity | None) -> str | None:
    """``worst``/``best`` when that group differs from the rest after correction, ``flagged`` when not eligible."""
    if not row.eligible:
        return "flagged"
    if d is not None and d.estimable:
        if row.group == d.worst_group and d.worst_differs:
            return "worst"
        if row.group == d.best_group and d.best_differs:
            return "best"
    return None


def group_table(rows: tuple[GroupResult, ...], d: Disparity | None, tests: tuple[GroupTest, ...], metric: str,
                ci: str) -> str:
    """The sclite-style table of groups, with intervals, gaps to overall and tests."""
    tested = {t.group: t for t in tests}
    gaps = {g.group: g for g in (d.gaps_to_overall if d else ())}
    reference = d.reference_group if d else None
    head = ("<tr><th>group</th><th class=num># utt</th><th class=num># spk</th><th class=num># ref</th>"
            f"<th class=num>Corr</th><th class=num>Sub</th><th class=num>Del</th><th class=num>Ins</th>"
            f"<th class=num>{e(metric)}</th><th class=num>{e(ci)}</th><th class=num>gap to overall (pts)</th>"
            "<th class=num>p vs rest, Holm</th><th>note</th></tr>")
    out = []
    for r in rows:
        corr = None if not r.ref_len else (r.ref_len - r.sub - r.dele) / r.ref_len
        gap, test = gaps.get(r.group), tested.get(r.group)
        gap_html = f"{fmt_pts(gap.gap, sign=True)} {fmt_interval(gap.low, gap.high, pts=True)}" if gap else "–"
        note = " · ".join(x for x in (r.flag, "reference group" if r.group == reference else None) if x)
        out.append(
            f"<tr class=\"{mark(r, d) or ''}\"><td>{e(r.group)}</td><td class=num>{r.utterances}</td>"
            f"<td class=num>{r.speakers}</td><td class=num>{r.ref_len}</td><td class=num>{fmt_pct(corr)}</td>"
            f"<td class=num>{fmt_pct(r.sub_rate)}</td><td class=num>{fmt_pct(r.del_rate)}</td>"
            f"<td class=num>{fmt_pct(r.ins_rate)}</td><td class=num><b>{fmt_pct(r.cer)}</b></td>"
            f"<td class=num>{fmt_interval(r.cer_low, r.cer_high, pct=True)}</td><td class=num>{gap_html}</td>"
            f"<td class=num>{fmt_p(test.p_holm) if test else '–'}{' *' if test and test.significant else ''}</td>"
            f"<td class=note>{e(note)}</td></tr>"
        )
    return f"<div class=scroll><table><thead>{head}</thead><tbody>{''.join(out)}</tbody></table></div>"


def disparity_text(d: Disparity, metric: str, level: str, tested: bool = True) -> str:
    """The verdict (which groups differ after correction; only when ``tested``) and the ratio to the reference."""
    if not d.estimable:
        return f"<p class=muted>Disparity not estimable: {e(d.reason)}.</p>"
    if not tested:
        verdict = ""
    elif not d.distinguishable:
        verdict = (f"<p class=verdict>The groups are indistinguishable: no group's {e(metric)} differs from the "
                   "rest after Holm's correction. No group is marked worst or best.</p>")
    else:
        marked = [f"<b class=worst-text>{e(d.worst_group)}</b> is worst" if d.worst_differs else "",
                  f"<b class=best-text>{e(d.best_group)}</b> is best" if d.best_differs else ""]
        found = " and ".join(x for x in marked if x) or "a group other than the highest and lowest differs"
        verdict = f"<p class=verdict>After Holm's correction, {found} (differs from the rest).</p>"
    ratio = (f"<p>{e(d.compared_group)} against the reference group <b>{e(d.reference_group)}</b> "
             f"<span class=muted>({e(d.reference_source)})</span>: ratio {fmt_num(d.ratio.value)}× "
             f"{fmt_interval(d.ratio.low, d.ratio.high)}, difference {fmt_pts(d.difference.value, sign=True)} points "
             f"{fmt_interval(d.difference.low, d.difference.high, pts=True)} ({e(level)} intervals).</p>")
    return verdict + ratio


def _attribute(r: AuditResult, attr: str, ci: str) -> str:
    block: AttributeResult = r.attributes[attr]
    d = block.disparity
    plot = interval_plot(
        [{"label": g.group, "value": g.cer, "low": g.cer_low if g.eligible else None,  # a flagged group's weak
          "high": g.cer_high if g.eligible else None, "mark": mark(g, d), "note": g.flag}  # interval: table only
         for g in block.groups],
        reference=r.overall.cer, label=f"{r.metric} (bars: {ci}; dashed: overall)",
    )
    html = f"<p class=note-box>{e(overlap_note(attr))}</p>" if block.multivalued else ""
    html += disparity_text(d, r.metric, confidence_pct(r.config.confidence)) + plot
    html += group_table(block.groups, d, block.tests, r.metric, ci)
    html += ("<p class=muted>Corr/Sub/Del/Ins as a share of reference tokens (sclite style). * : differs from the "
             "rest after Holm's correction. Red and green mark the worst and best group only then. Grey: fewer "
             "speakers than the minimum (their interval, in the table only, is weak).</p>")
    html += render_adjusted(block.adjusted, ci)
    return html + _matched(block, r.metric, ci, confidence_pct(r.config.confidence))


def _matched(block: AttributeResult, metric: str, ci: str, level: str) -> str:
    mt = block.matched
    html = "<h3>Matched comparison (same sentences)</h3>"
    if not mt.available:
        return html + f"<p class=muted>Not available: {e(mt.reason)}.</p>"
    d = mt.disparity
    html += f"<p>{mt.texts} sentences read in every group ({mt.utterances} utterances); not tested, so not coloured.</p>"
    html += disparity_text(d, metric, level, tested=False)
    return html + group_table(mt.groups, d, (), metric, ci)
