"""Typed audit results (frozen dataclasses) and ``fairness.json``, their faithful serialization.

:func:`asr.audit.pipeline.audit` returns an :class:`AuditResult`; the report renders
it and :func:`to_json` writes it. ``fairness.json`` (schema ``asr-fairness/2``), top level::

    schema, release, created, asr_version, inputs {results, model, baseline, manifests, decoding, compare},
    config (AuditConfig, resolved), metric ("CER"/"WER"), unit, normalization,
    overall {utterances, speakers, ref_len, errors, sub, del, ins, cer, cer_low, cer_high,
             sub_rate, del_rate, ins_rate},
    headline {attribute, estimable, text, worst_group, best_group, reference_group, compared_group,
              worst_cer, best_cer, ratio, difference, distinguishable},
    attributes {attr: {missing, groups [group], disparity, tests [test], adjusted, matched, multivalued}},
    intersections [{attributes [a, b], cells [group], flagged}],
    within_speaker (the paired within-speaker comparison, or null),
    systems (several systems side by side, or null),
    explanations (asr.audit.explain.explain of the headline attribute, or null),
    baseline (comparison, or null),
    gates [{gate, attribute, metric, op, threshold, value, failed, message}],
    model_card {model, intended_use, training_data, evaluation_data, normalization, provenance, caveats},
    provenance {audit, decode, model}, warnings [...], timings {step: seconds}

where an *estimate* is ``{value, low, high}`` (bounds of the configured confidence, by
``config.interval_method``) and

- group: ``{<attribute>: <value> for each attribute of the grouping, group (the values
  joined by " × "), utterances, speakers, ref_len, errors, sub, del, ins, cer, cer_low,
  cer_high, sub_rate, del_rate, ins_rate, flag (why not compared, or null), eligible}``;
- disparity: ``{estimable, reason, eligible_groups, gaps_to_overall [{group, gap, low, high}],
  worst_group, best_group, reference_group, reference_source ("configured" or "most
  reference tokens"), compared_group (the highest-CER group other than the reference),
  worst_cer, best_cer, reference_cer, ratio (compared / reference), difference (compared -
  reference), ratio_note, worst_differs, best_differs, distinguishable}`` (``*_differs``:
  that group differs from the rest after Holm's correction);
- test: ``{group, cer, rest_cer, difference, p_value, p_holm, significant}``;
- adjusted: ``{estimable, reason, reference, model, cov_struct, utterances, speakers, sampled,
  confounders, rows [{group, unadjusted, adjusted, note}], notes, converged}``, a ratio
  ``{ratio, low, high, p_value}``;
- matched: ``{available, reason, texts, utterances, groups [group], disparity}``;
- ``multivalued``: the attribute holds a list per utterance (``accents``): an utterance is in
  the group of each of its values (an empty list: the missing group), so the groups overlap;
  its tests and gaps compare a group's members with everyone else, and ``adjusted`` is not
  estimable (:mod:`asr.audit.multivalued`);
- within_speaker: ``{paired_by, contrast, levels [a, b], estimable, reason, units,
  paired_units (those with utterances in both levels: only they count), utterances, overall
  (contrast group "everyone"), attributes {attr: [contrast group]}, skipped {attr: why}}``, a
  contrast group ``{group, speakers, utterances_a, utterances_b, ref_len_a, ref_len_b, cer_a,
  cer_b, difference (a - b), ratio (a / b), eligible, flag}`` (CERs, difference and ratio are
  estimates; :mod:`asr.audit.paired`);
- systems: ``{systems [{name, results, system, engine, utterances, normalization}] (the audited
  release first), shared_utterances, only_current, overall, attributes {attr: [systems group]},
  notes}``, a systems group ``{group, speakers, utterances, eligible, figures [{system, cer,
  difference (to the audited release, paired; null for itself)}]}`` (:mod:`asr.audit.systems`);
- comparison: ``{release, results, matched_utterances, only_current, only_baseline,
  attributes {attr: {groups [{group, speakers, utterances, baseline_cer, cer, difference, low,
  high, p_improvement, eligible}], overall_cer, estimable, reason, reference_group, worst_group,
  baseline_worst_group, best_group, baseline_best_group, compared_group,
  baseline_compared_group, worst_group_cer, best_group_cer, ratio}}}``, a change
  ``{value, baseline, delta, low, high, p_worse}``.

Schema 2 (from 1): ratios and differences are to a fixed reference group
(``reference_group``), not to the best group; intervals by ``interval_method``;
``compared_group``, ``worst_differs``, ``best_differs``, ``distinguishable`` added. Later
in schema 2, added without changing a field: ``multivalued``, ``within_speaker``,
``systems``, ``inputs.compare``, and for another recognizer a ``model_card.model`` that
describes the system as its results do (``system``, ``engine``, its options; for hypotheses
scored by ``asr score --manifest``: ``hypotheses``, ``hyp_format``, ``missing_hypotheses``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

SCHEMA = "asr-fairness/2"


def frozen_map(mapping: Mapping | None) -> Mapping:
    """A read-only mapping for a frozen result."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Estimate:
    """A figure and its interval; ``None`` where not estimable."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Figures:
    """Counts and pooled rates of a set of utterances (``dele``: deletions, ``"del"`` in JSON)."""

    utterances: int
    speakers: int
    ref_len: int
    errors: int
    sub: int
    dele: int
    ins: int
    cer: float | None
    cer_low: float | None
    cer_high: float | None
    sub_rate: float | None
    del_rate: float | None
    ins_rate: float | None


@dataclass(frozen=True)
class GroupResult(Figures):
    """One group (or intersection cell): its attribute values, figures and eligibility."""

    keys: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    group: str = ""
    flag: str | None = None
    eligible: bool = True

    def value_of(self, attribute: str) -> str:
        """This group's value of ``attribute``."""
        return self.values[self.keys.index(attribute)]


