"""Release over release: paired comparison with a baseline, and the releases index.

The comparison joins the current and the baseline results on utterance ``id``
(only utterances in both count) and resamples *speakers* within each group, taking
both releases' sums from the same draw, so every interval is of a paired
difference. Per group: CER then and now, the difference with its interval and the
probability of improvement (the share of replicates in which the CER fell). For the
disparity: the worst-group CER, the worst/best ratio and the overall CER of each
release (worst and best chosen per release on the point estimates, among groups
with at least ``min_speakers`` speakers), their changes with intervals, and the
probability each got worse.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from asr.audit.bootstrap import bootstrap, error_rates, interval, make_cells
from asr.audit.config import AuditConfig
from asr.audit.results import COUNT_COLUMNS, read_results
from asr.errors import AsrError

RESULTS_FILE = "results.jsonl"
FAIRNESS_FILE = "fairness.json"


def resolve_baseline(path: str | Path) -> tuple[Path, str]:
    """The baseline's results file and release name, from a report directory or a results file."""
    path = Path(path)
    if path.is_dir():
        results = path / RESULTS_FILE
        if not results.is_file():
            raise AsrError(f"{path}: no {RESULTS_FILE} in the baseline report directory (run asr audit on it first)")
        return results, path.name
    if path.is_file():
        return path, path.parent.name if path.name == RESULTS_FILE else path.stem
    raise AsrError(f"{path}: baseline not found (expected a report directory or a results file)")


def compare_with_baseline(current: pd.DataFrame, baseline_path: str | Path, by: list[str], config: AuditConfig) -> dict:
    """Per attribute, the paired comparison described in the module docstring."""
    results_path, name = resolve_baseline(baseline_path)
    base = read_results(results_path)
    counts = list(COUNT_COLUMNS)
    joined = current[["id", "speaker", *by, *counts]].merge(base[["id", *counts]], on="id", suffixes=("", "_base"))
    if joined.empty:
        raise AsrError(f"{results_path}: no utterance id in common with the current results; nothing to compare")
    def edits_and_ref(suffix: str) -> list[np.ndarray]:
        edits = sum(joined[f"{c}{suffix}"].to_numpy(np.float64) for c in ("sub", "del", "ins"))
        return [edits, joined[f"ref_len{suffix}"].to_numpy(np.float64)]

    # Per utterance: this release's edits and reference length, the baseline's, and 1 (utterance count).
    values = np.column_stack(edits_and_ref("") + edits_and_ref("_base") + [np.ones(len(joined))])
    out = {
        "release": name,
        "results": str(results_path),
        "matched_utterances": len(joined),
        "only_current": int(len(current) - len(joined)),
        "only_baseline": int(len(base) - len(joined)),
        "attributes": {},
    }
    for attr in by:
        cells = make_cells(joined, [attr], values=values)
        out["attributes"][attr] = _compare(cells, config)
    return out


