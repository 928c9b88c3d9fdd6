"""Report sections for the explanations (:mod:`asr.audit.explain`) and the model card.

Rendered defensively: a key the explanation does not carry renders as "not
available", never as an exception, since the explanation and the report evolve
separately. Every data string is escaped with :func:`asr.audit.formatting.e`.
"""

from __future__ import annotations

from asr.audit.formatting import e, fmt_num, fmt_pct
from asr.audit.schema import AuditResult
from asr.audit.svg import interval_plot, scatter_plot


def render_explanations(x: dict | None, r: AuditResult) -> str:
    """The explanations of :func:`asr.audit.explain.explain` (``x``) beside the audit ``r``."""
    if not x:
        return "<p class=muted>No explanations were computed.</p>"
    metric = r.metric
    block = r.attributes[x.get("by", r.config.by[0])]
    groups = {g.group: g for g in block.groups}
    unknown = (r.model_card.get("training_data") or {}).get("note") or "No training-data summary available."
    html = _composition(x.get("training_composition") or [], groups, metric, unknown)
    html += "<h3>By reference length and recording condition</h3>"
    html += "<h4>By length (tokens)</h4>" + _pooled_plot(x.get("by_length") or [], "bin", metric)
    html += "<h4>By condition</h4>" + _pooled_plot(x.get("by_condition") or [], "condition", metric)
    worst = block.disparity.worst_group
    html += _char_confusions(x.get("char_confusions") or {}, worst)
    html += _pinyin(x.get("pinyin_confusions") or {}, worst)
    html += _worst(x.get("worst_utterances") or {}, metric)
    return html


def _composition(rows: list[dict], groups: dict, metric: str, unknown: str) -> str:
    """Training amounts beside each group's error rate; one sentence (``unknown``) when nothing is known."""
    html = "<h3>Training data beside error rate</h3>"
    known = ("train_hours", "train_utterances", "train_speakers")
    if not any(r.get(k) is not None for r in rows for k in known):
        return html + f"<p class=muted>{e(unknown)}</p>"
    points = []
    for r in rows:
        g = groups.get(r["group"])
        if r.get("train_hours") is not None and r.get("cer") is not None:
            points.append({"label": r["group"], "x": r["train_hours"], "y": r["cer"],
                           "low": g.cer_low if g else None, "high": g.cer_high if g else None})
    if points:
        html += scatter_plot(points, "training hours", metric)
    else:
        html += "<p class=muted>The model's data summary has no hours for these groups.</p>"
    body = "".join(
        f"<tr><td>{e(r['group'])}</td><td class=num>{fmt_num(r.get('train_hours'), 3)}</td>"
        f"<td class=num>{e(r.get('train_utterances') if r.get('train_utterances') is not None else '–')}</td>"
        f"<td class=num>{e(r.get('train_speakers') if r.get('train_speakers') is not None else '–')}</td>"
        f"<td class=num>{fmt_pct(r.get('train_share'))}</td><td class=num>{e(r.get('utterances', ''))}</td>"
        f"<td class=num><b>{fmt_pct(r.get('cer'))}</b></td></tr>" for r in rows)
    return html + ("<div class=scroll><table><thead><tr><th>group</th><th class=num>train hours</th>"
                   "<th class=num>train utts</th><th class=num>train speakers</th><th class=num>share of hours</th>"
                   f"<th class=num>test utts</th><th class=num>{e(metric)}</th></tr></thead><tbody>{body}</tbody>"
                   "</table></div>")


def _pooled_plot(rows: list[dict], key: str, metric: str) -> str:
    if not rows:
        return "<p class=muted>Not available.</p>"
    plot = interval_plot([{"label": r[key], "value": r.get("cer")} for r in rows], label=metric)
    body = "".join(f"<tr><td>{e(r[key])}</td><td class=num>{e(r.get('utterances'))}</td>"
                   f"<td class=num>{e(r.get('ref_len'))}</td><td class=num>{fmt_pct(r.get('cer'))}</td></tr>" for r in rows)
    return plot + (f"<div class=scroll><table><thead><tr><th>{e(key)}</th><th class=num># utt</th>"
                   f"<th class=num># ref</th><th class=num>{e(metric)}</th></tr></thead><tbody>{body}</tbody>"
                   "</table></div>")


def _pairs_table(rows: list[dict], title: str, with_op: bool = False) -> str:
    if not rows:
        return f"<div><h4>{e(title)}</h4><p class=muted>none</p></div>"
    body = "".join(
        f"<tr>{'<td>' + e(r.get('op', '')) + '</td>' if with_op else ''}<td>{e(r.get('ref') or '∅')}</td>"
        f"<td>{e(r.get('hyp') or '∅')}</td><td class=num>{e(r.get('count'))}</td></tr>" for r in rows)
    op = "<th>op</th>" if with_op else ""
    return (f"<div><h4>{e(title)}</h4><table><thead><tr>{op}<th>ref</th><th>hyp</th><th class=num>count</th></tr>"
            f"</thead><tbody>{body}</tbody></table></div>")