@dataclass(frozen=True)
class Gap:
    group: str
    gap: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class GroupTest:
    """A group against the rest: speaker-permutation p-value and its Holm correction."""

    group: str
    cer: float | None
    rest_cer: float
    difference: float
    p_value: float
    p_holm: float
    significant: bool


@dataclass(frozen=True)
class Disparity:
    """Worst, best and reference groups and the compared group's ratio and difference to the reference."""

    estimable: bool
    eligible_groups: tuple[str, ...] = ()
    gaps_to_overall: tuple[Gap, ...] = ()
    reason: str | None = None
    worst_group: str | None = None
    best_group: str | None = None
    reference_group: str | None = None
    reference_source: str | None = None
    compared_group: str | None = None
    worst_cer: Estimate | None = None
    best_cer: Estimate | None = None
    reference_cer: Estimate | None = None
    ratio: Estimate | None = None
    difference: Estimate | None = None
    ratio_note: str | None = None
    worst_differs: bool = False
    best_differs: bool = False
    distinguishable: bool = False


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float
    low: float | None
    high: float | None
    p_value: float | None


@dataclass(frozen=True)
class AdjustedRow:
    group: str
    unadjusted: RatioEstimate | None
    adjusted: RatioEstimate | None
    note: str | None = None


@dataclass(frozen=True)
class Adjusted:
    """Error-rate ratios to the reference group from the count model, before and after adjustment."""

    estimable: bool
    reference: str | None
    model: str
    cov_struct: str
    reason: str | None = None
    utterances: int | None = None
    speakers: int | None = None
    sampled: bool = False
    confounders: tuple[str, ...] = ()
    rows: tuple[AdjustedRow, ...] = ()
    notes: tuple[str, ...] = ()
    converged: bool | None = None


@dataclass(frozen=True)
class Matched:
    """Groups on the sentences read in every group."""

    available: bool
    reason: str | None = None
    texts: int | None = None
    utterances: int | None = None
    groups: tuple[GroupResult, ...] = ()
    disparity: Disparity | None = None


@dataclass(frozen=True)
class AttributeResult:
    """One attribute's audit. ``multivalued``: a list-valued attribute (``accents``), whose groups
    overlap (an utterance counts in each of its values' groups; see :mod:`asr.audit.multivalued`)."""

    missing: int
    groups: tuple[GroupResult, ...]
    disparity: Disparity
    tests: tuple[GroupTest, ...]
    adjusted: Adjusted
    matched: Matched
    multivalued: bool = False


@dataclass(frozen=True)
class Intersection:
    attributes: tuple[str, str]
    cells: tuple[GroupResult, ...]
    flagged: int


@dataclass(frozen=True)
class Change:
    """A figure in this release and the baseline, the paired change's interval, P(worse)."""

    value: float | None
    baseline: float | None
    delta: float | None
    low: float | None
    high: float | None
    p_worse: float | None


@dataclass(frozen=True)
class PairedGroup:
    group: str
    speakers: int
    utterances: int
    baseline_cer: float | None
    cer: float | None
    difference: float | None
    low: float | None
    high: float | None
    p_improvement: float | None
    eligible: bool


@dataclass(frozen=True)
class ComparedAttribute:
    groups: tuple[PairedGroup, ...]
    overall_cer: Change
    estimable: bool
    reason: str | None = None
    reference_group: str | None = None
    worst_group: str | None = None
    baseline_worst_group: str | None = None
    best_group: str | None = None
    baseline_best_group: str | None = None
    compared_group: str | None = None
    baseline_compared_group: str | None = None
    worst_group_cer: Change | None = None
    best_group_cer: Change | None = None
    ratio: Change | None = None


