"""Matched comparison: CER per group on the same sentences.

Where the test set has parallel texts (a ``text_id`` column, from the manifest's
``extra["text_id"]``), a group difference could still come from harder sentences.
Restricting every group to the ``text_id`` values read in *every* group (the
missing-value group left out) removes that explanation: what remains is the
speakers' and the recognizer's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asr.audit.bootstrap import bootstrap, make_cells
from asr.audit.config import AuditConfig
from asr.audit.disparity import summarize
from asr.audit.groups import group_rows
from asr.audit.results import MISSING, group_labels

TEXT_ID = "text_id"


def matched_comparison(df: pd.DataFrame, by: str, config: AuditConfig) -> dict:
    """Per-group rows and the disparity summary on the shared sentences, or ``available: False`` and why."""
    if TEXT_ID not in df.columns or df[TEXT_ID].isna().all():
        return {"available": False, "reason": "no text_id in the results (no parallel texts)"}
    if by == TEXT_ID:
        return {"available": False, "reason": "grouped by text_id itself"}
    labels = np.asarray(group_labels(df, by))
    text = df[TEXT_ID].astype(object).to_numpy()
    has_text = pd.notna(text) & (labels != MISSING)
    pairs = pd.DataFrame({"g": labels[has_text], "t": text[has_text]}).drop_duplicates()
    groups = sorted(pairs["g"].unique())
    if len(groups) < 2:
        return {"available": False, "reason": "parallel texts are read in fewer than two groups"}
    per_text = pairs.groupby("t")["g"].nunique()
    common = set(per_text.index[per_text == len(groups)])
    if not common:
        return {"available": False, "reason": f"no sentence is read in all {len(groups)} groups"}
    subset = df.loc[has_text & np.isin(text, list(common))]
    cells = make_cells(subset, [by])
    replicates = bootstrap(cells, config.replicates, config.seed)
    rows = group_rows(cells, replicates, config.min_speakers, config.confidence)
    return {
        "available": True,
        "texts": len(common),
        "utterances": len(subset),
        "groups": rows,
        "disparity": summarize(cells, rows, replicates, config.confidence),
    }
