"""Interval methods for pooled error rates and their contrasts, speakers as clusters.

Intervals of :class:`~asr.audit.estimands.Estimand` s (pooled rates and functions of
them) from a :class:`~asr.audit.estimands.Sample` of (group, speaker) cells: speakers
are resampled or linearised, never utterances; groups are strata.

Methods (``AuditConfig.interval_method``; coverage measured by
``benchmarks/bench_coverage.py``):

``percentile``
    speaker-bootstrap percentile interval (the audit's only method up to schema 1).
``bca``
    bias-corrected and accelerated speaker bootstrap (Efron 1987), the acceleration
    from stratified jackknife influence values (Davison and Hinkley 1997, 5.3).
``studentized``
    bootstrap-t: every replicate studentised by its own linearised standard error,
    on the log scale for rates and ratios.
``cluster_t``
    no resampling: the linearised (delta-method) CR1 cluster-robust variance, on the log
    scale for rates and ratios, with a t quantile on Welch-Satterthwaite degrees of
    freedom (``k - 1`` for a group of ``k`` speakers).
``pooled_t`` (default)
    ``cluster_t`` whose variance is the larger of the group's own CR1 variance and that
    of a pooled-dispersion model, ``Var e_i = mu_i + alpha mu_i^2`` (Poisson noise plus a
    speaker effect of squared coefficient of variation ``alpha``, any distribution) with
    ``alpha`` estimated from every group (:func:`dispersion`), and the log scale's
    centre corrected for its second-order bias (``log R`` is estimated low by about
    ``Var(log R) / 2``). With few speakers a group's own variance is noisy and small
    exactly when its speakers happen to be good, which is why intervals built from it
    alone miss above; the pooled model borrows the spread of speakers from the other
    groups. A difference of two rates combines the rates' asymmetric intervals by
    MOVER (Zou and Donner 2008; Newcombe's square-and-add), with the linearised
    correlation when the terms share speakers (paired releases, a gap to overall). The
    ratio of the same speakers' rates in two conditions (:mod:`asr.audit.paired`) takes the
    larger of its own CR1 variance and a Poisson one (speaker effects cancel in it).
"""


from __future__ import annotations

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from asr.audit.bootstrap import interval
from asr.audit.estimands import (
    Estimand, Sample, Term, influence_coefficients, influences, larger_variance, linearised_variance,
    stratified_cov, term_rates,
)

METHODS = ("percentile", "bca", "studentized", "cluster_t", "pooled_t")
#: The method the audit uses unless configured otherwise.
DEFAULT_METHOD = "pooled_t"
#: Methods that need bootstrap replicates (``studentized`` also their moments).
BOOTSTRAP_METHODS = ("percentile", "bca", "studentized")


def estimate(est: Estimand, s: Sample, method: str, confidence: float) -> tuple[float | None, float | None, float | None]:
    """``(value, low, high)`` of ``est`` by ``method``; ``None`` where not estimable."""
    theta = float(est.value(term_rates(est.terms, s.sums)))
    if not np.isfinite(theta):
        return None, None, None
    low, high = INTERVALS[method](est, s, theta, confidence)
    return theta, _finite(low), _finite(high)


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


# ----------------------------------------------------------------------------- methods


def replicate_values(est: Estimand, s: Sample) -> np.ndarray:
    """(B,) θ in every bootstrap replicate."""
    if s.replicates is None:
        raise ValueError("this interval method needs bootstrap replicates (make_sample(replicates=...))")
    return est.value(term_rates(est.terms, s.replicates))


def _percentile(est: Estimand, s: Sample, theta: float, confidence: float):
    return interval(replicate_values(est, s), confidence)


