"""Audit options (``conf/audit.yaml``), one frozen dataclass, unknown keys rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class AuditConfig:
    """What ``asr audit`` computes and how.

    by: attributes to group by, in report order (the first is the headline attribute);
        empty: every metadata field present in the results.
    intersections: also report every pair of ``by`` attributes.
    min_speakers: groups (and intersection cells) with fewer speakers are flagged and
        kept out of the disparity summary.
    replicates: speaker-bootstrap replicates (bootstrap interval methods, and the release
        comparison's probabilities of improvement).
    permutations: speaker permutations for each group-versus-rest test.
    confidence: the level of every interval.
    interval_method: how intervals are computed (:mod:`asr.audit.intervals`): ``pooled_t``
        (default: log-scale t interval with the larger of the group's own cluster-robust
        variance and a pooled speaker-dispersion model's; MOVER for differences),
        ``cluster_t``, ``studentized``, ``bca`` or ``percentile`` (the speaker bootstrap's
        percentile interval, the only method before schema 2). Their coverage:
        ``benchmarks/bench_coverage.py``.
    seed: seed of every random draw; the same seed gives the same report.
    reference_groups: per attribute, the reference group of every error-rate ratio and
        difference (the disparity summary, the count model, the release comparison);
        default: the eligible group with the most reference tokens, named in the output.
    confounders: fields the adjusted model controls for when present in the results
        (``duration`` enters as its logarithm; ``snr_db`` with a missing-value indicator).
    cov_struct: working correlation of the GEE (``independence`` keeps the pooled-rate
        estimand; standard errors are clustered by speaker either way).
    adjusted_max_utterances: above this many utterances the count models are fitted on a
        seeded random sample of whole speakers (stated in the report).
    explain_top_k: confusions and worst utterances listed per group.
    explain_max_aligned: errorful utterances re-aligned per group for the confusion
        counts (a reproducible sample above it).
    fail_if: release gates (see :mod:`asr.audit.gates`).
    paired_by: with ``contrast``, the within-speaker comparison (:mod:`asr.audit.paired`): the unit
        recorded in both levels of the contrast and resampled for its intervals (``speaker``).
    contrast: the attribute whose two levels are compared within each ``paired_by`` unit
        (KeSpeech: ``reading_style``, dialect against Mandarin reading).
    contrast_levels: the two levels, ``[a, b]``: differences are ``a - b`` and ratios ``a / b``;
        empty: the contrast's two values in sorted order (more than two are an error).
    """

    by: list[str] = field(default_factory=list)
    intersections: bool = True
    min_speakers: int = 5
    replicates: int = 1000
    permutations: int = 1000
    confidence: float = 0.95
    interval_method: Literal["pooled_t", "cluster_t", "studentized", "bca", "percentile"] = "pooled_t"
    seed: int = 0
    reference_groups: dict[str, str] = field(default_factory=dict)
    confounders: list[str] = field(default_factory=lambda: ["duration", "condition", "snr_db"])
    cov_struct: Literal["independence", "exchangeable"] = "independence"
    adjusted_max_utterances: int = 100_000
    explain_top_k: int = 10
    explain_max_aligned: int = 1000
    fail_if: list[str] = field(default_factory=list)
    paired_by: str | None = None
    contrast: str | None = None
    contrast_levels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.paired_by is None) != (self.contrast is None):
            raise ValueError("paired_by and contrast go together (e.g. paired_by: speaker, contrast: reading_style)")
        if self.contrast_levels and (len(self.contrast_levels) != 2 or len(set(self.contrast_levels)) != 2):
            raise ValueError(f"contrast_levels must name two different levels, got {self.contrast_levels}")
        if self.contrast_levels and self.contrast is None:
            raise ValueError("contrast_levels needs contrast (and paired_by)")
        if self.min_speakers < 1:
            raise ValueError(f"min_speakers must be >= 1, got {self.min_speakers}")
        if self.replicates < 10:
            raise ValueError(f"replicates must be >= 10, got {self.replicates}")
        if self.permutations < 10:
            raise ValueError(f"permutations must be >= 10, got {self.permutations}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")
        if self.adjusted_max_utterances < 100:
            raise ValueError(f"adjusted_max_utterances must be >= 100, got {self.adjusted_max_utterances}")
