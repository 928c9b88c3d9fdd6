"""Paired within-speaker comparison: the same speakers in two levels of one attribute.

KeSpeech records each speaker reading in standard Mandarin and in their own subdialect. A
comparison of the two readings *within speakers* removes speaker effects (voice, microphone,
reading skill) entirely: what remains is the reading's. With ``paired_by: speaker`` and
``contrast: reading_style`` (``contrast_levels: [dialect, mandarin]``), for every group of each
audited attribute (``home_dialect``: the speaker's home subdialect) and for everyone:

- only the speakers with utterances in *both* levels count (how many is reported);
- CER in level ``a`` and in level ``b``, each pooled over those speakers' utterances in it;
- the paired difference ``a - b`` and ratio ``a / b``, with intervals over speakers by the
  configured method (:mod:`asr.audit.intervals`): a speaker's cell holds both levels' sums, so
  the two rates are correlated through the speakers, as for two releases on the same utterances.

An attribute that varies within a speaker (the utterance's own ``dialect``, a recording
``condition``) has no group a speaker belongs to: it is skipped, with the reason. The unit
resampled is ``paired_by`` (a speaker; a coarser unit, such as a recording session shared by
speakers, works the same way). Groups with fewer than ``min_speakers`` paired units are flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asr.audit.bootstrap import DEL, INS, REF, SUB, Cells, make_cells, row_values
from asr.audit.config import AuditConfig
from asr.audit.estimands import Term, difference, rate_of, ratio
from asr.audit.groups import sample_of
from asr.audit.intervals import estimate
from asr.audit.results import MISSING, expanded_labels, group_labels, is_list_attribute
from asr.audit.schema import ContrastGroup, Estimate, WithinSpeaker, frozen_map
from asr.errors import AsrError

#: Cell value columns: edits and reference length in level a, then in level b, then utterances in each.
A, B = (0, 1), (2, 3)
UTT_A, UTT_B = 4, 5


def within_speaker(df: pd.DataFrame, by: list[str], config: AuditConfig) -> WithinSpeaker:
    """The comparison described in the module docstring, for the attributes ``by``."""
    unit, contrast = config.paired_by, config.contrast
    for name, key in ((unit, "paired_by"), (contrast, "contrast")):
        if name not in df.columns:
            raise AsrError(f"audit config: {key} {name!r} is not a field of the results")
    if is_list_attribute(df, contrast):
        raise AsrError(f"audit config: contrast {contrast!r} holds several values per utterance; "
                       "a contrast needs one level per utterance")
    labels = np.asarray(group_labels(df, contrast))
    a, b = _levels(labels, contrast, config.contrast_levels)
    codes, names = pd.factorize(df[unit].astype(object))  # a missing unit (-1) pairs with nothing
    in_a, in_b = (labels == a) & (codes >= 0), (labels == b) & (codes >= 0)
    paired = np.isin(codes, np.intersect1d(codes[in_a], codes[in_b])) & (in_a | in_b)
    base = dict(paired_by=unit, contrast=contrast, levels=(a, b), units=len(names),
                paired_units=int(np.unique(codes[paired]).size), utterances=int(paired.sum()))
    if not paired.any():
        return WithinSpeaker(**base, estimable=False,
                             reason=f"no {unit} has utterances in both {contrast} levels {a} and {b}")
    frame = df.loc[paired].assign(speaker=np.asarray(names, dtype=object)[codes[paired]])
    values = _level_values(frame, in_a[paired], in_b[paired])
    overall = _groups(make_cells(frame, [], values), config, everyone=True)[0]
    attributes, skipped = {}, {}
    for attr in by:
        why = _why_skipped(frame, attr, unit, contrast)
        if why:
            skipped[attr] = why
            continue
        attributes[attr] = _groups(make_cells(frame, [attr], values), config)
    return WithinSpeaker(**base, estimable=True, overall=overall, attributes=frozen_map(attributes),
                         skipped=frozen_map(skipped))


def _levels(labels: np.ndarray, contrast: str, wanted: list[str]) -> tuple[str, str]:
    present = sorted(set(labels) - {MISSING})
    if wanted:
        absent = [w for w in wanted if w not in present]
        if absent:
            raise AsrError(f"audit config: contrast_levels {absent[0]!r} is not a value of {contrast!r} in the results "
                           f"(values: {', '.join(present) or 'none'})")
        return wanted[0], wanted[1]
    if len(present) != 2:
        raise AsrError(f"audit config: contrast {contrast!r} has {len(present)} values ({', '.join(present)}); "
                       "name the two to compare with contrast_levels: [a, b]")
    return present[0], present[1]


def _level_values(frame: pd.DataFrame, in_a: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    """(n, 6) per utterance: edits and reference length in level a (0 outside it), likewise in b, and 0/1 in a, in b."""
    v = row_values(frame)
    edits, ref = v[:, SUB] + v[:, DEL] + v[:, INS], v[:, REF]
    fa, fb = in_a.astype(float), in_b.astype(float)
    return np.column_stack([edits * fa, ref * fa, edits * fb, ref * fb, fa, fb])


def _why_skipped(frame: pd.DataFrame, attr: str, unit: str, contrast: str) -> str | None:
    """Why ``attr`` has no within-speaker groups, or None: it is the contrast or the unit, or varies within a unit."""
    if attr == contrast:
        return "the contrast itself"
    if attr == unit:
        return f"the paired unit ({unit}) itself"
    [labels], rows = expanded_labels(frame, [attr])
    units = frame["speaker"].to_numpy()[rows] if rows is not None else frame["speaker"].to_numpy()
    pairs = pd.DataFrame({"u": units, "v": np.asarray(labels)}).drop_duplicates()
    if is_list_attribute(frame, attr):  # a unit's whole set of values must be the same in every utterance
        sets = frame.groupby("speaker", observed=True)[attr].agg(lambda s: len({tuple(sorted(x or [])) for x in s}))
        varying = sets[sets > 1]
    else:
        counts = pairs.groupby("u").size()
        varying = counts[counts > 1]
    if len(varying):
        example = varying.index[0]
        values = sorted(map(str, pairs.loc[pairs["u"] == example, "v"]))
        return (f"varies within {unit}s ({unit} {example} has {', '.join(values[:3])}); a within-{unit} comparison "
                f"needs one {attr} per {unit}")
    return None


def _groups(cells: Cells, config: AuditConfig, everyone: bool = False) -> tuple[ContrastGroup, ...]:
    """One :class:`ContrastGroup` per group of ``cells`` (values: :func:`_level_values`' columns, summed)."""
    sample = sample_of(cells, config, values=cells.values[:, :4])
    sums = cells.group_sums()
    units = cells.speakers_per_group()
    method, level = config.interval_method, config.confidence
    out = []
    for g in range(cells.n_groups):
        label = "everyone" if everyone else cells.label_text(g)
        a, b = Term((g,), *A), Term((g,), *B)
        flag = _flag(cells.labels[g], int(units[g]), config.min_speakers)
        out.append(ContrastGroup(
            group=label, speakers=int(units[g]), utterances_a=int(sums[g, UTT_A]), utterances_b=int(sums[g, UTT_B]),
            ref_len_a=int(sums[g, A[1]]), ref_len_b=int(sums[g, B[1]]),
            cer_a=Estimate(*estimate(rate_of(g, *A), sample, method, level)),
            cer_b=Estimate(*estimate(rate_of(g, *B), sample, method, level)),
            difference=Estimate(*estimate(difference(a, b), sample, method, level)),
            ratio=Estimate(*estimate(ratio(a, b), sample, method, level)),
            eligible=flag is None, flag=flag,
        ))
    return tuple(out)


def _flag(label: tuple[str, ...], units: int, min_units: int) -> str | None:
    if MISSING in label:
        return "attribute value missing: shown, not compared"
    if units < min_units:
        return f"{units} paired speaker{'s' if units != 1 else ''} < {min_units}: interval weak"
    return None
