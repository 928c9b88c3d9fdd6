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

from asr.audit.bootstrap import make_cells
from asr.audit.config import AuditConfig
from asr.audit.disparity import choose_reference, summarize
from asr.audit.groups import group_rows, sample_of
from asr.audit.results import MISSING, expanded_labels
from asr.audit.schema import Matched

TEXT_ID = "text_id"


def matched_comparison(df: pd.DataFrame, by: str, config: AuditConfig,
                       reference: tuple[str | None, str | None] = (None, None)) -> Matched:
    """Per-group rows and the disparity summary on the shared sentences, or ``available`` False and why.

    ``reference``: the attribute's reference group and its source (default:
    :func:`~asr.audit.disparity.choose_reference` on the shared sentences).
    """
    if TEXT_ID not in df.columns or df[TEXT_ID].isna().all():
        return Matched(False, "no text_id in the results (no parallel texts)")
    if by == TEXT_ID:
        return Matched(False, "grouped by text_id itself")
    [cat], rows = expanded_labels(df, [by])  # a list-valued attribute: one row per (utterance, value)
    labels = np.asarray(cat)
    text = df[TEXT_ID].astype(object).to_numpy()
    if rows is not None:
        text = text[rows]
    has_text = pd.notna(text) & (labels != MISSING)
    pairs = pd.DataFrame({"g": labels[has_text], "t": text[has_text]}).drop_duplicates()
    groups = sorted(pairs["g"].unique())
    if len(groups) < 2:
        return Matched(False, "parallel texts are read in fewer than two groups")
    per_text = pairs.groupby("t")["g"].nunique()
    common = set(per_text.index[per_text == len(groups)])
    if not common:
        return Matched(False, f"no sentence is read in all {len(groups)} groups")
    keep = has_text & np.isin(text, list(common))
    subset = df.iloc[np.unique(rows[keep]) if rows is not None else np.flatnonzero(keep)]
    cells = make_cells(subset, [by])
    sample = sample_of(cells, config)
    rows = group_rows(cells, sample, config)
    tokens = {r.group: r.ref_len for r in rows}
    if reference[0] is None:
        reference = choose_reference(by, tokens, config, {r.group for r in rows if r.eligible})
    elif reference[0] not in tokens:  # the reference group reads none of the shared sentences
        reference = (None, None)
    disparity = summarize(cells, rows, sample, config, reference)
    return Matched(True, texts=len(common), utterances=len(subset), groups=rows, disparity=disparity)