@dataclass(frozen=True)
class Comparison:
    release: str
    results: str
    matched_utterances: int
    only_current: int
    only_baseline: int
    attributes: Mapping[str, ComparedAttribute]


@dataclass(frozen=True)
class ContrastGroup:
    """One group's within-speaker contrast: CER in each level over the speakers read in both.

    ``difference`` is ``cer_a - cer_b`` and ``ratio`` ``cer_a / cer_b`` (levels ``a``, ``b`` of
    :class:`WithinSpeaker`), paired within speakers.
    """

    group: str
    speakers: int
    utterances_a: int
    utterances_b: int
    ref_len_a: int
    ref_len_b: int
    cer_a: Estimate
    cer_b: Estimate
    difference: Estimate
    ratio: Estimate
    eligible: bool
    flag: str | None = None


@dataclass(frozen=True)
class WithinSpeaker:
    """The paired within-speaker comparison of two levels of ``contrast`` (:mod:`asr.audit.paired`)."""

    paired_by: str
    contrast: str
    levels: tuple[str, str]
    estimable: bool
    reason: str | None = None
    units: int = 0
    paired_units: int = 0
    utterances: int = 0
    overall: ContrastGroup | None = None
    attributes: Mapping[str, tuple[ContrastGroup, ...]] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    skipped: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SystemInfo:
    """One recognizer in a comparison of several: its name and what its results say of it."""

    name: str
    results: str
    system: str | None
    engine: str | None
    utterances: int
    normalization: str | None


@dataclass(frozen=True)
class SystemFigure:
    """One system's CER in one group and its paired difference to the audited release (None for itself)."""

    system: str
    cer: Estimate
    difference: Estimate | None


@dataclass(frozen=True)
class SystemsGroup:
    group: str
    speakers: int
    utterances: int
    eligible: bool
    figures: tuple[SystemFigure, ...]


@dataclass(frozen=True)
class Systems:
    """Several recognizers on the same utterances, side by side (:mod:`asr.audit.systems`); the first
    is the audited release."""

    systems: tuple[SystemInfo, ...]
    shared_utterances: int
    only_current: int
    overall: SystemsGroup
    attributes: Mapping[str, tuple[SystemsGroup, ...]]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Headline:
    attribute: str
    estimable: bool
    text: str
    worst_group: str | None = None
    best_group: str | None = None
    reference_group: str | None = None
    compared_group: str | None = None
    worst_cer: Estimate | None = None
    best_cer: Estimate | None = None
    ratio: Estimate | None = None
    difference: Estimate | None = None
    distinguishable: bool = False


@dataclass(frozen=True)
class GateResult:
    gate: str
    attribute: str
    metric: str
    op: str
    threshold: float
    value: float | None
    failed: bool
    message: str


@dataclass(frozen=True)
class AuditResult:
    """Everything ``asr audit`` found; ``explanations``, ``model_card`` and ``provenance`` are the
    JSON documents of :mod:`asr.audit.explain`, :mod:`asr.audit.card` and :mod:`asr.provenance`."""

    release: str
    created: str
    asr_version: str
    inputs: Mapping[str, Any]
    config: Any
    metric: str
    unit: str
    normalization: str
    overall: Figures
    headline: Headline
    attributes: Mapping[str, AttributeResult]
    intersections: tuple[Intersection, ...]
    explanations: Mapping[str, Any] | None
    baseline: Comparison | None
    model_card: Mapping[str, Any]
    provenance: Mapping[str, Any] | None
    warnings: tuple[str, ...] = ()
    gates: tuple[GateResult, ...] = ()
    within_speaker: WithinSpeaker | None = None
    systems: Systems | None = None
    timings: Mapping[str, float] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    schema: str = SCHEMA


#: JSON names of fields whose Python names differ.
_JSON_NAMES = {"dele": "del"}
#: Key order of the top level of ``fairness.json``.
_TOP = ("schema", "release", "created", "asr_version", "inputs", "config", "metric", "unit", "normalization",
        "overall", "headline", "attributes", "intersections", "within_speaker", "systems", "explanations", "baseline",
        "gates", "provenance", "warnings", "model_card", "timings")


def to_json(obj: Any) -> Any:
    """Plain JSON values (dicts, lists, str, int, float, bool, None) of a result, recursively.

    A :class:`GroupResult` leads with its attribute values (``{"dialect": "wu", ...}``);
    non-finite floats become ``None``.
    """
    if isinstance(obj, AuditResult):
        return {name: to_json(getattr(obj, name)) for name in _TOP}
    if isinstance(obj, GroupResult):
        head = dict(zip(obj.keys, obj.values))
        body = {_JSON_NAMES.get(f.name, f.name): to_json(getattr(obj, f.name))
                for f in dataclasses.fields(obj) if f.name not in ("keys", "values")}
        return {**head, **body}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {_JSON_NAMES.get(f.name, f.name): to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj
