"""List-valued attributes (``accents``): groups that overlap.

An utterance is in the group of each of its values, an empty or missing list in the missing
group (:func:`asr.audit.results.expanded_labels`). The group rows, the intersections, the
matched and the release comparisons count it in each of its groups (:func:`~asr.audit.bootstrap.make_cells`
expands the rows), so the groups' utterances add up to more than the total, and the overall
figures come from the utterances themselves, each once.

What sets a group against *the rest* cannot use the expanded cells, where a speaker with two
values would sit on both sides. Here each group is compared with its non-members, every
utterance counted once: the permutation test permutes membership over (member?, speaker)
cells, and the gap to the overall CER is the members' pooled CER minus everyone's, with the
correlation of the two handled as for any overlapping pair of rates
(:mod:`asr.audit.intervals`). Ratios and differences between two overlapping groups (the
disparity summary's) treat them as independent strata; speakers in both make those
intervals conservative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asr.audit.bootstrap import DEL, INS, REF, SUB, Cells, cells_from_codes, rate, row_values
from asr.audit.config import AuditConfig
from asr.audit.disparity import eligible_groups, holm_tests, permutation_pvalues
from asr.audit.estimands import Term, difference
from asr.audit.groups import sample_of
from asr.audit.intervals import estimate
from asr.audit.progress import phase
from asr.audit.results import expanded_labels
from asr.audit.schema import Gap, GroupResult, GroupTest

REST = "(not in the group)"


def overlap_note(attribute: str) -> str:
    """What the report says about a list-valued attribute's groups."""
    return (f"{attribute} holds several values per utterance: an utterance counts in the group of each of its "
            "values, so these groups overlap and their utterances add up to more than the total. Each group is "
            "tested against, and its gap measured to, the utterances outside it, every utterance counted once.")


class Membership:
    """Which utterances belong to each group of a list-valued attribute, and their per-speaker sums.

    ``df``: the results table (one row per utterance); ``attribute``: a list-valued column.
    """

    def __init__(self, df: pd.DataFrame, attribute: str):
        labels, rows = expanded_labels(df, [attribute])
        self.attribute = attribute
        self.rows = np.arange(len(df)) if rows is None else rows
        self.codes = np.asarray(labels[0].codes)
        self.names = [str(c) for c in labels[0].categories]
        spk = df["speaker"]
        codes, names = pd.factorize(spk.astype(object) if not isinstance(spk.dtype, pd.CategoricalDtype) else spk)
        self.speaker_codes, self.speaker_names = codes, np.asarray(names, dtype=object)
        self.values = row_values(df)
        self.n = len(df)

    def members(self, value: str) -> np.ndarray:
        """(n,) whether each utterance has ``value``."""
        mask = np.zeros(self.n, dtype=bool)
        if value in self.names:
            mask[self.rows[self.codes == self.names.index(value)]] = True
        return mask

    def cells(self, value: str) -> Cells:
        """Cells of two groups: 0 the members of ``value``, 1 everyone else (absent when nobody is)."""
        outside = (~self.members(value)).astype(np.int64)
        return cells_from_codes((self.attribute,), outside, lambda k: (value,) if k == 0 else (REST,),
                                self.speaker_codes, self.speaker_names, self.values)

    def overall_cer(self) -> float:
        total = self.values.sum(axis=0)
        return float(rate(total[SUB] + total[DEL] + total[INS], total[REF]))


def membership_tests(membership: Membership, rows: tuple[GroupResult, ...], config: AuditConfig) -> tuple[GroupTest, ...]:
    """Each eligible group's members against its non-members: permutation p-values, Holm-corrected."""
    eligible = eligible_groups(rows)
    if len(eligible) < 2:
        return ()
    cer, rest, p = np.full(len(rows), np.nan), np.full(len(rows), np.nan), np.ones(len(rows))
    with phase("permutation tests", config.permutations * len(eligible), "permutation"):
        for g in eligible:
            cells = membership.cells(rows[g].values[0])
            if cells.n_groups < 2:  # every utterance is a member: nothing to compare with
                cer[g] = rows[g].cer
                continue
            (group_cer, rest_cer), pvalues = permutation_pvalues(cells, config.permutations, config.seed)
            cer[g], rest[g], p[g] = group_cer[0], rest_cer[0], pvalues[0]
    return holm_tests(rows, eligible, cer, rest, p, 1 - config.confidence)


def membership_gaps(membership: Membership, rows: tuple[GroupResult, ...], config: AuditConfig) -> tuple[Gap, ...]:
    """Each eligible group's pooled CER minus the overall CER (every utterance once), with its interval."""
    overall = membership.overall_cer()
    gaps = []
    for g in eligible_groups(rows):
        cells = membership.cells(rows[g].values[0])
        if cells.n_groups < 2:  # the group is everyone
            gaps.append(Gap(rows[g].group, 0.0, 0.0, 0.0))
            continue
        sample = sample_of(cells, config)
        _, low, high = estimate(difference(Term((0,)), Term((0, 1))), sample, config.interval_method, config.confidence)
        gaps.append(Gap(rows[g].group, rows[g].cer - overall, low, high))
    return tuple(gaps)
