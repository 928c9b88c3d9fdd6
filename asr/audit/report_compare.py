"""Report sections that compare: within speakers (two levels of a contrast) and several systems side by side.

Each is a forest plot per attribute with its table beside it. Every data string goes through
:func:`asr.audit.formatting.e`.
"""

from __future__ import annotations

from asr.audit.formatting import e, fmt_interval, fmt_num, fmt_pct, fmt_pts
from asr.audit.forest import forest_plot
from asr.audit.schema import ContrastGroup, Estimate, Systems, SystemsGroup, WithinSpeaker


#: How ``pooled_t`` bounds a within-speaker ratio (:func:`asr.audit.estimands.paired_poisson_variance`).
PAIRED_RATIO = ("; a ratio's variance is the larger of its cluster-robust one and a Poisson one, as speaker effects "
                "cancel in it")


def _triple(x: Estimate | None, interval: bool = True):
    if x is None or x.value is None:
        return None
    return (x.value, x.low, x.high) if interval else (x.value, None, None)


def _cer(x: Estimate | None, interval: bool = True) -> str:
    if x is None:
        return "–"
    return f"{fmt_pct(x.value)} {fmt_interval(x.low, x.high, pct=True) if interval else ''}".strip()


def _pts(x: Estimate | None, interval: bool = True) -> str:
    if x is None or x.value is None:
        return "–"
    return f"{fmt_pts(x.value, sign=True)} {fmt_interval(x.low, x.high, pts=True) if interval else ''}".strip()


def _times(x: Estimate | None, interval: bool = True) -> str:
    if x is None or x.value is None:
        return "–"
    return f"{fmt_num(x.value)}× {fmt_interval(x.low, x.high) if interval else ''}".strip()


def render_within_speaker(w: WithinSpeaker, metric: str, ci: str, method: str) -> str:
    """The paired within-speaker comparison (:mod:`asr.audit.paired`)."""
    a, b = w.levels
    unit = w.paired_by
    html = (f"<p>The same {e(unit)}s in two levels of <b>{e(w.contrast)}</b>: <b>{e(a)}</b> against <b>{e(b)}</b>. "
            f"{w.paired_units} of {w.units} {e(unit)}s have utterances in both ({w.utterances} utterances); only they "
            f"count, so {e(unit)} effects (voice, microphone, reading skill) cancel. Per group: {e(metric)} in each "
            f"level pooled over those {e(unit)}s' utterances, the ratio {e(a)} / {e(b)} and the difference "
            f"{e(a)} − {e(b)}, paired within {e(unit)}s ({e(ci)}s over {e(unit)}s, <code>{e(method)}</code>"
            f"{PAIRED_RATIO if method == 'pooled_t' else ''}).</p>")
    if not w.estimable:
        return html + f"<p class=muted>Not estimable: {e(w.reason)}.</p>"
    o = w.overall
    html += (f"<p class=verdict>Everyone: {e(metric)} {fmt_pct(o.cer_a.value)} reading {e(a)}, "
             f"{fmt_pct(o.cer_b.value)} reading {e(b)}; ratio {_times(o.ratio)}, difference {_pts(o.difference)} "
             "points.</p>")
    for attr, groups in w.attributes.items():
        html += f"<h3>By {e(attr)}</h3>"
        html += forest_plot(
            [{"label": g.group if g.eligible else f"{g.group} ({g.speakers} spk)",
              "values": [_triple(g.ratio, g.eligible)], "note": g.flag} for g in groups],
            (f"{a} / {b}",), log=True, anchor=1.0,
            axis_label=f"{attr}: {metric} reading {a} over reading {b}, within {unit}s (log scale; {ci})",
            fmt=lambda v: f"{v:.2f}×", tick_fmt=lambda v: f"{v:g}×")
        html += _contrast_table(groups, a, b, metric, ci)
    if w.skipped:
        html += ("<p class=muted>Not compared within speakers: "
                 + "; ".join(f"{e(attr)} ({e(why)})" for attr, why in w.skipped.items()) + ".</p>")
    return html + ("<p class=muted>Grey rows have fewer paired speakers than the minimum or no value: their "
                   "intervals are weak and left out of the plot.</p>")


