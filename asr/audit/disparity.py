"""Disparity between groups: worst and best, ratio, difference, gaps to overall, tests.

Only *eligible* groups (at least ``min_speakers`` speakers, some reference tokens)
enter. The worst and best groups are chosen on the point estimates; their
intervals, the ratio's and the difference's come from the same speaker-bootstrap
replicates (the named groups' CERs recomputed in every replicate), as does each
group's gap to the overall CER (overall resampled within every group).

Each eligible group is tested against the rest of the set by a permutation test
over speakers: under the null hypothesis that the group label does not matter, the
labels of the (group, speaker) cells are exchangeable; the statistic is the
absolute difference of pooled CERs, the p-value ``(1 + #{perm >= observed}) /
(1 + permutations)``, and the p-values are Holm-corrected
(``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

import numpy as np

from asr.audit.bootstrap import DEL, INS, REF, SUB, Cells, error_rates, interval, rate

#: Permutations computed per block (bounds memory at blocks x cells).
BLOCK = 64


def summarize(cells: Cells, rows: list[dict], replicates: np.ndarray, confidence: float) -> dict:
    """Worst, best, ratio, difference and gaps to overall, with intervals; ``estimable`` False with a reason."""
    eligible = [g for g, r in enumerate(rows) if r["eligible"] and r["cer"] is not None]
    boot = error_rates(replicates)
    overall = error_rates(replicates.sum(axis=1))
    total = cells.values.sum(axis=0)
    overall_cer = float(rate(total[SUB] + total[DEL] + total[INS], total[REF]))
    gaps = []
    for g in eligible:
        low, high = interval(boot[:, g] - overall, confidence)
        gaps.append({"group": rows[g]["group"], "gap": rows[g]["cer"] - overall_cer, "low": low, "high": high})
    out: dict = {"eligible_groups": [rows[g]["group"] for g in eligible], "gaps_to_overall": gaps}
    if len(eligible) < 2:
        out.update(estimable=False, reason=f"{len(eligible)} eligible group(s); a disparity needs two")
        return out
    cers = np.array([rows[g]["cer"] for g in eligible])
    worst, best = eligible[int(np.argmax(cers))], eligible[int(np.argmin(cers))]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_boot = boot[:, worst] / boot[:, best]
    wc, bc = rows[worst]["cer"], rows[best]["cer"]
    out.update(
        estimable=True,
        worst_group=rows[worst]["group"],
        best_group=rows[best]["group"],
        worst_cer=_estimate(wc, boot[:, worst], confidence),
        best_cer=_estimate(bc, boot[:, best], confidence),
        ratio=_estimate(wc / bc if bc > 0 else None, ratio_boot, confidence),
        difference=_estimate(wc - bc, boot[:, worst] - boot[:, best], confidence),
    )
    if bc == 0:
        out["ratio_note"] = "the best group has no errors: the ratio is unbounded"
    return out


def group_tests(
    cells: Cells, rows: list[dict], permutations: int, seed: int, alpha: float
) -> list[dict]:
    """Each eligible group against the rest: permutation p-value and Holm-adjusted p-value."""
    from statsmodels.stats.multitest import multipletests

    eligible = [g for g, r in enumerate(rows) if r["eligible"] and r["cer"] is not None]
    if len(eligible) < 2:
        return []
    observed, p = permutation_pvalues(cells, permutations, seed)
    raw = p[eligible]
    reject, adjusted, _, _ = multipletests(raw, alpha=alpha, method="holm")
    return [
        {
            "group": rows[g]["group"],
            "cer": rows[g]["cer"],
            "rest_cer": float(observed[1][g]),
            "difference": float(observed[0][g] - observed[1][g]),
            "p_value": float(raw[i]),
            "p_holm": float(adjusted[i]),
            "significant": bool(reject[i]),
        }
        for i, g in enumerate(eligible)
    ]


def permutation_pvalues(cells: Cells, permutations: int, seed: int):
    """((cer_group, cer_rest), p) per group, permuting group labels over cells, vectorised in blocks."""
    errors = cells.values[:, SUB] + cells.values[:, DEL] + cells.values[:, INS]
    ref = cells.values[:, REF]
    G, C = cells.n_groups, len(errors)
    e_tot, n_tot = errors.sum(), ref.sum()

    def versus_rest(e: np.ndarray, n: np.ndarray):
        return rate(e, n), rate(e_tot - e, n_tot - n)

    e_obs = np.bincount(cells.group, weights=errors, minlength=G)
    n_obs = np.bincount(cells.group, weights=ref, minlength=G)
    cer_g, cer_rest = versus_rest(e_obs, n_obs)
    stat = np.abs(cer_g - cer_rest)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(G)
    done = 0
    while done < permutations:
        b = min(BLOCK, permutations - done)
        labels = rng.permuted(np.broadcast_to(cells.group, (b, C)), axis=1)
        flat = (labels + (np.arange(b) * G)[:, None]).ravel()
        e = np.bincount(flat, weights=np.tile(errors, b), minlength=b * G).reshape(b, G)
        n = np.bincount(flat, weights=np.tile(ref, b), minlength=b * G).reshape(b, G)
        pg, pr = versus_rest(e, n)
        with np.errstate(invalid="ignore"):
            exceed += (np.abs(pg - pr) >= stat - 1e-12).sum(axis=0)
        done += b
    return (cer_g, cer_rest), (1 + exceed) / (1 + permutations)


def _estimate(value, samples: np.ndarray, confidence: float) -> dict:
    low, high = interval(samples, confidence)
    value = None if value is None or not np.isfinite(value) else float(value)
    return {"value": value, "low": low, "high": high}
