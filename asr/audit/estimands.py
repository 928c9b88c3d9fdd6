"""Pooled error rates and functions of them, linearised over speakers: what every interval method uses.

Every figure the audit gives an interval is a smooth function of *pooled rates*: a
group's CER is ``E_g / N_g`` (its speakers' summed edits over their summed reference
length), a gap is a difference of two rates, a ratio their quotient, a paired release
difference one group's rate in two releases minus each other. A :class:`Term` names
one pooled rate (which groups, which value columns), an :class:`Estimand` one function
of terms, a :class:`Sample` the (group, speaker) cells they are computed from. Speakers
are the sampling units; groups are strata.

Two variances of an estimand: :func:`linearised_variance` (delta method, CR1
cluster-robust, from the estimand's own groups) and :func:`pooled_variance` (a
quasi-likelihood model ``Var e_i = mu_i + alpha mu_i^2``, Poisson noise plus a speaker
effect of squared coefficient of variation ``alpha`` whatever its distribution, with
``alpha`` pooled over every group by :func:`dispersion`).

Shapes: ``C`` cells, ``G`` groups, ``K`` value columns, ``B`` replicates, ``m`` terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from asr.audit.bootstrap import members, resample_sums


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


# ----------------------------------------------------------------------------- linearisation


def term_rates(terms: tuple[Term, ...], sums: np.ndarray) -> np.ndarray:
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
    rates = term_rates(est.terms, sums)
    grad = est.gradient(rates)
    a = np.zeros(sums.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, term in enumerate(est.terms):
            w = grad[..., j] / sums[..., list(term.groups), term.ref].sum(axis=-1)
            for g in term.groups:
                a[..., g, term.edits] += w
                a[..., g, term.ref] -= w * rates[..., j]
    return a


def influences(est: Estimand, s: Sample) -> np.ndarray:
    """(C,) each cell's linearised influence on θ."""
    return np.einsum("ck,ck->c", s.values, influence_coefficients(est, s.sums)[s.group])


def involved(est: Estimand, s: Sample) -> np.ndarray:
    out = np.zeros(s.n_groups, dtype=bool)
    for term in est.terms:
        out[list(term.groups)] = True
    return out


def stratified_cov(z1: np.ndarray, z2: np.ndarray, s: Sample) -> np.ndarray:
    """(G,) per group ``k/(k-1) sum_i (z1_i - mean)(z2_i - mean)`` (0 for one-speaker groups)."""
    k = s.speakers.astype(float)
    m1 = np.bincount(s.group, weights=z1, minlength=s.n_groups) / np.maximum(k, 1)
    m2 = np.bincount(s.group, weights=z2, minlength=s.n_groups) / np.maximum(k, 1)
    cross = np.bincount(s.group, weights=(z1 - m1[s.group]) * (z2 - m2[s.group]), minlength=s.n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 1, k / (k - 1) * cross, 0.0)


def linearised_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """θ's CR1 cluster-robust variance and Welch-Satterthwaite degrees of freedom.

    ``v_g`` per group as :func:`stratified_cov`; variance ``sum v_g``; df ``(sum v_g)^2 /
    sum v_g^2 / (k_g - 1)``. ``(nan, 0)`` when a group the estimand uses has one speaker.
    """
    k = s.speakers
    if np.any(involved(est, s) & (k < 2)):
        return float("nan"), 0.0
    z = influences(est, s)
    v = stratified_cov(z, z, s)
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

    Only for estimands of one release (one pair of columns), and for the ratio of one set of
    speakers' rates in two conditions (:func:`paired_poisson_variance`); otherwise ``(nan, 0)``.
    """
    columns = {(t.edits, t.ref) for t in est.terms}
    if len(columns) != 1:
        return paired_poisson_variance(est, s)
    ((edits, ref),) = columns
    alpha, df = dispersion(s, edits, ref)
    if df <= 0:
        return float("nan"), 0.0
    a = influence_coefficients(est, s.sums)[s.group, edits]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (s.sums[:, edits] / s.sums[:, ref])[s.group] * s.values[:, ref]
    v = np.where(involved(est, s)[s.group], a**2 * (mu + alpha * mu**2), 0.0)
    return float(np.nansum(v)), df


def paired_poisson_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """The ratio of the same speakers' rates in two conditions (two column pairs): its variance if each
    speaker's errors were Poisson around their own rate in each condition, and ``sum (k_g - 1)`` as df.

    Speaker effects cancel in such a ratio, so the model has no speaker term; it is the floor of
    the ratio's variance that the few speakers' own (CR1) variance can miss. ``(nan, 0)`` for any
    other estimand.
    """
    a, b = est.terms if len(est.terms) == 2 else (None, None)
    if est.kind != "ratio" or a.groups != b.groups or (a.edits, a.ref) == (b.edits, b.ref):
        return float("nan"), 0.0
    coef = influence_coefficients(est, s.sums)
    inside = involved(est, s)[s.group]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = sum(np.where(inside, coef[s.group, t.edits] ** 2 * (s.sums[:, t.edits] / s.sums[:, t.ref])[s.group]
                           * s.values[:, t.ref], 0.0) for t in est.terms)
    df = float(np.maximum(s.speakers[list(a.groups)] - 1, 0).sum())
    return float(np.nansum(var)), df


def larger_variance(est: Estimand, s: Sample) -> tuple[float, float]:
    """The larger of the pooled-model and the own CR1 variance, with the df of the one taken."""
    pooled, own = pooled_variance(est, s), linearised_variance(est, s)
    candidates = [c for c in (pooled, own) if np.isfinite(c[0]) and c[1] > 0]
    return max(candidates, key=lambda c: c[0]) if candidates else (float("nan"), 0.0)
