"""Release over release: paired comparison with a baseline, and the releases index.

The comparison joins the current and the baseline results on utterance ``id``
(only utterances in both count); a speaker's cell holds both releases' sums, so every
interval (:mod:`asr.audit.intervals`, ``AuditConfig.interval_method``) is of a paired
difference, and the speaker bootstrap (both releases' sums from the same draw) gives
the probabilities. Per group: CER then and now, the difference with its interval and
the probability of improvement (the share of replicates in which the CER fell). For the
disparity: the worst- and best-group CER (chosen per release on the point estimates,
among groups with at least ``min_speakers`` speakers), the ratio of the highest-CER
group other than the reference group to the reference group (the same reference group
in both releases), and the overall CER, each with its change, interval and probability
of getting worse.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asr.audit.bootstrap import error_rates, make_cells
from asr.audit.config import AuditConfig
from asr.audit.estimands import Term, difference, ratio_change
from asr.audit.formatting import CSP, ci_label, css, e, fmt_interval, fmt_num, fmt_pct
from asr.audit.groups import sample_of
from asr.audit.intervals import estimate
from asr.audit.results import read_results
from asr.audit.schema import Change, ComparedAttribute, Comparison, PairedGroup, frozen_map
from asr.audit.svg import trend_plot
from asr.errors import AsrError
from asr.results import COUNT_FIELDS

RESULTS_FILE = "results.jsonl"
FAIRNESS_FILE = "fairness.json"
#: Cell value columns of the comparison: this release's edits and reference length, the baseline's.
NEW, OLD = (0, 1), (2, 3)


def resolve_baseline(path: str | Path, what: str = "baseline") -> tuple[Path, str]:
    """The results file and release name of a baseline (or ``what`` else), from a report directory or a results file."""
    path = Path(path)
    if path.is_dir():
        results = path / RESULTS_FILE
        if not results.is_file():
            raise AsrError(f"{path}: no {RESULTS_FILE} in the {what} report directory (run asr audit on it first)")
        return results, path.name
    if path.is_file():
        return path, path.parent.name if path.name == RESULTS_FILE else path.stem
    raise AsrError(f"{path}: {what} not found (expected a report directory or a results file)")


def compare_with_baseline(current: pd.DataFrame, baseline_path: str | Path, by: list[str], config: AuditConfig,
                          references: dict[str, str | None] | None = None) -> Comparison:
    """Per attribute, the paired comparison described in the module docstring.

    ``references``: each attribute's reference group (the current audit's).
    """
    results_path, name = resolve_baseline(baseline_path)
    base = read_results(results_path)
    counts = list(COUNT_FIELDS)
    joined = current[["id", "speaker", *by, *counts]].merge(base[["id", *counts]], on="id", suffixes=("", "_base"))
    if joined.empty:
        raise AsrError(f"{results_path}: no utterance id in common with the current results; nothing to compare")

    def edits_and_ref(suffix: str) -> list[np.ndarray]:
        edits = sum(joined[f"{c}{suffix}"].to_numpy(np.float64) for c in ("sub", "del", "ins"))
        return [edits, joined[f"ref_len{suffix}"].to_numpy(np.float64)]

    # Per utterance: this release's edits and reference length, the baseline's, and 1 (utterance count).
    values = np.column_stack(edits_and_ref("") + edits_and_ref("_base") + [np.ones(len(joined))])
    whole = make_cells(joined, [], values=values)  # every utterance once, whatever the attributes
    overall = _change(sample_of(whole, config, values=whole.values[:, :4], replicates=True), config,
                      Term((0,), *NEW), Term((0,), *OLD))
    attributes = {attr: _compare(make_cells(joined, [attr], values=values), config, (references or {}).get(attr), overall)
                  for attr in by}
    return Comparison(name, str(results_path), len(joined), int(len(current) - len(joined)),
                      int(len(base) - len(joined)), frozen_map(attributes))


def _compare(cells, config: AuditConfig, reference: str | None, overall: Change) -> ComparedAttribute:
    sample = sample_of(cells, config, values=cells.values[:, :4], replicates=True)
    reps = sample.replicates
    new_b, old_b = error_rates(reps[..., :2]), error_rates(reps[..., 2:])
    sums = cells.group_sums()
    new, old = error_rates(sums[:, :2]), error_rates(sums[:, 2:4])
    speakers = cells.speakers_per_group()
    groups = []
    for g in range(cells.n_groups):
        _, low, high = estimate(difference(Term((g,), *NEW), Term((g,), *OLD)), sample, config.interval_method,
                                config.confidence)
        diff = new_b[:, g] - old_b[:, g]
        groups.append(PairedGroup(cells.label_text(g), int(speakers[g]), int(sums[g, 4]), _num(old[g]), _num(new[g]),
                                  _num(new[g] - old[g]), low, high, _prob(diff < 0, diff),
                                  bool(speakers[g] >= config.min_speakers)))
    eligible = [g for g in range(cells.n_groups) if speakers[g] >= config.min_speakers
                and np.isfinite(new[g]) and np.isfinite(old[g])]
    base = {"groups": tuple(groups), "overall_cer": overall}
    if len(eligible) < 2:
        return ComparedAttribute(**base, estimable=False, reason=f"{len(eligible)} eligible group(s) in the matched utterances")
    labels = [cells.label_text(g) for g in range(cells.n_groups)]
    wn, wo = (eligible[int(np.argmax(r[eligible]))] for r in (new, old))
    bn, bo = (eligible[int(np.argmin(r[eligible]))] for r in (new, old))
    out = dict(base, estimable=True, worst_group=labels[wn], baseline_worst_group=labels[wo], best_group=labels[bn],
               baseline_best_group=labels[bo],
               worst_group_cer=_change(sample, config, Term((wn,), *NEW), Term((wo,), *OLD)),
               best_group_cer=_change(sample, config, Term((bn,), *NEW), Term((bo,), *OLD)))
    if reference not in labels:
        return ComparedAttribute(**out, reason="no reference group in the matched utterances")
    ref = labels.index(reference)
    others = [g for g in eligible if g != ref]
    cn, co = (max(others, key=lambda g: r[g]) for r in (new, old))
    est = ratio_change(Term((cn,), *NEW), Term((ref,), *NEW), Term((co,), *OLD), Term((ref,), *OLD))
    now, then = (est.terms[0], est.terms[1]), (est.terms[2], est.terms[3])
    return ComparedAttribute(**out, reference_group=reference, compared_group=labels[cn],
                             baseline_compared_group=labels[co], ratio=_ratio_change(sample, config, est, now, then))


def _change(sample, config: AuditConfig, now: Term, then: Term) -> Change:
    """This release's rate ``now`` against the baseline's ``then``: values, change, interval, P(worse)."""
    est = difference(now, then)
    delta, low, high = estimate(est, sample, config.interval_method, config.confidence)
    new, old = (float(error_rates(sample.sums[list(t.groups)][:, [t.edits, t.ref]].sum(axis=0))) for t in (now, then))
    boot = est.value(np.stack([error_rates(sample.replicates[:, list(t.groups)][..., [t.edits, t.ref]].sum(axis=1))
                               for t in (now, then)], axis=-1))
    return Change(_num(new), _num(old), delta, low, high, _prob(boot > 0, boot))


def _ratio_change(sample, config: AuditConfig, est, now: tuple[Term, Term], then: tuple[Term, Term]) -> Change:
    delta, low, high = estimate(est, sample, config.interval_method, config.confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        new, old = (_num(np.divide(*[error_rates(sample.sums[t.groups[0], [t.edits, t.ref]]) for t in pair]))
                    for pair in (now, then))
        boot = np.subtract(*[np.divide(*[error_rates(sample.replicates[:, t.groups[0]][:, [t.edits, t.ref]]) for t in pair])
                             for pair in (now, then)])
    return Change(new, old, delta, low, high, _prob(boot > 0, boot))


def _prob(mask: np.ndarray, samples: np.ndarray) -> float | None:
    finite = np.isfinite(samples)
    return float(mask[finite].mean()) if finite.any() else None


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


# ----------------------------------------------------------------------------- index


def release_summaries(output_dir: str | Path) -> list[dict]:
    """One summary per release directory under ``output_dir`` holding a ``fairness.json``, oldest first."""
    entries = []
    for path in sorted(Path(output_dir).glob(f"*/{FAIRNESS_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # not ours or half-written by someone else: the index lists what it can read
        head = data.get("headline") or {}
        entries.append({
            "release": path.parent.name,
            "created": data.get("created", ""),
            "attribute": head.get("attribute"),
            "worst_group": head.get("worst_group"),
            "worst_cer": head.get("worst_cer"),
            "ratio": head.get("ratio"),
            "overall_cer": (data.get("overall") or {}).get("cer"),
            "utterances": (data.get("overall") or {}).get("utterances"),
            "confidence": (data.get("config") or {}).get("confidence"),
        })
    entries.sort(key=lambda e: (e["created"], e["release"]))
    return entries


def render_index(entries: list[dict]) -> str:
    """``reports/index.html``: the releases and the worst-group CER trend (inline SVG).

    ``entries`` are :func:`release_summaries`' (read from each release's ``fairness.json``).
    """
    rows = []
    for entry in reversed(entries):
        wc = entry["worst_cer"] or {}
        ratio = entry["ratio"] or {}
        rows.append(
            f"<tr><td><a href=\"{e(entry['release'])}/fairness.html\">{e(entry['release'])}</a></td>"
            f"<td>{e(str(entry['created']))}</td><td>{e(str(entry['attribute'] or '–'))}</td>"
            f"<td>{e(str(entry['worst_group'] or '–'))}</td>"
            f"<td class=num>{fmt_pct(wc.get('value'))} {fmt_interval(wc.get('low'), wc.get('high'), pct=True)}</td>"
            f"<td class=num>{_fmt_ratio(ratio)}</td><td class=num>{fmt_pct(entry['overall_cer'])}</td>"
            f"<td class=num>{e(str(entry['utterances'] or ''))}</td></tr>"
        )
    points = [(x["release"], (x["worst_cer"] or {}).get("value"), (x["worst_cer"] or {}).get("low"),
               (x["worst_cer"] or {}).get("high")) for x in entries]
    levels = {x["confidence"] for x in entries if x.get("confidence")}
    level = f" ({ci_label(levels.pop())})" if len(levels) == 1 else ""
    table = (
        "<div class=scroll><table><thead><tr><th>release</th><th>created</th><th>attribute</th><th>worst group</th>"
        f"<th>worst-group CER{level}</th><th>ratio to reference</th><th>overall CER</th><th>utterances</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{CSP}"
        '<meta name=viewport content="width=device-width, initial-scale=1"><title>Fairness reports</title>'
        f"<style>{css()}</style></head><body><main><h1>Fairness reports</h1>"
        f"<p>{len(entries)} release(s), newest first. Each links to its self-contained report.</p>"
        f"<h2>Worst-group CER by release</h2>{trend_plot(points)}{table}</main></body></html>"
    )


def _fmt_ratio(ratio: dict) -> str:
    if not ratio or ratio.get("value") is None:
        return "–"
    return f"{fmt_num(ratio['value'])}× {fmt_interval(ratio.get('low'), ratio.get('high'))}"