def _compare(cells, config: AuditConfig) -> dict:
    reps = bootstrap(cells, config.replicates, config.seed, values=cells.values[:, :4])
    new_b, old_b = error_rates(reps[..., :2]), error_rates(reps[..., 2:])
    sums = cells.group_sums()
    new, old = error_rates(sums[:, :2]), error_rates(sums[:, 2:4])
    speakers = cells.speakers_per_group()
    groups = []
    for g in range(cells.n_groups):
        diff = new_b[:, g] - old_b[:, g]
        low, high = interval(diff, config.confidence)
        groups.append({
            "group": cells.label_text(g),
            "speakers": int(speakers[g]),
            "utterances": int(sums[g, 4]),
            "baseline_cer": _num(old[g]),
            "cer": _num(new[g]),
            "difference": _num(new[g] - old[g]),
            "low": low,
            "high": high,
            "p_improvement": _prob(diff < 0, diff),
            "eligible": bool(speakers[g] >= config.min_speakers),
        })
    out: dict = {"groups": groups}
    eligible = [g for g in range(cells.n_groups) if speakers[g] >= config.min_speakers
                and np.isfinite(new[g]) and np.isfinite(old[g])]
    overall_new = error_rates(reps[..., :2].sum(axis=1))
    overall_old = error_rates(reps[..., 2:].sum(axis=1))
    total = sums.sum(axis=0)
    out["overall_cer"] = _change(error_rates(total[:2]), error_rates(total[2:4]), overall_new, overall_old, config)
    if len(eligible) < 2:
        out.update(estimable=False, reason=f"{len(eligible)} eligible group(s) in the matched utterances")
        return out
    wn = eligible[int(np.argmax(new[eligible]))]
    wo = eligible[int(np.argmax(old[eligible]))]
    bn = eligible[int(np.argmin(new[eligible]))]
    bo = eligible[int(np.argmin(old[eligible]))]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_new, ratio_old = new_b[:, wn] / new_b[:, bn], old_b[:, wo] / old_b[:, bo]
        r_new = new[wn] / new[bn] if new[bn] > 0 else np.inf
        r_old = old[wo] / old[bo] if old[bo] > 0 else np.inf
    out.update(
        estimable=True,
        worst_group=cells.label_text(wn),
        baseline_worst_group=cells.label_text(wo),
        best_group=cells.label_text(bn),
        baseline_best_group=cells.label_text(bo),
        worst_group_cer=_change(new[wn], old[wo], new_b[:, wn], old_b[:, wo], config),
        best_group_cer=_change(new[bn], old[bo], new_b[:, bn], old_b[:, bo], config),
        ratio=_change(r_new, r_old, ratio_new, ratio_old, config),
    )
    return out


def _change(new: float, old: float, new_b: np.ndarray, old_b: np.ndarray, config: AuditConfig) -> dict:
    with np.errstate(invalid="ignore"):
        delta = new_b - old_b
    low, high = interval(delta, config.confidence)
    return {
        "value": _num(new),
        "baseline": _num(old),
        "delta": _num(new - old) if np.isfinite(new) and np.isfinite(old) else None,
        "low": low,
        "high": high,
        "p_worse": _prob(delta > 0, delta),
    }


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
        })
    entries.sort(key=lambda e: (e["created"], e["release"]))
    return entries


def render_index(entries: list[dict]) -> str:
    """``reports/index.html``: the releases and the worst-group CER trend (inline SVG)."""
    from asr.audit.report import CSP, CSS, fmt_interval, fmt_pct
    from asr.audit.svg import trend_plot

    e = html.escape
    rows = []
    for entry in reversed(entries):
        wc = entry["worst_cer"] or {}
        ratio = entry["ratio"] or {}
        rows.append(
            f"<tr><td><a href=\"{e(entry['release'], quote=True)}/fairness.html\">{e(entry['release'])}</a></td>"
            f"<td>{e(str(entry['created']))}</td><td>{e(str(entry['attribute'] or '–'))}</td>"
            f"<td>{e(str(entry['worst_group'] or '–'))}</td>"
            f"<td class=num>{fmt_pct(wc.get('value'))} {fmt_interval(wc.get('low'), wc.get('high'), pct=True)}</td>"
            f"<td class=num>{_fmt_ratio(ratio)}</td><td class=num>{fmt_pct(entry['overall_cer'])}</td>"
            f"<td class=num>{e(str(entry['utterances'] or ''))}</td></tr>"
        )
    points = [(x["release"], (x["worst_cer"] or {}).get("value"), (x["worst_cer"] or {}).get("low"),
               (x["worst_cer"] or {}).get("high")) for x in entries]
    table = (
        "<table><thead><tr><th>release</th><th>created</th><th>attribute</th><th>worst group</th>"
        "<th>worst-group CER (95% CI)</th><th>worst/best</th><th>overall CER</th><th>utterances</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{CSP}<title>Fairness reports</title>"
        f"<style>{CSS}</style></head><body><main><h1>Fairness reports</h1>"
        f"<p>{len(entries)} release(s), newest first. Each links to its self-contained report.</p>"
        f"<h2>Worst-group CER by release</h2>{trend_plot(points)}{table}</main></body></html>"
    )


def _fmt_ratio(ratio: dict) -> str:
    from asr.audit.report import fmt_interval, fmt_num

    if not ratio or ratio.get("value") is None:
        return "–"
    return f"{fmt_num(ratio['value'])}× {fmt_interval(ratio.get('low'), ratio.get('high'))}"
