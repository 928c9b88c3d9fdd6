"""``fairness.html``: one self-contained page rendered from the ``fairness.json`` dict.

Inline CSS, inline SVG plots, no script and no external resource; a
Content-Security-Policy forbids both, so the page cannot reach the network even if
a string escaped our escaping. Every string that comes from data (group names,
speaker ids, transcripts, paths, config values) goes through :func:`e`
(``html.escape`` with quotes); numbers are formatted by the ``fmt_*`` helpers.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from importlib import resources

from asr.audit.svg import interval_plot

CSP = ('<meta http-equiv="Content-Security-Policy" '
       "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">")


def e(value) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def fmt_pct(x, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def fmt_num(x, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def fmt_interval(low, high, pct: bool = False) -> str:
    if low is None or high is None:
        return ""
    f = fmt_pct if pct else fmt_num
    return f"<span class=muted>[{f(low)}, {f(high)}]</span>"


def fmt_p(p) -> str:
    return "–" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


@lru_cache(maxsize=1)
def _css() -> str:
    return resources.files("asr.audit").joinpath("report.css").read_text(encoding="utf-8")


CSS = _css()


def render_report(f: dict) -> str:
    """The whole page."""
    by = f["config"]["by"]
    sections = [
        ("summary", "Summary", _summary(f)),
        *[(f"attr-{a}", f"By {a}", _attribute(f, a)) for a in by],
        ("intersections", "Intersections", _intersections(f)),
    ]
    if f.get("baseline"):
        sections.append(("baseline", f"Compared with {f['baseline']['release']}", _baseline(f)))
    sections += [("explanations", f"Why: explanations by {by[0]}", _explanations(f)),
                 ("model-card", "Model card", _model_card(f["model_card"])),
                 ("method", "Method", _method(f))]
    nav = "".join(f'<a href="#{e(sid)}">{e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{e(sid)}"><h2>{e(title)}</h2>{html}</section>' for sid, title, html in sections)
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{CSP}"
        f'<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>Fairness audit: {e(f['release'])}</title><style>{CSS}</style></head><body><main>"
        f"<h1>Fairness audit: {e(f['release'])}</h1>"
        f"<p class=meta>{e(f['metric'])} per group · created {e(f['created'])} · asr {e(f['asr_version'])} · "
        f"{e(f['overall']['utterances'])} utterances, {e(f['overall']['speakers'])} speakers</p>"
        f"<nav>{nav}</nav>{body}</main></body></html>"
    )


def _summary(f: dict) -> str:
    h, o, m = f["headline"], f["overall"], f["metric"]
    cls = "headline" if h.get("estimable") else "headline ok"
    cards = [
        (f"overall {m}", f"{fmt_pct(o['cer'])}", fmt_interval(o["cer_low"], o["cer_high"], pct=True)),
        ("utterances", e(o["utterances"]), ""),
        ("speakers", e(o["speakers"]), ""),
        ("reference tokens", e(o["ref_len"]), ""),
    ]
    if h.get("estimable"):
        cards.insert(1, ("worst/best ratio", f"{fmt_num(h['ratio']['value'])}×",
                         fmt_interval(h["ratio"]["low"], h["ratio"]["high"])))
    html = f"<p class=\"{cls}\">{e(h['text'])}</p><div class=cards>"
    html += "".join(f"<div class=card>{e(k)}<b>{v}</b>{ci}</div>" for k, v, ci in cards) + "</div>"
    if f["gates"]:
        html += "<h3>Release gates</h3><ul>" + "".join(
            f"<li class={'fail' if g['failed'] else 'pass'}>{'FAILED' if g['failed'] else 'passed'}: {e(g['message'])}</li>"
            for g in f["gates"]) + "</ul>"
    if f["warnings"]:
        html += "<h3>Notes on the data</h3><ul>" + "".join(f"<li>{e(w)}</li>" for w in f["warnings"]) + "</ul>"
    return html


def _group_table(rows: list[dict], disparity: dict | None, tests: list[dict], metric: str) -> str:
    pvals = {t["group"]: t for t in tests}
    gaps = {g["group"]: g for g in (disparity or {}).get("gaps_to_overall", [])}
    worst, best = (disparity or {}).get("worst_group"), (disparity or {}).get("best_group")
    head = ("<tr><th>group</th><th class=num># utt</th><th class=num># spk</th><th class=num># ref</th>"
            f"<th class=num>Corr</th><th class=num>Sub</th><th class=num>Del</th><th class=num>Ins</th>"
            f"<th class=num>{e(metric)}</th><th class=num>95% CI</th><th class=num>gap to overall</th>"
            "<th class=num>p vs rest (Holm)</th><th>note</th></tr>")
    out = []
    for r in rows:
        cls = "flagged" if not r["eligible"] else ("worst" if r["group"] == worst else "best" if r["group"] == best else "")
        corr = None if not r["ref_len"] else (r["ref_len"] - r["sub"] - r["del"]) / r["ref_len"]
        gap = gaps.get(r["group"])
        test = pvals.get(r["group"])
        gap_html = f"{'+' if gap['gap'] > 0 else ''}{100 * gap['gap']:.1f} pts {fmt_interval(gap['low'] and 100 * gap['low'], gap['high'] and 100 * gap['high'])}" if gap else "–"
        out.append(
            f"<tr class=\"{cls}\"><td>{e(r['group'])}</td><td class=num>{r['utterances']}</td>"
            f"<td class=num>{r['speakers']}</td><td class=num>{r['ref_len']}</td><td class=num>{fmt_pct(corr)}</td>"
            f"<td class=num>{fmt_pct(r['sub_rate'])}</td><td class=num>{fmt_pct(r['del_rate'])}</td>"
            f"<td class=num>{fmt_pct(r['ins_rate'])}</td><td class=num><b>{fmt_pct(r['cer'])}</b></td>"
            f"<td class=num>{fmt_interval(r['cer_low'], r['cer_high'], pct=True)}</td><td class=num>{gap_html}</td>"
            f"<td class=num>{fmt_p(test['p_holm']) if test else '–'}{' *' if test and test['significant'] else ''}</td>"
            f"<td>{e(r.get('flag', ''))}</td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(out)}</tbody></table>"


def _disparity_line(d: dict) -> str:
    if not d.get("estimable"):
        return f"<p class=muted>Disparity not estimable: {e(d.get('reason'))}.</p>"
    return (
        f"<p>Worst <b>{e(d['worst_group'])}</b> {fmt_pct(d['worst_cer']['value'])} "
        f"{fmt_interval(d['worst_cer']['low'], d['worst_cer']['high'], pct=True)}; best <b>{e(d['best_group'])}</b> "
        f"{fmt_pct(d['best_cer']['value'])} {fmt_interval(d['best_cer']['low'], d['best_cer']['high'], pct=True)}; "
        f"ratio {fmt_num(d['ratio']['value'])}× {fmt_interval(d['ratio']['low'], d['ratio']['high'])}; difference "
        f"{fmt_pct(d['difference']['value'])} {fmt_interval(d['difference']['low'], d['difference']['high'], pct=True)}.</p>"
    )


def _attribute(f: dict, attr: str) -> str:
    block, m = f["attributes"][attr], f["metric"]
    d = block["disparity"]
    plot = interval_plot(
        [{"label": r["group"], "value": r["cer"], "low": r["cer_low"], "high": r["cer_high"],
          "flag": r.get("flag"), "worst": r["group"] == d.get("worst_group")} for r in block["groups"]],
        reference=f["overall"]["cer"], label=f"{m} (bars: 95% speaker-bootstrap interval; dashed: overall)",
    )
    html = _disparity_line(d) + plot + _group_table(block["groups"], d, block["tests"], m)
    html += "<p class=muted>Corr/Sub/Del/Ins as a share of reference tokens (sclite style). * : significant after Holm correction.</p>"
    html += _adjusted(block.get("adjusted") or {})
    html += _matched(block.get("matched") or {}, m)
    return html


def _ratio_cell(r: dict | None) -> str:
    if not r:
        return "<td class=num>–</td>"
    return f"<td class=num>{fmt_num(r['ratio'])}× {fmt_interval(r['low'], r['high'])} <span class=muted>p {fmt_p(r['p_value'])}</span></td>"


def _adjusted(a: dict) -> str:
    html = "<h3>Adjusted error-rate ratios</h3>"
    if not a.get("estimable"):
        return html + f"<p class=muted>Not estimable: {e(a.get('reason', 'no model'))}.</p>"
    conf = ", ".join(a["confounders"]) or "none present"
    html += (f"<p>Poisson GEE of errors per utterance (offset log reference length; robust errors clustered by "
             f"speaker; {e(a['cov_struct'])} working correlation), ratio to <b>{e(a['reference'])}</b>; adjusted for: "
             f"{e(conf)}. {a['utterances']} utterances, {a['speakers']} speakers{' (sample)' if a.get('sampled') else ''}.</p>")
    rows = "".join(f"<tr><td>{e(r['group'])}</td>{_ratio_cell(r['unadjusted'])}{_ratio_cell(r['adjusted'])}"
                   f"<td>{e(r.get('note', ''))}</td></tr>" for r in a["rows"])
    html += ("<table><thead><tr><th>group</th><th class=num>unadjusted ratio</th><th class=num>adjusted ratio</th>"
             f"<th>note</th></tr></thead><tbody>{rows}</tbody></table>")
    if a.get("notes"):
        html += "<ul>" + "".join(f"<li class=muted>{e(n)}</li>" for n in a["notes"]) + "</ul>"
    return html


def _matched(mt: dict, metric: str) -> str:
    html = "<h3>Matched comparison (same sentences)</h3>"
    if not mt.get("available"):
        return html + f"<p class=muted>Not available: {e(mt.get('reason'))}.</p>"
    html += f"<p>{mt['texts']} sentences read in every group ({mt['utterances']} utterances).</p>"
    return html + _disparity_line(mt["disparity"]) + _group_table(mt["groups"], mt["disparity"], [], metric)


def _cells_table(block: dict, metric: str) -> str:
    a, b = block["attributes"]
    rows = "".join(
        f"<tr class=\"{'flagged' if not r['eligible'] else ''}\"><td>{e(r[a])}</td><td>{e(r[b])}</td>"
        f"<td class=num>{r['utterances']}</td><td class=num>{r['speakers']}</td><td class=num>{r['ref_len']}</td>"
        f"<td class=num><b>{fmt_pct(r['cer'])}</b></td><td class=num>{fmt_interval(r['cer_low'], r['cer_high'], pct=True)}</td>"
        f"<td class=num>{fmt_pct(r['sub_rate'])}</td><td class=num>{fmt_pct(r['del_rate'])}</td>"
        f"<td class=num>{fmt_pct(r['ins_rate'])}</td><td>{e(r.get('flag', ''))}</td></tr>"
        for r in block["cells"])
    return (f"<h3>{e(a)} × {e(b)}</h3><table><thead><tr><th>{e(a)}</th><th>{e(b)}</th><th class=num># utt</th>"
            f"<th class=num># spk</th><th class=num># ref</th><th class=num>{e(metric)}</th><th class=num>95% CI</th>"
            "<th class=num>Sub</th><th class=num>Del</th><th class=num>Ins</th><th>note</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _intersections(f: dict) -> str:
    if not f["intersections"]:
        return "<p class=muted>One attribute audited (or intersections turned off): no intersections.</p>"
    return ("<p>Every pair of attributes. Cells with fewer than "
            f"{f['config']['min_speakers']} speakers are greyed: their intervals are weak.</p>"
            + "".join(_cells_table(b, f["metric"]) for b in f["intersections"]))


def _change_cell(c: dict | None, pct: bool = True) -> str:
    if not c:
        return "<td>–</td>" * 3
    fmt = fmt_pct if pct else fmt_num
    delta = c.get("delta")
    sign = "" if delta is None or delta <= 0 else "+"
    return (f"<td class=num>{fmt(c.get('baseline'))} → {fmt(c.get('value'))}</td>"
            f"<td class=num>{sign}{fmt(delta)} {fmt_interval(c.get('low'), c.get('high'), pct=pct)}</td>"
            f"<td class=num>{fmt_num(c.get('p_worse'), 3)}</td>")


def _baseline(f: dict) -> str:
    b = f["baseline"]
    html = (f"<p>Paired on {b['matched_utterances']} utterances present in both releases "
            f"({b['only_current']} only in this one, {b['only_baseline']} only in {e(b['release'])}). "
            "Intervals resample speakers; both releases use the same draws.</p>")
    for attr, block in b["attributes"].items():
        html += f"<h3>By {e(attr)}</h3>"
        rows = [("overall CER", block.get("overall_cer"), True)]
        if block.get("estimable"):
            rows += [(f"worst group ({e(block['baseline_worst_group'])} → {e(block['worst_group'])})", block["worst_group_cer"], True),
                     (f"best group ({e(block['baseline_best_group'])} → {e(block['best_group'])})", block["best_group_cer"], True),
                     ("worst/best ratio", block["ratio"], False)]
        html += ("<table><thead><tr><th></th><th class=num>baseline → now</th><th class=num>change [95% CI]</th>"
                 "<th class=num>P(worse)</th></tr></thead><tbody>"
                 + "".join(f"<tr><td>{name}</td>{_change_cell(c, pct)}</tr>" for name, c, pct in rows) + "</tbody></table>")
        grows = "".join(
            f"<tr class=\"{'flagged' if not g['eligible'] else ''}\"><td>{e(g['group'])}</td><td class=num>{g['speakers']}</td>"
            f"<td class=num>{fmt_pct(g['baseline_cer'])}</td><td class=num>{fmt_pct(g['cer'])}</td>"
            f"<td class=num>{fmt_pct(g['difference'])} {fmt_interval(g['low'], g['high'], pct=True)}</td>"
            f"<td class=num>{fmt_num(g['p_improvement'], 3)}</td></tr>" for g in block["groups"])
        html += ("<table><thead><tr><th>group</th><th class=num># spk</th><th class=num>baseline</th><th class=num>now</th>"
                 "<th class=num>difference [95% CI]</th><th class=num>P(improved)</th></tr></thead>"
                 f"<tbody>{grows}</tbody></table>")
    return html


def _explanations(f: dict) -> str:
    from asr.audit.report_explain import render_explanations

    return render_explanations(f.get("explanations"), f)


def _model_card(card: dict) -> str:
    from asr.audit.report_explain import render_model_card

    return render_model_card(card)


def _method(f: dict) -> str:
    c = f["config"]
    t = ", ".join(f"{e(k)} {v:.2f} s" for k, v in (f.get("timings") or {}).items())
    return (
        f"<p>Error rates are pooled: a group's edits (substitutions + deletions + insertions) over its reference "
        f"tokens ({e(f['unit'])}s). Normalisation: <code>{e(f['normalization'])}</code>.</p>"
        f"<p>Intervals: {int(100 * c['confidence'])}% percentile intervals from {c['replicates']} replicates of a "
        f"bootstrap that resamples speakers within each group (seed {c['seed']}). Tests: each group against the rest, "
        f"{c['permutations']} permutations of group labels over speakers, Holm-corrected. Groups with fewer than "
        f"{c['min_speakers']} speakers are flagged and left out of the disparity summary.</p>"
        f"<p class=muted>Computation: {t}.</p>"
    )
