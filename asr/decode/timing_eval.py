"""How well recognised character times match ground truth (the manifests' ``char_times``).

For each utterance the reference characters and the recognised tokens are aligned
with the scorer's minimum-edit alignment (:func:`asr.score.alignment`, tokens
compared exactly as given: pass texts in one normalisation). Every correctly
recognised character (an ``=`` pair) contributes two signed errors in seconds,
predicted minus reference: one for its start and one for its end. Substituted,
deleted and inserted characters have no counterpart: they are counted, not timed.
A recognised token of several characters (a Latin word) is one token with one span.

:func:`summarize` pools the timed characters of all utterances and reports, for
starts and ends separately, the mean and the 95th percentile (numpy's linear
interpolation) of the absolute errors, and the mean signed error (bias: positive
means late). :data:`TARGET_MEAN` and :data:`TARGET_P95` are the issue's targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from asr.errors import AsrError
from asr.manifest.records import Utterance
from asr.score import alignment

Seconds = float
#: A recognised token with its start and end in seconds.
TimedToken = tuple[str, Seconds, Seconds]

TARGET_MEAN: Seconds = 0.060
TARGET_P95: Seconds = 0.150
PERCENTILE = 95


@dataclass(frozen=True)
class CharacterTimeErrors:
    """One utterance: signed ``start`` and ``end`` errors (seconds, float64 ``(timed,)``) of its
    correctly recognised characters, out of ``reference_chars`` reference characters."""

    start: np.ndarray
    end: np.ndarray
    reference_chars: int


@dataclass(frozen=True)
class TimingSummary:
    """Pooled timing errors in seconds (``None`` when no character could be timed)."""

    utterances: int
    reference_chars: int
    timed_chars: int
    start_mean: Seconds | None
    start_p95: Seconds | None
    start_bias: Seconds | None
    end_mean: Seconds | None
    end_p95: Seconds | None
    end_bias: Seconds | None

    @property
    def meets_target(self) -> bool:
        """Mean at most :data:`TARGET_MEAN` and 95th percentile at most :data:`TARGET_P95`, starts and ends."""
        values = (self.start_mean, self.end_mean, self.start_p95, self.end_p95)
        if any(v is None for v in values):
            return False
        return max(self.start_mean, self.end_mean) <= TARGET_MEAN and max(self.start_p95, self.end_p95) <= TARGET_P95

    def to_json(self) -> dict:
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} | {"meets_target": self.meets_target}


def character_time_errors(
    reference: str,
    reference_times: Sequence[tuple[Seconds, Seconds]],
    hypothesis: Sequence[TimedToken],
    offset: Seconds = 0.0,
) -> CharacterTimeErrors:
    """Start and end errors of the correctly recognised characters of one utterance.

    ``reference_times`` has one ``(start, end)`` per character of ``reference``;
    ``offset`` is added to them (e.g. the seconds of silence put before the utterance
    when the recogniser heard it padded).
    """
    if len(reference_times) != len(reference):
        raise AsrError(f"{len(reference_times)} reference times for the {len(reference)} characters of {reference!r}")
    starts, ends = [], []
    ref_index = hyp_index = 0
    for op, _, _ in alignment(list(reference), [token for token, _, _ in hypothesis]):
        if op == "=":
            ref_start, ref_end = reference_times[ref_index]
            _, hyp_start, hyp_end = hypothesis[hyp_index]
            starts.append(hyp_start - (ref_start + offset))
            ends.append(hyp_end - (ref_end + offset))
        ref_index += op in "=SD"
        hyp_index += op in "=SI"
    return CharacterTimeErrors(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64), len(reference))


def manifest_time_errors(
    utterances: Iterable[Utterance], hypotheses: Mapping[str, Sequence[TimedToken]], offset: Seconds = 0.0
) -> list[CharacterTimeErrors]:
    """:func:`character_time_errors` of every utterance against ``hypotheses[utterance id]``."""
    errors = []
    for utt in utterances:
        if utt.char_times is None:
            raise AsrError(f"utterance {utt.id}: no char_times in the manifest (ground-truth character times; "
                           "the synthetic corpus records them)")
        if utt.id not in hypotheses:
            raise AsrError(f"utterance {utt.id}: no recognised tokens to compare with")
        errors.append(character_time_errors(utt.text, utt.char_times, hypotheses[utt.id], offset))
    return errors


def summarize(errors: Iterable[CharacterTimeErrors]) -> TimingSummary:
    """Pool utterances' errors into means, 95th percentiles and biases (see the module docstring)."""
    errors = list(errors)
    start = np.concatenate([e.start for e in errors]) if errors else np.zeros(0)
    end = np.concatenate([e.end for e in errors]) if errors else np.zeros(0)
    return TimingSummary(
        utterances=len(errors),
        reference_chars=sum(e.reference_chars for e in errors),
        timed_chars=len(start),
        start_mean=_mean(np.abs(start)),
        start_p95=_p95(np.abs(start)),
        start_bias=_mean(start),
        end_mean=_mean(np.abs(end)),
        end_p95=_p95(np.abs(end)),
        end_bias=_mean(end),
    )


def _mean(values: np.ndarray) -> Seconds | None:
    return float(values.mean()) if len(values) else None


def _p95(values: np.ndarray) -> Seconds | None:
    return float(np.percentile(values, PERCENTILE)) if len(values) else None
