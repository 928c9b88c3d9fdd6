"""Per-group figures through fairlearn's ``MetricFrame``, with intervals over speakers.

``MetricFrame`` is given one row per (group, speaker) cell: ``y_true`` the cell's
summed edits, ``y_pred`` its summed reference length, and the metric is their
pooled ratio, so summing utterances into cells first changes nothing but the speed
(a million utterances are some tens of thousands of cells). Groups whose value is
missing, with fewer than ``min_speakers`` speakers or without reference tokens are
flagged and not *eligible* for the disparity summary. Intervals come from
:mod:`asr.audit.intervals` by ``AuditConfig.interval_method``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from asr.audit.bootstrap import DEL, INS, REF, SUB, UTT, Cells, rate
from asr.audit.config import AuditConfig
from asr.audit.estimands import Sample, make_sample, overall_rate, rate_of
from asr.audit.intervals import BOOTSTRAP_METHODS, estimate
from asr.audit.results import MISSING
from asr.audit.schema import Figures, GroupResult


def sample_of(cells: Cells, config: AuditConfig, values: np.ndarray | None = None, replicates: bool = False) -> Sample:
    """The :class:`~asr.audit.intervals.Sample` of ``cells`` (default values: summed edits, reference).

    Bootstrap replicates are drawn (``config.replicates``, ``config.seed``) when the
    interval method needs them or ``replicates`` asks for them.
    """
    values = cells.errors_and_ref() if values is None else values
    method = config.interval_method
    draws = config.replicates if (replicates or method in BOOTSTRAP_METHODS) else 0
    return make_sample(cells.group, cells.n_groups, values, draws, config.seed, moments=method == "studentized")


def pooled_rate(y_true, y_pred) -> float:
    """A group's pooled error rate: summed edits over summed reference length."""
    return float(rate(np.sum(y_true), np.sum(y_pred)))


def metric_frame(cells: Cells) -> MetricFrame:
    """A ``MetricFrame`` of the pooled error rate over the cells (``y_true`` edits, ``y_pred`` reference length).

    Only the error rate goes through fairlearn: its per-group evaluation stacks every
    input row in Python, which is slow for tens of thousands of cells, and the
    counts are plain sums (:meth:`Cells.group_sums`).
    """
    edits, ref = cells.errors_and_ref().T
    features = pd.DataFrame({k: [cells.labels[g][i] for g in cells.group] for i, k in enumerate(cells.keys)})
    return MetricFrame(metrics={"cer": pooled_rate}, y_true=edits, y_pred=ref, sensitive_features=features)


def group_rows(cells: Cells, sample: Sample, config: AuditConfig) -> tuple[GroupResult, ...]:
    """One :class:`GroupResult` per group: counts, pooled CER and S/D/I rates, the CER interval, eligibility."""
    cer = metric_frame(cells).by_group["cer"]
    sums = cells.group_sums()
    speakers = cells.speakers_per_group()
    rows = []
    for g, label in enumerate(cells.labels):
        s = sums[g]
        _, low, high = estimate(rate_of(g), sample, config.interval_method, config.confidence)
        flag = _flag(label, int(speakers[g]), s[REF], config.min_speakers)
        rows.append(GroupResult(
            **_counts(s, int(speakers[g])),
            cer=_finite(cer.loc[label if len(label) > 1 else label[0]]), cer_low=low, cer_high=high,
            keys=tuple(cells.keys), values=tuple(label), group=cells.label_text(g), flag=flag, eligible=flag is None,
        ))
    return tuple(rows)


def overall_row(cells: Cells, sample: Sample, config: AuditConfig) -> Figures:
    """The whole set pooled; its interval treats the groups as strata."""
    total = cells.values.sum(axis=0)
    value, low, high = estimate(overall_rate(cells.n_groups), sample, config.interval_method, config.confidence)
    errors = total[SUB] + total[DEL] + total[INS]
    return Figures(**_counts(total, int(len(np.unique(cells.speaker)))), cer=_finite(rate(errors, total[REF])),
                   cer_low=low, cer_high=high)


def _counts(s: np.ndarray, speakers: int) -> dict:
    """Counts and S/D/I rates of summed values ``s`` (:data:`~asr.audit.bootstrap.VALUE_COLUMNS`)."""
    return {
        "utterances": int(s[UTT]), "speakers": speakers, "ref_len": int(s[REF]),
        "errors": int(s[SUB] + s[DEL] + s[INS]), "sub": int(s[SUB]), "dele": int(s[DEL]), "ins": int(s[INS]),
        "sub_rate": _finite(rate(s[SUB], s[REF])), "del_rate": _finite(rate(s[DEL], s[REF])),
        "ins_rate": _finite(rate(s[INS], s[REF])),
    }


def _flag(label: tuple[str, ...], speakers: int, ref_len: float, min_speakers: int) -> str | None:
    """Why a group is kept out of the disparity summary, or ``None``."""
    if MISSING in label:
        return "attribute value missing: shown, not compared"
    if speakers < min_speakers:
        return f"{speakers} speaker{'s' if speakers != 1 else ''} < {min_speakers}: not in the disparity summary"
    if ref_len == 0:
        return "no reference tokens"
    return None


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
