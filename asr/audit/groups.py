"""Per-group figures through fairlearn's ``MetricFrame``, with speaker-bootstrap intervals.

``MetricFrame`` is given one row per (group, speaker) cell: ``y_true`` the cell's
summed edits, ``y_pred`` its summed reference length, and the metric is their
pooled ratio, so summing utterances into cells first changes nothing but the speed
(a million utterances are some tens of thousands of cells). Groups whose value is
missing, with fewer than ``min_speakers`` speakers or without reference tokens are
flagged and not *eligible* for the disparity summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asr.audit.bootstrap import DEL, INS, REF, SUB, UTT, Cells, error_rates, interval, rate
from asr.audit.results import MISSING


def pooled_rate(y_true, y_pred) -> float:
    """A group's pooled error rate: summed edits over summed reference length."""
    return float(rate(np.sum(y_true), np.sum(y_pred)))


def metric_frame(cells: Cells):
    """A ``MetricFrame`` of the pooled error rate over the cells (``y_true`` edits, ``y_pred`` reference length).

    Only the error rate goes through fairlearn: its per-group evaluation stacks every
    input row in Python, which is slow for tens of thousands of cells, and the
    counts are plain sums (:meth:`Cells.group_sums`).
    """
    from fairlearn.metrics import MetricFrame

    edits, ref = cells.errors_and_ref().T
    features = pd.DataFrame({k: [cells.labels[g][i] for g in cells.group] for i, k in enumerate(cells.keys)})
    return MetricFrame(metrics={"cer": pooled_rate}, y_true=edits, y_pred=ref, sensitive_features=features)


def group_rows(cells: Cells, replicates: np.ndarray, min_speakers: int, confidence: float) -> list[dict]:
    """One row per group: counts, pooled CER and S/D/I rates, the CER interval, eligibility.

    ``replicates``: (R, G, 5) from :func:`asr.audit.bootstrap.bootstrap`.
    """
    cer = metric_frame(cells).by_group["cer"]
    sums = cells.group_sums()
    speakers = cells.speakers_per_group()
    boot = error_rates(replicates)
    rows = []
    for g, label in enumerate(cells.labels):
        s = sums[g]
        low, high = interval(boot[:, g], confidence)
        row = {
            **dict(zip(cells.keys, label)),
            "group": cells.label_text(g),
            "utterances": int(s[UTT]),
            "speakers": int(speakers[g]),
            "ref_len": int(s[REF]),
            "errors": int(s[SUB] + s[DEL] + s[INS]),
            "sub": int(s[SUB]),
            "del": int(s[DEL]),
            "ins": int(s[INS]),
            "cer": _finite(cer.loc[label if len(label) > 1 else label[0]]),
            "cer_low": low,
            "cer_high": high,
            "sub_rate": _finite(rate(s[SUB], s[REF])),
            "del_rate": _finite(rate(s[DEL], s[REF])),
            "ins_rate": _finite(rate(s[INS], s[REF])),
        }
        row["flag"] = _flag(label, int(speakers[g]), s[REF], min_speakers)
        row["eligible"] = row["flag"] is None
        rows.append(row)
    return rows


def _flag(label: tuple[str, ...], speakers: int, ref_len: float, min_speakers: int) -> str | None:
    """Why a group is kept out of the disparity summary, or ``None``."""
    if MISSING in label:
        return "attribute value missing: shown, not compared"
    if speakers < min_speakers:
        return f"{speakers} speaker{'s' if speakers != 1 else ''} < {min_speakers}: not in the disparity summary"
    if ref_len == 0:
        return "no reference tokens"
    return None


def overall_row(cells: Cells, replicates: np.ndarray, confidence: float) -> dict:
    """The whole set pooled; its interval resamples speakers within every group (stratified)."""
    total = cells.values.sum(axis=0)
    low, high = interval(error_rates(replicates.sum(axis=1)), confidence)
    errors = total[SUB] + total[DEL] + total[INS]
    return {
        "utterances": int(total[UTT]),
        "speakers": int(len(np.unique(cells.speaker))),
        "ref_len": int(total[REF]),
        "errors": int(errors),
        "sub": int(total[SUB]),
        "del": int(total[DEL]),
        "ins": int(total[INS]),
        "cer": _finite(rate(errors, total[REF])),
        "cer_low": low,
        "cer_high": high,
        "sub_rate": _finite(rate(total[SUB], total[REF])),
        "del_rate": _finite(rate(total[DEL], total[REF])),
        "ins_rate": _finite(rate(total[INS], total[REF])),
    }


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