def jackknife_values(est: Estimand, s: Sample) -> np.ndarray:
    """(C,) θ with each cell left out of its group's sums."""
    rates = []
    for term in est.terms:
        idx = list(term.groups)
        inside = np.isin(s.group, idx)
        e = s.sums[idx, term.edits].sum() - np.where(inside, s.values[:, term.edits], 0.0)
        n = s.sums[idx, term.ref].sum() - np.where(inside, s.values[:, term.ref], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rates.append(e / n)
    return est.value(np.stack(rates, axis=-1))


def acceleration(est: Estimand, s: Sample) -> float:
    """BCa's ``a`` from stratified jackknife influence values ``l_i = (k_g - 1)(mean_g - θ_(i))``."""
    jack = jackknife_values(est, s)
    if not np.all(np.isfinite(jack)):
        return 0.0
    k = s.speakers.astype(float)
    mean = np.bincount(s.group, weights=jack, minlength=s.n_groups) / np.maximum(k, 1)
    scaled = (k[s.group] - 1) * (mean[s.group] - jack) / k[s.group]
    denom = (scaled**2).sum()
    return float((scaled**3).sum() / (6 * denom**1.5)) if denom > 0 else 0.0


def _bca(est: Estimand, s: Sample, theta: float, confidence: float):
    reps = replicate_values(est, s)
    finite = reps[np.isfinite(reps)]
    if finite.size < max(2, reps.size // 2):
        return None, None
    share = (np.sum(finite < theta) + 0.5 * np.sum(finite == theta)) / finite.size
    z0 = norm.ppf(min(max(share, 0.5 / finite.size), 1 - 0.5 / finite.size))
    a = acceleration(est, s)
    probs = []
    for alpha in ((1 - confidence) / 2, (1 + confidence) / 2):
        z = z0 + norm.ppf(alpha)
        probs.append(float(norm.cdf(z0 + z / (1 - a * z))))
    low, high = np.quantile(finite, probs)
    return float(low), float(high)


def replicate_standard_errors(est: Estimand, s: Sample) -> np.ndarray:
    """(B,) θ's linearised standard error within every replicate, from :attr:`Sample.moments`.

    Per replicate and group, ``sum_i (a·x_i - mean)^2 = a^T (M - T T^T / k) a``.
    """
    if s.moments is None or s.replicates is None:
        raise ValueError("the studentized bootstrap needs replicate moments (make_sample(moments=True))")
    a = influence_coefficients(est, s.replicates)
    k = s.speakers.astype(float)[None, :]
    quad = np.einsum("bgk,bgkl,bgl->bg", a, s.moments, a) - np.einsum("bgk,bgk->bg", a, s.replicates) ** 2 / np.maximum(k, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(k > 1, k / (k - 1) * np.maximum(quad, 0.0), 0.0)
    return np.sqrt(v.sum(axis=1))


def _studentized(est: Estimand, s: Sample, theta: float, confidence: float):
    var, _ = linearised_variance(est, s)
    if not np.isfinite(var) or var <= 0 or (est.positive and theta <= 0):
        return None, None
    reps, ses = replicate_values(est, s), replicate_standard_errors(est, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        if est.positive:
            tstat, centre, se = (np.log(reps) - np.log(theta)) / (ses / reps), np.log(theta), np.sqrt(var) / theta
        else:
            tstat, centre, se = (reps - theta) / ses, theta, np.sqrt(var)
    lo_q, hi_q = interval(tstat, confidence)
    if lo_q is None:
        return None, None
    low, high = centre - hi_q * se, centre - lo_q * se
    return (float(np.exp(low)), float(np.exp(high))) if est.positive else (low, high)


def _t_interval(theta: float, var: float, df: float, confidence: float, log: bool, shift: float = 0.0):
    """θ ± t·SE, on the log scale (``shift`` added to the log centre) when ``log``."""
    if not np.isfinite(var) or df <= 0 or (log and theta <= 0):
        return None, None
    q = float(student_t.ppf((1 + confidence) / 2, df)) if np.isfinite(df) else float(norm.ppf((1 + confidence) / 2))
    if log:
        half = q * np.sqrt(var) / theta
        return theta * np.exp(shift - half), theta * np.exp(shift + half)
    half = q * np.sqrt(var)
    return theta - half, theta + half


def _cluster_t(est: Estimand, s: Sample, theta: float, confidence: float):
    var, df = linearised_variance(est, s)
    return _t_interval(theta, var, df, confidence, est.positive)


def _pooled_t(est: Estimand, s: Sample, theta: float, confidence: float):
    if est.kind == "difference":
        return _mover(est, s, theta, confidence)
    if not est.positive:  # a paired change of a ratio: one release's model cannot describe it
        return _cluster_t(est, s, theta, confidence)
    var, df = larger_variance(est, s)
    return _t_interval(theta, var, df, confidence, True, shift=_log_bias(est, s))


def _log_bias(est: Estimand, s: Sample) -> float:
    """How far ``log θ̂`` falls below ``log θ`` to second order: ``sum ± Var(log R_j) / 2``."""
    shift = 0.0
    for sign, term in zip((1, -1), est.terms):
        single = Estimand("rate", (term,))
        r = float(single.value(term_rates((term,), s.sums)))
        var, _ = larger_variance(single, s)
        if r > 0 and np.isfinite(var):
            shift += sign * var / r**2 / 2
    return shift


def _rate_interval(term: Term, s: Sample, confidence: float, shift: bool):
    single = Estimand("rate", (term,))
    r = float(single.value(term_rates((term,), s.sums)))
    var, df = larger_variance(single, s)
    low, high = _t_interval(r, var, df, confidence, True, shift=_log_bias(single, s) if shift else 0.0)
    return r, low, high


def _mover(est: Estimand, s: Sample, theta: float, confidence: float):
    """MOVER: a difference of two rates from the two rates' ``pooled_t`` intervals.

    ``L = θ - sqrt(d1^2 + d2^2 - 2 rho d1 d2)`` with ``d1`` the first rate's distance to its
    lower bound and ``d2`` the second's to its upper bound (and mirrored for ``U``). When
    the terms share speakers, ``rho`` is their linearised correlation and the log-scale
    bias shift is left out (it cancels between two releases of one group); when no
    speaker's figures differ between the terms (a group unchanged between releases) the
    interval is the point. Falls back to ``cluster_t`` when a rate has no interval (no errors).
    """
    shift = not est.overlapping
    if est.overlapping and linearised_variance(est, s)[0] == 0:
        return theta, theta  # no speaker's figures differ between the terms: nothing varies
    (r1, l1, u1), (r2, l2, u2) = (_rate_interval(t, s, confidence, shift) for t in est.terms)
    if None in (l1, u1, l2, u2):
        return _cluster_t(est, s, theta, confidence)
    rho = _correlation(est, s) if est.overlapping else 0.0
    low = theta - np.sqrt(max((r1 - l1) ** 2 + (u2 - r2) ** 2 - 2 * rho * (r1 - l1) * (u2 - r2), 0.0))
    high = theta + np.sqrt(max((u1 - r1) ** 2 + (r2 - l2) ** 2 - 2 * rho * (u1 - r1) * (r2 - l2), 0.0))
    return float(low), float(high)


def _correlation(est: Estimand, s: Sample) -> float:
    """Linearised (stratified CR1) correlation of the two terms' rates."""
    za, zb = (influences(Estimand("rate", (t,)), s) for t in est.terms[:2])
    vab, va, vb = (float(stratified_cov(x, y, s).sum()) for x, y in ((za, zb), (za, za), (zb, zb)))
    return vab / np.sqrt(va * vb) if va > 0 and vb > 0 else 0.0


INTERVALS = {
    "percentile": _percentile,
    "bca": _bca,
    "studentized": _studentized,
    "cluster_t": _cluster_t,
    "pooled_t": _pooled_t,
}
