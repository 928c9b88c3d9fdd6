"""The results row: the one artifact between recognition and the audit.

``asr decode`` (for ``asr`` models and for the external engines) and ``asr score --manifest``
(for another system's hypotheses) write it; ``asr audit`` reads it
(:mod:`asr.audit.results`). A results file ``results-<stem>.jsonl`` holds one JSON object per
utterance, in manifest order::

    {"id", "ref", "hyp", "sub", "del", "ins", "ref_len", "unit", "confidence",
     "speaker", "duration", <metadata: dialect, accent, gender, age_band, region, condition,
     snr_db, ...>, <the manifest's extras, flat: text_id, ...>}

``ref`` is the manifest's text and ``hyp`` the recognizer's, both as written (not normalised);
``sub``, ``del``, ``ins`` and ``ref_len`` count tokens of ``unit`` (``char``: every Han
character and every Latin word is a token; ``word``: whitespace-separated words) after the
normalisation named in the ``.meta.json`` beside the file (:mod:`asr.text`); ``confidence``
is in [0, 1], or null when the recognizer gives none. Every field after ``confidence`` is
metadata the audit may group by, except :data:`NON_ATTRIBUTES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from pathlib import Path
from typing import Any, Mapping

from asr.score import EditCounts, pooled

#: The fields every results row starts with, in this order; metadata fields follow.
RESULT_FIELDS = ("id", "ref", "hyp", "sub", "del", "ins", "ref_len", "unit", "confidence")
#: The edit counts, as named in a results row.
COUNT_FIELDS = ("sub", "del", "ins", "ref_len")
#: Fields that are never grouping attributes (identifiers, texts, counts, numbers, audio location).
NON_ATTRIBUTES = frozenset(
    {"id", "ref", "hyp", "text", "unit", "normalization", "confidence", "speaker", "duration", "audio",
     "start", "sample_rate", "snr_db", "text_id", *COUNT_FIELDS}
)
UNITS = ("char", "word")


@dataclass(frozen=True)
class ResultRow:
    """One scored utterance (see the module docstring).

    ``counts``: edits in ``unit`` tokens; ``confidence``: [0, 1] or None; ``metadata``: the
    manifest's speaker, duration, metadata fields and extras, flat (never a core field).
    """

    id: str
    ref: str
    hyp: str
    counts: EditCounts
    unit: str = "char"
    confidence: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        clash = set(self.metadata) & set(RESULT_FIELDS)
        if clash:
            raise ValueError(f"metadata may not redefine the core field(s) {sorted(clash)}")

    def to_json(self) -> dict[str, Any]:
        """The row as written to a results file: core fields in :data:`RESULT_FIELDS` order, then metadata."""
        c = self.counts
        row = {
            "id": self.id, "ref": self.ref, "hyp": self.hyp, "sub": c.sub, "del": c.dele, "ins": c.ins,
            "ref_len": c.ref_len, "unit": self.unit,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
        }
        row.update(self.metadata)
        return row


def row_counts(row: Mapping[str, Any]) -> EditCounts:
    """The edit counts of a results row read back as a dict."""
    return EditCounts(row["sub"], row["del"], row["ins"], row["ref_len"])


def summary(rows: list[dict], stem: str, path: Path | None = None, by: str = "dialect") -> str:
    """A short human summary: overall CER and CER per ``by`` group."""
    total = pooled(row_counts(r) for r in rows)
    lines = [
        f"{stem}: {len(rows)} utterances, CER {100 * total.error_rate:.2f}% "
        f"(sub {total.sub}, del {total.dele}, ins {total.ins}, ref {total.ref_len})"
        + (f" -> {path}" if path else "")
    ]
    groups: dict[str, list[EditCounts]] = {}
    for r in rows:
        groups.setdefault(str(r.get(by) or "(missing)"), []).append(row_counts(r))
    if len(groups) > 1 or by in (rows[0] if rows else {}):
        for name, counts in sorted(groups.items()):
            g = pooled(counts)
            lines.append(f"  {by}={name}: CER {100 * g.error_rate:.2f}% ({len(counts)} utterances)")
    return "\n".join(lines)