def _contrast_table(groups: tuple[ContrastGroup, ...], a: str, b: str, metric: str, ci: str) -> str:
    rows = "".join(
        f"<tr class=\"{'flagged' if not g.eligible else ''}\"><td>{e(g.group)}</td><td class=num>{g.speakers}</td>"
        f"<td class=num><b>{_times(g.ratio)}</b></td><td class=num>{_pts(g.difference)}</td>"
        f"<td class=num>{_cer(g.cer_a)}</td><td class=num>{_cer(g.cer_b)}</td>"
        f"<td class=num>{g.utterances_a}</td><td class=num>{g.utterances_b}</td>"
        f"<td class=note>{e(g.flag or '')}</td></tr>" for g in groups)
    return ("<div class=scroll><table><thead><tr><th>group</th><th class=num># paired spk</th>"
            f"<th class=num>{e(a)} / {e(b)} [{e(ci)}]</th><th class=num>{e(a)} − {e(b)}, pts</th>"
            f"<th class=num>{e(metric)} {e(a)}</th><th class=num>{e(metric)} {e(b)}</th>"
            f"<th class=num># utt {e(a)}</th><th class=num># utt {e(b)}</th><th>note</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


def render_systems(s: Systems, metric: str, ci: str) -> str:
    """Several systems' CER per group, side by side, with paired differences to the audited release."""
    me = s.systems[0].name
    listing = "".join(
        f"<tr><td>{e(i.name)}{' (this report)' if k == 0 else ''}</td><td>{e(i.system or '–')}</td>"
        f"<td>{e(i.engine or '–')}</td><td class=num>{i.utterances}</td><td>{e(i.results)}</td></tr>"
        for k, i in enumerate(s.systems))
    html = (f"<p>{len(s.systems)} systems on the <b>{s.shared_utterances}</b> utterances they all have, joined by "
            f"utterance id ({s.only_current} of this release's utterances are missing from another system and left "
            f"out). Groups are this release's metadata. Each {e(metric)} has its {e(ci)} over speakers; Δ is a "
            f"system's {e(metric)} minus {e(me)}'s, paired on the same utterances.</p>"
            "<div class=scroll><table><thead><tr><th>name</th><th>system</th><th>engine</th>"
            f"<th class=num># utt in its results</th><th>results</th></tr></thead><tbody>{listing}</tbody></table></div>")
    if s.notes:
        html += "<ul>" + "".join(f"<li class=muted>{e(n)}</li>" for n in s.notes) + "</ul>"
    html += "<h3>Everyone</h3>" + _systems_table((s.overall,), s, metric, ci)
    names = tuple(i.name for i in s.systems)
    for attr, groups in s.attributes.items():
        html += f"<h3>By {e(attr)}</h3>"
        html += forest_plot(
            [{"label": g.group if g.eligible else f"{g.group} ({g.speakers} spk)",
              "values": [_triple(f.cer, g.eligible) for f in g.figures],
              "note": None if g.eligible else "fewer speakers than the minimum"} for g in groups],
            names, log=False, anchor=None, axis_label=f"{attr}: {metric} by system ({ci})",
            fmt=lambda v: f"{100 * v:.1f}%", tick_fmt=lambda v: f"{100 * v:.0f}%")
        html += _systems_table(groups, s, metric, ci)
    return html


def _systems_table(groups: tuple[SystemsGroup, ...], s: Systems, metric: str, ci: str) -> str:
    me = s.systems[0].name
    head = "".join(f"<th class=num>{e(i.name)} [{e(ci)}]</th>" + (f"<th class=num>Δ vs {e(me)}, pts</th>" if k else "")
                   for k, i in enumerate(s.systems))
    rows = "".join(
        f"<tr class=\"{'flagged' if not g.eligible else ''}\"><td>{e(g.group)}</td><td class=num>{g.speakers}</td>"
        f"<td class=num>{g.utterances}</td>"
        + "".join(f"<td class=num><b>{_cer(f.cer, g.eligible)}</b></td>"
                  + (f"<td class=num>{_pts(f.difference, g.eligible)}</td>" if k else "")
                  for k, f in enumerate(g.figures))
        + "</tr>" for g in groups)
    return (f"<div class=scroll><table><thead><tr><th>group</th><th class=num># spk</th><th class=num># utt</th>{head}"
            f"</tr></thead><tbody>{rows}</tbody></table></div>")
