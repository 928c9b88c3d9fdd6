"""Interval methods for pooled error rates and their contrasts, speakers as clusters.

Every figure the audit gives an interval is a smooth function of *pooled rates*: a
group's CER is ``E_g / N_g`` (its speakers' summed edits over their summed reference
length), a gap is a difference of two rates, a ratio their quotient, a paired release
difference one group's rate in two releases minus each other. A :class:`Term` names
one pooled rate (which groups, which value columns), an :class:`Estimand` one function
of terms. Speakers are the sampling units: the (group, speaker) cells of a
:class:`Sample` are resampled or linearised, never utterances; groups are strata.

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
    correlation when the terms share speakers (paired releases, a gap to overall).

Shapes: ``C`` cells, ``G`` groups, ``K`` value columns, ``B`` replicates, ``m`` terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from asr.audit.bootstrap import members, resample_sums

METHODS = ("percentile", "bca", "studentized", "cluster_t", "pooled_t")
#: The method the audit uses unless configured otherwise.
DEFAULT_METHOD = "pooled_t"
#: Methods that need bootstrap replicates (``studentized`` also their moments).
BOOTSTRAP_METHODS = ("percentile", "bca", "studentized")


@dataclass(frozen=True)
class Term:
    """One pooled rate: column ``edits`` summed over the cells of ``groups``, over column ``ref`` summed likewise."""

    groups: tuple[int, ...]
    edits: int = 0
    ref: int = 1


@dataclass(frozen=True)
class Estimand:
    """A function of pooled rates: ``rate`` (t0), ``difference`` (t0 - t1), ``ratio`` (t0 / t1) or
    ``ratio_change`` (t0 / t1 - t2 / t3, a paired change of a ratio between two releases)."""

    kind: str
    terms: tuple[Term, ...]

    @property
    def positive(self) -> bool:
        """Whether the quantity is on a positive scale (intervals on its logarithm)."""
        return self.kind in ("rate", "ratio")

    @property
    def overlapping(self) -> bool:
        """Whether the first two terms share cells (correlated: paired releases, a gap to overall)."""
        return len(self.terms) > 1 and bool(set(self.terms[0].groups) & set(self.terms[1].groups))

    def value(self, r: np.ndarray) -> np.ndarray:
        """θ from term rates ``r`` (..., m)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _FORMS[self.kind][0](r)

    def gradient(self, r: np.ndarray) -> np.ndarray:
        """∂θ/∂r (..., m)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _FORMS[self.kind][1](r)


def _stack(*parts) -> np.ndarray:
    return np.stack(np.broadcast_arrays(*parts), axis=-1)


_FORMS: dict[str, tuple[Callable, Callable]] = {
    "rate": (lambda r: r[..., 0], lambda r: np.ones_like(r)),
    "difference": (lambda r: r[..., 0] - r[..., 1], lambda r: _stack(1.0 + 0 * r[..., 0], -1.0)),
    "ratio": (lambda r: r[..., 0] / r[..., 1], lambda r: _stack(1 / r[..., 1], -r[..., 0] / r[..., 1] ** 2)),
    "ratio_change": (
        lambda r: r[..., 0] / r[..., 1] - r[..., 2] / r[..., 3],
        lambda r: _stack(1 / r[..., 1], -r[..., 0] / r[..., 1] ** 2, -1 / r[..., 3], r[..., 2] / r[..., 3] ** 2),
    ),
}


def rate_of(group: int, edits: int = 0, ref: int = 1) -> Estimand:
    return Estimand("rate", (Term((group,), edits, ref),))


def overall_rate(n_groups: int, edits: int = 0, ref: int = 1) -> Estimand:
    return Estimand("rate", (Term(tuple(range(n_groups)), edits, ref),))


def difference(a: Term, b: Term) -> Estimand:
    return Estimand("difference", (a, b))


def ratio(a: Term, b: Term) -> Estimand:
    return Estimand("ratio", (a, b))


def ratio_change(new_a: Term, new_b: Term, old_a: Term, old_b: Term) -> Estimand:
    return Estimand("ratio_change", (new_a, new_b, old_a, old_b))


@dataclass(frozen=True)
class Sample:
    """The cells of one grouping and what every method needs, computed once.

    group: (C,) group of each cell. values: (C, K) per-cell sums. sums: (G, K).
    speakers: (G,) cells per group. replicates: (B, G, K) bootstrap sums or None.
    moments: (B, G, K, K) bootstrap sums of ``x x^T`` over the drawn cells (for
    ``studentized``) or None.
    """

    group: np.ndarray
    values: np.ndarray
    sums: np.ndarray
    speakers: np.ndarray
    replicates: np.ndarray | None = None
    moments: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_groups(self) -> int:
        return len(self.speakers)


def make_sample(group: np.ndarray, n_groups: int, values: np.ndarray, replicates: int = 0, seed: int = 0,
                moments: bool = False) -> Sample:
    """A :class:`Sample` of cells ``values`` (C, K) in groups ``group`` (C,).

    ``replicates`` > 0 draws that many speaker-bootstrap replicates (:func:`resample_sums`,
    seeded); ``moments`` also resamples the products :func:`product_columns` with the same draws.
    """
    values = np.asarray(values, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    k = values.shape[1]
    sums = np.column_stack([np.bincount(group, weights=values[:, j], minlength=n_groups) for j in range(k)])
    speakers = np.bincount(group, minlength=n_groups)
    reps = mom = None
    if replicates:
        drawn = np.column_stack([values, product_columns(values)]) if moments else values
        boot = resample_sums(group, n_groups, drawn, replicates, seed)
        reps = boot[..., :k]
        mom = moments_from_products(boot[..., k:], k) if moments else None
    return Sample(group, values, sums, speakers, reps, mom)


def product_columns(values: np.ndarray) -> np.ndarray:
    """(C, K(K+1)/2): ``x_j x_l`` for ``j <= l``, whose bootstrap sums are :attr:`Sample.moments`."""
    k = values.shape[1]
    return np.column_stack([values[:, j] * values[:, l] for j in range(k) for l in range(j, k)])


def moments_from_products(sums: np.ndarray, k: int) -> np.ndarray:
    """(..., K, K) symmetric matrices from (..., K(K+1)/2) sums of :func:`product_columns`."""
    out = np.empty(sums.shape[:-1] + (k, k))
    c = 0
    for j in range(k):
        for l in range(j, k):
            out[..., j, l] = out[..., l, j] = sums[..., c]
            c += 1
    return out


def estimate(est: Estimand, s: Sample, method: str, confidence: float) -> tuple[float | None, float | None, float | None]:
    """``(value, low, high)`` of ``est`` by ``method``; ``None`` where not estimable."""
    theta = float(est.value(_rates(est.terms, s.sums)))
    if not np.isfinite(theta):
        return None, None, None
    low, high = INTERVALS[method](est, s, theta, confidence)
    return theta, _finite(low), _finite(high)


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


# ----------------------------------------------------------------------------- linearisation


def _rates(terms: tuple[Term, ...], sums: np.ndarray) -> np.ndarray:
    """Rates (..., m) of the terms from group sums (..., G, K)."""
    out = []
    for term in terms:
        idx = list(term.groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(sums[..., idx, term.edits].sum(axis=-1) / sums[..., idx, term.ref].sum(axis=-1))
    return np.stack(out, axis=-1)


def influence_coefficients(est: Estimand, sums: np.ndarray) -> np.ndarray:
    """(..., G, K): ``a_g`` such that a cell ``x`` of group ``g`` has linearised influence ``a_g · x``.

    A cell of term ``j`` (rate ``R_j``, summed reference ``N_j``) contributes ``(e - R_j n) / N_j``;
    θ's influence weights those by the gradient.
    """
    rates = _rates(est.terms, sums)
    grad = est.gradient(rates)
    a = np.zeros(sums.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, term in enumerate(est.terms):
            w = grad[..., j] / sums[..., list(term.groups), term.ref].sum(axis=-1)
            for g in term.groups:
                a[..., g, term.edits] += w
                a[..., g, term.ref] -= w * rates[..., j]
    return a


def _influences(est: Estimand, s: Sample) -> np.ndarray:
    """(C,) each cell's linearised influence on θ."""
    return np.einsum("ck,ck->c", s.values, influence_coefficients(est, s.sums)[s.group])