def _char_confusions(conf: dict, worst: str | None) -> str:
    html = ("<h3>Most frequent character errors</h3><p class=muted>S: substitution, D: deletion (hyp ∅), "
            "I: insertion (ref ∅); the worst group is open.</p>")
    for group, rows in conf.items():
        by_op = [[r for r in rows if r.get("op") == op] for op in ("S", "D", "I")]
        html += (f"<details{' open' if group == worst else ''}><summary>{e(group)}</summary><div class=grid>"
                 + "".join(_pairs_table(r, t) for r, t in zip(by_op, ("substitutions", "deletions", "insertions")))
                 + "</div></details>")
    return html


def _pinyin(conf: dict, worst: str | None) -> str:
    html = ("<h3>Pinyin confusions of substituted characters</h3><p class=muted>Initials, finals and tones that "
            "differ between the reference and the hypothesis character (e.g. zh→z, n→l, ing→in): an accent's "
            "systematic errors.</p>")
    for group, block in conf.items():
        rates = block.get("rate_per_100_ref_chars") or {}
        summary = ", ".join(f"{e(k)} {fmt_num(v)}" for k, v in rates.items() if v is not None)
        html += (f"<details{' open' if group == worst else ''}><summary>{e(group)}</summary><p class=muted>per 100 reference characters: {summary or '–'}; "
                 f"Han substitutions {e(block.get('han_substitutions', '–'))}, homophones {e(block.get('homophones', '–'))}</p>"
                 "<div class=grid>"
                 + "".join(_pairs_table(block.get(c) or [], c) for c in ("initial", "final", "tone")) + "</div></details>")
    return html


def _ops_spans(text: str, ops: str) -> str:
    """Highlight each aligned position by its op, when the strings are position for position."""
    if len(text) != len(ops):
        return e(text)
    return "".join(f"<span class=op-{o}>{e(c)}</span>" if o in "SDI" else e(c) for c, o in zip(text, ops))


def _worst(worst: dict, metric: str) -> str:
    html = "<h3>Worst utterances</h3><p class=muted>Reference over hypothesis, aligned; * marks a gap.</p>"
    for group, rows in worst.items():
        body = "".join(
            f"<tr><td>{e(r.get('id'))}</td><td>{e(r.get('speaker'))}</td><td class=num>{fmt_pct(r.get('cer'))}</td>"
            f"<td><div class=align>{_ops_spans(r.get('ref_aligned', ''), r.get('ops', ''))}</div>"
            f"<div class=align>{_ops_spans(r.get('hyp_aligned', ''), r.get('ops', ''))}</div></td></tr>" for r in rows)
        html += (f"<details><summary>{e(group)} ({len(rows)})</summary><div class=scroll><table><thead><tr>"
                 f"<th>id</th><th>speaker</th><th class=num>{e(metric)}</th><th>reference / hypothesis</th></tr></thead>"
                 f"<tbody>{body}</tbody></table></div></details>")
    return html


def render_model_card(card: dict) -> str:
    """The model card (:func:`asr.audit.card.model_card`)."""
    model = card.get("model") or {}
    arch = model.get("architecture") or {}
    details = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in model.items() if k != "architecture")
    details += "".join(f"<tr><th>model.{e(k)}</th><td>{e(v)}</td></tr>" for k, v in arch.items())
    train = card.get("training_data") or {}
    if train.get("available"):
        tdata = (f"<p>{fmt_num(train.get('hours'), 2)} hours, {e(train.get('utterances'))} utterances, "
                 f"{e(train.get('speakers'))} speakers.</p>")
        for field, table in (train.get("by") or {}).items():
            if isinstance(table, dict):
                tdata += f"<h4>by {e(field)}</h4><table><thead><tr><th>{e(field)}</th><th class=num>hours</th><th class=num>utterances</th><th class=num>speakers</th></tr></thead><tbody>"
                tdata += "".join(
                    f"<tr><td>{e(v)}</td><td class=num>{fmt_num((s or {}).get('hours'), 3)}</td>"
                    f"<td class=num>{e((s or {}).get('utterances'))}</td><td class=num>{e((s or {}).get('speakers'))}</td></tr>"
                    for v, s in table.items()) + "</tbody></table>"
    else:
        tdata = f"<p class=muted>{e(train.get('note', 'unknown'))}</p>"
    ev = card.get("evaluation_data") or {}
    attrs = "".join(f"<li>{e(a)}: {e(', '.join(map(str, g)))}</li>" for a, g in (ev.get("attributes") or {}).items())
    return (
        f"<h3>Model details</h3><div class=scroll><table><tbody>{details}</tbody></table></div>"
        f"<h3>Intended use</h3><p>{e(card.get('intended_use'))}</p>"
        f"<h3>Training data</h3>{tdata}"
        f"<h3>Evaluation data</h3><p>{e(ev.get('utterances'))} utterances, {e(ev.get('speakers'))} speakers, "
        f"{e(ev.get('reference_tokens'))} reference {e(ev.get('unit'))}s from {e(', '.join(ev.get('results') or []))}"
        f"{' (manifests: ' + e(', '.join(ev['manifests'])) + ')' if ev.get('manifests') else ''}.</p><ul>{attrs}</ul>"
        f"<h3>Normalisation</h3><p><code>{e(card.get('normalization'))}</code></p>"
        f"<h3>Provenance</h3><div class=scroll><table><tbody>"
        + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in (card.get("provenance") or {}).items())
        + "</tbody></table></div>"
        f"<h3>Caveats</h3><ul>{''.join(f'<li>{e(c)}</li>' for c in card.get('caveats') or [])}</ul>"
    )
