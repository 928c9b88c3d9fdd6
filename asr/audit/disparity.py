"""Disparity between groups: worst, best and reference group, ratio, difference, gaps, tests.

Only *eligible* groups (at least ``min_speakers`` speakers, some reference tokens)
enter. The worst and best groups are chosen on the point estimates. Ratios and
differences are to a fixed *reference group* (:func:`choose_reference`: configured per
attribute, else the eligible group with the most reference tokens), never to a group
picked for being best, so a ratio means the same from run to run; the group compared
with it is the highest-CER eligible group other than the reference (the worst group,
unless the reference is itself the worst). Intervals (of the ratio, the difference and
each group's gap to the overall CER) come from :mod:`asr.audit.intervals`.

Each eligible group is tested against the rest of the set by a permutation test
over speakers: under the null hypothesis that the group label does not matter, the
labels of the (group, speaker) cells are exchangeable; the statistic is the
absolute difference of pooled CERs, the p-value ``(1 + #{perm >= observed}) /
(1 + permutations)``, and the p-values are Holm-corrected
(``statsmodels.stats.multitest.multipletests``). The worst (best) group *differs* when
its test rejects and its CER is above (below) the rest's; the groups are
*distinguishable* when any test rejects.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from statsmodels.stats.multitest import multipletests

from asr.audit.bootstrap import DEL, INS, REF, SUB, Cells, rate
from asr.audit.config import AuditConfig
from asr.audit.estimands import Sample, Term, difference, ratio
from asr.audit.intervals import estimate
from asr.audit.progress import advance, phase
from asr.audit.results import MISSING
from asr.audit.schema import Disparity, Estimate, Gap, GroupResult, GroupTest
from asr.errors import AsrError

#: Permutations computed per block (bounds memory at blocks x cells).
BLOCK = 64
CONFIGURED, LARGEST = "configured", "most reference tokens"


def choose_reference(attribute: str, ref_tokens: Mapping[str, float], config: AuditConfig,
                     eligible: set[str] | None = None) -> tuple[str | None, str | None]:
    """The reference group of ``attribute`` and why: ``(name, "configured" | "most reference tokens")``.

    ``ref_tokens``: each group's summed reference length. Default: the group with the most
    reference tokens among ``eligible`` (all but the missing-value group when ``None``);
    ``(None, None)`` when no group qualifies. A configured group that is not in the
    results is an :class:`AsrError`.
    """
    wanted = config.reference_groups.get(attribute)
    if wanted is not None:
        if wanted not in ref_tokens:
            raise AsrError(
                f"audit config: reference group {wanted!r} for {attribute!r} is not in the results "
                f"(groups: {', '.join(map(str, ref_tokens))})"
            )
        return wanted, CONFIGURED
    candidates = {g: n for g, n in ref_tokens.items() if n > 0 and g != MISSING and (eligible is None or g in eligible)}
    if not candidates:
        return None, None
    return max(sorted(candidates), key=candidates.__getitem__), LARGEST


def summarize(cells: Cells, rows: tuple[GroupResult, ...], sample: Sample, config: AuditConfig,
              reference: tuple[str | None, str | None] = (None, None), tests: tuple[GroupTest, ...] = (),
              gaps: tuple[Gap, ...] | None = None) -> Disparity:
    """Worst, best, reference, the compared group's ratio and difference to the reference, gaps to overall.

    ``gaps``: each eligible group's gap to the overall CER, when the cells cannot give it (the
    overlapping groups of a list-valued attribute: :func:`asr.audit.multivalued.membership_gaps`).
    """
    method, level = config.interval_method, config.confidence
    eligible = eligible_groups(rows)
    if gaps is None:
        gaps = _gaps_to_overall(cells, rows, sample, config, eligible)
    base = {"eligible_groups": tuple(rows[g].group for g in eligible), "gaps_to_overall": tuple(gaps)}
    if len(eligible) < 2:
        return Disparity(estimable=False, reason=f"{len(eligible)} eligible group(s); a disparity needs two", **base)
    names = [r.group for r in rows]
    ref_name, source = reference
    if ref_name is None or rows[names.index(ref_name)].cer is None:
        return Disparity(estimable=False, reason="no reference group with reference tokens", **base)
    ref = names.index(ref_name)
    cers = np.array([rows[g].cer for g in eligible])
    worst, best = eligible[int(np.argmax(cers))], eligible[int(np.argmin(cers))]
    others = [g for g in eligible if g != ref]
    compared = max(others, key=lambda g: rows[g].cer)
    by_group = {t.group: t for t in tests}
    significant = lambda g, sign: (t := by_group.get(rows[g].group)) is not None and t.significant and sign * t.difference > 0  # noqa: E731
    value, low, high = estimate(ratio(Term((compared,)), Term((ref,))), sample, method, level)
    d_value, d_low, d_high = estimate(difference(Term((compared,)), Term((ref,))), sample, method, level)
    notes = []
    if rows[ref].cer == 0:
        notes.append("the reference group has no errors: the ratio is unbounded")
    if not rows[ref].eligible:
        notes.append(f"the reference group {ref_name} is not eligible ({rows[ref].flag})")
    return Disparity(
        estimable=True, **base,
        worst_group=rows[worst].group, best_group=rows[best].group, reference_group=ref_name,
        reference_source=source, compared_group=rows[compared].group,
        worst_cer=_row_estimate(rows[worst]), best_cer=_row_estimate(rows[best]), reference_cer=_row_estimate(rows[ref]),
        ratio=Estimate(value, low, high), difference=Estimate(d_value, d_low, d_high),
        ratio_note="; ".join(notes) or None,
        worst_differs=significant(worst, 1), best_differs=significant(best, -1),
        distinguishable=any(t.significant for t in tests),
    )


def _gaps_to_overall(cells: Cells, rows: tuple[GroupResult, ...], sample: Sample, config: AuditConfig,
                     eligible: list[int]) -> list[Gap]:
    everyone = Term(tuple(range(cells.n_groups)))
    total = cells.values.sum(axis=0)
    overall_cer = float(rate(total[SUB] + total[DEL] + total[INS], total[REF]))
    gaps = []
    for g in eligible:
        _, low, high = estimate(difference(Term((g,)), everyone), sample, config.interval_method, config.confidence)
        gaps.append(Gap(rows[g].group, rows[g].cer - overall_cer, low, high))
    return gaps


def _row_estimate(row: GroupResult) -> Estimate:
    return Estimate(row.cer, row.cer_low, row.cer_high)


def group_tests(
    cells: Cells, rows: tuple[GroupResult, ...], permutations: int, seed: int, alpha: float
) -> tuple[GroupTest, ...]:
    """Each eligible group against the rest: permutation p-value and Holm-adjusted p-value."""
    eligible = eligible_groups(rows)
    if len(eligible) < 2:
        return ()
    (cer, rest), p = permutation_pvalues(cells, permutations, seed)
    return holm_tests(rows, eligible, cer, rest, p, alpha)


def eligible_groups(rows: tuple[GroupResult, ...]) -> list[int]:
    """Indices of the groups the disparity summary and the tests compare."""
    return [g for g, r in enumerate(rows) if r.eligible and r.cer is not None]


def holm_tests(rows: tuple[GroupResult, ...], eligible: list[int], cer: np.ndarray, rest: np.ndarray,
               p: np.ndarray, alpha: float) -> tuple[GroupTest, ...]:
    """The tests of the ``eligible`` groups from per-group (G,) CER, rest CER and raw p-values, Holm-corrected."""
    raw = p[eligible]
    reject, adjusted, _, _ = multipletests(raw, alpha=alpha, method="holm")
    return tuple(
        GroupTest(rows[g].group, rows[g].cer, float(rest[g]), float(cer[g] - rest[g]),
                  float(raw[i]), float(adjusted[i]), bool(reject[i]))
        for i, g in enumerate(eligible)
    )


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
    with phase("permutation tests", permutations, "permutation"):
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
            advance(b)
    return (cer_g, cer_rest), (1 + exceed) / (1 + permutations)