def _involved(est: Estimand, s: Sample) -> np.ndarray:
    out = np.zeros(s.n_groups, dtype=bool)
    for term in est.terms:
        out[list(term.groups)] = True
    return out


def _stratified_cov(z1: np.ndarray, z2: np.ndarray, s: Sample) -> np.ndarray:
    """(G,) per group ``k/(k-1) sum_i (z1_i - mean)(z2_i - mean)`` (0 for one-speaker groups)."""
    k = s.speakers.astype(float)
    m1 = np.bincount(s.group, weights=z1, minlength=s.n_groups) / np.maximum(k, 1)
    m2 = np.bincount(s.group, weights=z2, minlength=s.n_groups) / np.maximum(k, 1)
    cross = np.bincount(s.group, weights=(z1 - m1[s.group]) * (z2 - m2[s.group]), minlength=s.n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 1, k / (k - 1) * cross, 0.0)


def linearised_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """θ's CR1 cluster-robust variance and Welch-Satterthwaite degrees of freedom.

    ``v_g`` per group as :func:`_stratified_cov`; variance ``sum v_g``; df ``(sum v_g)^2 /
    sum v_g^2 / (k_g - 1)``. ``(nan, 0)`` when a group the estimand uses has one speaker.
    """
    k = s.speakers
    if np.any(_involved(est, s) & (k < 2)):
        return float("nan"), 0.0
    z = _influences(est, s)
    v = _stratified_cov(z, z, s)
    var = float(v.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        den = float(np.where(k > 1, v**2 / (k - 1), 0.0).sum())
    return var, (var**2 / den if den > 0 else float("inf"))


# ----------------------------------------------------------------------------- the pooled model


def dispersion(s: Sample, edits: int = 0, ref: int = 1) -> tuple[float, float]:
    """Pooled speaker dispersion ``alpha`` (``Var e_i = mu_i + alpha mu_i^2``) and its degrees of freedom.

    Each group with two or more speakers and some errors gives an unbiased moment
    estimate given its rate (leverages ``h_i = n_i / N`` of the fitted rate removed):
    ``sum r_i^2 = A_g + alpha B_g``. They are averaged with inverse-variance weights
    ``B_g^2 / (2 sum V_i^2)`` (two passes from the df-weighted mean), which count a
    group by its speakers when speaker variance dominates and discount a group whose
    residuals are mostly Poisson noise (a nearly error-free one). df: ``sum (k_g - 1)``.
    """
    key = ("dispersion", edits, ref)
    if key in s._cache:
        return s._cache[key]
    estimates, weights, mus, bs = [], [], [], []
    for idx in members(s.group, s.n_groups):
        e, n = s.values[idx, edits], s.values[idx, ref]
        if len(idx) < 2 or n.sum() <= 0 or e.sum() <= 0:
            continue
        mu, h = e.sum() / n.sum() * n, n / n.sum()
        sh = (h**2).sum()
        a = (mu * (1 - 2 * h)).sum() + sh * mu.sum()
        b = (mu**2 * (1 - 2 * h)).sum() + sh * (mu**2).sum()
        estimates.append((((e - mu) ** 2).sum() - a) / b)
        weights.append(len(idx) - 1.0)
        mus.append(mu)
        bs.append(b)
    if not estimates:
        s._cache[key] = (0.0, 0.0)
        return s._cache[key]
    est, df = np.array(estimates), float(sum(weights))
    alpha = max(float(np.average(est, weights=weights)), 0.0)
    for _ in range(2):
        w = np.array([b**2 / (2 * ((mu + alpha * mu**2) ** 2).sum()) for mu, b in zip(mus, bs)])
        alpha = max(float(np.average(est, weights=w)), 0.0)
    s._cache[key] = (alpha, df)
    return alpha, df


def pooled_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """θ's variance under the pooled-dispersion model (given the reference lengths) and its df.

    Only for estimands of one release (one pair of columns); otherwise ``(nan, 0)``.
    """
    columns = {(t.edits, t.ref) for t in est.terms}
    if len(columns) != 1:
        return float("nan"), 0.0
    ((edits, ref),) = columns
    alpha, df = dispersion(s, edits, ref)
    if df <= 0:
        return float("nan"), 0.0
    a = influence_coefficients(est, s.sums)[s.group, edits]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (s.sums[:, edits] / s.sums[:, ref])[s.group] * s.values[:, ref]
    v = np.where(_involved(est, s)[s.group], a**2 * (mu + alpha * mu**2), 0.0)
    return float(np.nansum(v)), df


def _larger_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """The larger of the pooled-model and the own CR1 variance, with the df of the one taken."""
    pooled, own = pooled_variance(est, s), linearised_variance(est, s)
    candidates = [c for c in (pooled, own) if np.isfinite(c[0]) and c[1] > 0]
    return max(candidates, key=lambda c: c[0]) if candidates else (float("nan"), 0.0)


# ----------------------------------------------------------------------------- methods


def _quantile_pair(samples: np.ndarray, probs) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    if finite.size < max(2, samples.size // 2):
        return None, None
    low, high = np.quantile(finite, probs)
    return float(low), float(high)


def replicate_values(est: Estimand, s: Sample) -> np.ndarray:
    """(B,) θ in every bootstrap replicate."""
    if s.replicates is None:
        raise ValueError("this interval method needs bootstrap replicates (make_sample(replicates=...))")
    return est.value(_rates(est.terms, s.replicates))


def _percentile(est: Estimand, s: Sample, theta: float, confidence: float):
    return _quantile_pair(replicate_values(est, s), [(1 - confidence) / 2, (1 + confidence) / 2])


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
    lo_q, hi_q = _quantile_pair(tstat, [(1 - confidence) / 2, (1 + confidence) / 2])
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
    var, df = _larger_variance(est, s)
    return _t_interval(theta, var, df, confidence, True, shift=_log_bias(est, s))


def _log_bias(est: Estimand, s: Sample) -> float:
    """How far ``log θ̂`` falls below ``log θ`` to second order: ``sum ± Var(log R_j) / 2``."""
    shift = 0.0
    for sign, term in zip((1, -1), est.terms):
        single = Estimand("rate", (term,))
        r = float(single.value(_rates((term,), s.sums)))
        var, _ = _larger_variance(single, s)
        if r > 0 and np.isfinite(var):
            shift += sign * var / r**2 / 2
    return shift


def _rate_interval(term: Term, s: Sample, confidence: float, shift: bool):
    single = Estimand("rate", (term,))
    r = float(single.value(_rates((term,), s.sums)))
    var, df = _larger_variance(single, s)
    low, high = _t_interval(r, var, df, confidence, True, shift=_log_bias(single, s) if shift else 0.0)
    return r, low, high


def _mover(est: Estimand, s: Sample, theta: float, confidence: float):
    """MOVER: a difference of two rates from the two rates' ``pooled_t`` intervals.

    ``L = θ - sqrt(d1^2 + d2^2 - 2 rho d1 d2)`` with ``d1`` the first rate's distance to its
    lower bound and ``d2`` the second's to its upper bound (and mirrored for ``U``). When
    the terms share speakers, ``rho`` is their linearised correlation and the log-scale
    bias shift is left out (it cancels between two releases of one group). Falls back to
    ``cluster_t`` when a rate has no interval (no errors).
    """
    shift = not est.overlapping
    (r1, l1, u1), (r2, l2, u2) = (_rate_interval(t, s, confidence, shift) for t in est.terms)
    if None in (l1, u1, l2, u2):
        return _cluster_t(est, s, theta, confidence)
    rho = _correlation(est, s) if est.overlapping else 0.0
    low = theta - np.sqrt(max((r1 - l1) ** 2 + (u2 - r2) ** 2 - 2 * rho * (r1 - l1) * (u2 - r2), 0.0))
    high = theta + np.sqrt(max((u1 - r1) ** 2 + (r2 - l2) ** 2 - 2 * rho * (u1 - r1) * (r2 - l2), 0.0))
    return float(low), float(high)


def _correlation(est: Estimand, s: Sample) -> float:
    """Linearised (stratified CR1) correlation of the two terms' rates."""
    za, zb = (_influences(Estimand("rate", (t,)), s) for t in est.terms[:2])
    vab, va, vb = (float(_stratified_cov(x, y, s).sum()) for x, y in ((za, zb), (za, za), (zb, zb)))
    return vab / np.sqrt(va * vb) if va > 0 and vb > 0 else 0.0


INTERVALS = {
    "percentile": _percentile,
    "bca": _bca,
    "studentized": _studentized,
    "cluster_t": _cluster_t,
    "pooled_t": _pooled_t,
}
