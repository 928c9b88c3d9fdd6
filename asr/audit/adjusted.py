"""Adjusted disparity: a count model of errors per utterance.

For attribute ``by``, errors of utterance ``i`` are modelled as Poisson with mean
``ref_len_i * exp(x_i' beta)`` (log reference length as offset), fitted by GEE
(``statsmodels``) with speakers as clusters, so standard errors are robust
(sandwich) and clustered by speaker; overdispersion does not bias them. ``x_i``
holds the group (the reference group of :func:`asr.audit.disparity.choose_reference`
dropped) and, for the adjusted model, the
confounders present: ``log(duration)``, the recording condition, SNR (missing SNR,
e.g. clean audio, gets an indicator). ``exp(beta_group)`` is the group's error-rate
ratio to the reference group; the unadjusted model (group only) reproduces the
ratio of pooled CERs.

Degenerate cases are reported, not fitted: one group, no errors at all, a group
without errors (its ratio would be zero with an infinite log), a confounder that
is constant or collinear with the groups (left out, with a note). Above
``adjusted_max_utterances`` the models are fitted on a seeded random sample of whole
speakers; the sample size is reported.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm

from asr.audit.config import AuditConfig
from asr.audit.disparity import choose_reference
from asr.audit.results import group_labels
from asr.audit.schema import Adjusted, AdjustedRow, RatioEstimate

MODEL = "GEE Poisson, log(ref_len) offset, speaker clusters"


def adjusted_disparity(df: pd.DataFrame, by: str, config: AuditConfig, reference: str | None = None) -> Adjusted:
    """Each group's error-rate ratio to the reference group, before and after adjustment, with intervals.

    ``reference``: the reference group (default: :func:`~asr.audit.disparity.choose_reference`
    among the groups with errors).
    """
    labels = group_labels(df, by)
    errors = (df["sub"] + df["del"] + df["ins"]).to_numpy(np.float64)
    ref_len = df["ref_len"].to_numpy(np.float64)
    keep = ref_len > 0
    group_errors = pd.Series(errors[keep]).groupby(np.asarray(labels)[keep], observed=True).sum()
    group_ref = pd.Series(ref_len[keep]).groupby(np.asarray(labels)[keep], observed=True).sum()
    if reference is None:
        with_errors = {str(g) for g, e in group_errors.items() if e > 0}
        reference, _ = choose_reference(by, group_ref.to_dict(), config, with_errors)
    elif group_errors.get(reference, 0) == 0:
        reference = None
    out = {"reference": reference, "cov_struct": config.cov_struct, "model": MODEL}
    no_errors = sorted(str(g) for g, e in group_errors.items() if e == 0)
    fitted = [g for g in group_ref.index if g not in no_errors]
    if len(group_ref) < 2:
        return Adjusted(estimable=False, reason=f"one group ({', '.join(map(str, group_ref.index))}); no ratio to estimate", **out)
    if errors[keep].sum() == 0:
        return Adjusted(estimable=False, reason="no errors in the results; every ratio is undefined", **out)
    if reference is None:
        return Adjusted(estimable=False, reason="the reference group has no errors; ratios to it are unbounded", **out)
    rows_in = keep & np.isin(np.asarray(labels), fitted)
    columns = ["speaker"] + [c for c in config.confounders if c in df.columns and c != by]
    data = df.loc[rows_in, columns].copy()
    data["_y"] = errors[rows_in]
    data["_offset"] = np.log(ref_len[rows_in])
    data["_group"] = pd.Categorical(np.asarray(labels)[rows_in], categories=[reference] + sorted(g for g in fitted if g != reference))
    data, sampled = _sample_speakers(data, config.adjusted_max_utterances, config.seed)
    confounders, notes = _confounders(data, by, config.confounders)
    z = float(norm.ppf(0.5 + config.confidence / 2))
    before = _fit(data, [], z, config.cov_struct)
    after = _fit(data, confounders, z, config.cov_struct)
    rows = [AdjustedRow(str(g), before["ratios"].get(g), after["ratios"].get(g)) for g in data["_group"].cat.categories[1:]]
    rows += [AdjustedRow(g, None, None, "no errors: ratio not estimable") for g in no_errors]
    return Adjusted(
        estimable=True, **out, utterances=len(data), speakers=int(data["speaker"].nunique()), sampled=sampled,
        confounders=tuple(c["name"] for c in confounders), rows=tuple(rows),
        notes=tuple(notes + before["notes"] + after["notes"]), converged=before["converged"] and after["converged"],
    )


def _sample_speakers(data: pd.DataFrame, limit: int, seed: int) -> tuple[pd.DataFrame, bool]:
    if len(data) <= limit:
        return data, False
    codes, names = pd.factorize(data["speaker"])
    rng = np.random.default_rng(seed)
    keep_speaker = rng.random(len(names)) < limit / len(data)
    return data.loc[keep_speaker[codes]], True


def _confounders(data: pd.DataFrame, by: str, names: list[str]) -> tuple[list[dict], list[str]]:
    """Design columns for each confounder present: {"name", "columns": DataFrame}."""
    out, notes = [], []
    for name in names:
        if name == by or name not in data.columns:
            continue
        col = data[name]
        if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
            x = col.astype(float)
            if name == "duration":
                x = np.log(x.where(x > 0))
                label = "log(duration)"
            else:
                label = name
            missing = x.isna()
            if missing.all() or x[~missing].nunique() < 2:
                notes.append(f"{name}: constant or missing; not adjusted for")
                continue
            cols = pd.DataFrame({label: x.fillna(x[~missing].mean())}, index=data.index)
            if missing.any():
                cols[f"{name} missing"] = missing.astype(float)
        else:
            levels = group_labels(data, name)
            if len(levels.categories) < 2:
                notes.append(f"{name}: one value; not adjusted for")
                continue
            frame = pd.get_dummies(pd.Series(np.asarray(levels), index=data.index), prefix=name, prefix_sep="=", dtype=float)
            most = frame.sum().idxmax()
            cols = frame.drop(columns=[most])
        out.append({"name": name, "columns": cols})
    return out, notes


def _fit(data: pd.DataFrame, confounders: list[dict], z: float, cov_struct: str) -> dict:
    groups = pd.get_dummies(data["_group"], dtype=float).iloc[:, 1:]
    parts = [pd.DataFrame({"const": np.ones(len(data))}, index=data.index), groups]
    notes = []
    for conf in confounders:
        trial = np.column_stack([p.to_numpy() for p in parts] + [conf["columns"].to_numpy()])
        if np.linalg.matrix_rank(trial.T @ trial) < trial.shape[1]:
            notes.append(f"{conf['name']}: collinear with the groups; not adjusted for")
            continue
        parts.append(conf["columns"])
    design = pd.concat(parts, axis=1)
    X = design.to_numpy(np.float64)
    y = data["_y"].to_numpy()
    offset = data["_offset"].to_numpy()
    start = _newton(X, y, offset)
    structure = sm.cov_struct.Exchangeable() if cov_struct == "exchangeable" else sm.cov_struct.Independence()
    clusters = pd.factorize(data["speaker"])[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sm.GEE(y, X, groups=clusters, family=sm.families.Poisson(), offset=offset, cov_struct=structure).fit(
            start_params=start, maxiter=100
        )
    converged = not any("converge" in str(w.message).lower() for w in caught)
    if not converged:
        notes.append("the GEE did not converge; treat its ratios with caution")
    params, se = np.asarray(result.params), np.asarray(result.bse)
    pvalues = np.asarray(result.pvalues)
    ratios = {}
    for j, name in enumerate(design.columns[1 : 1 + groups.shape[1]], start=1):
        ok = np.isfinite(se[j]) and se[j] > 0
        ratios[name] = RatioEstimate(
            float(np.exp(params[j])),
            float(np.exp(params[j] - z * se[j])) if ok else None,
            float(np.exp(params[j] + z * se[j])) if ok else None,
            float(pvalues[j]) if ok else None,
        )
    return {"ratios": ratios, "converged": converged, "notes": notes, "columns": list(design.columns)}


def _newton(X: np.ndarray, y: np.ndarray, offset: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Poisson maximum likelihood by Newton's method on the normal equations (GEE's starting point)."""
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(y.sum() / np.exp(offset).sum())
    for _ in range(iterations):
        mu = np.exp(np.clip(X @ beta + offset, -50, 50))
        step = np.linalg.lstsq((X * mu[:, None]).T @ X, X.T @ (y - mu), rcond=None)[0]
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta

