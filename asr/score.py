"""Edit counts between reference and hypothesis, through ``jiwer``'s alignment.

CER: texts are normalised (:func:`asr.text.normalize`) and split into tokens with
:func:`asr.text.tokenize` (one per Han character, Latin words whole); WER: split on
spaces. Tokens are joined by spaces and aligned by ``jiwer.process_words``
(unit-cost Levenshtein). A corpus or group figure is pooled: summed edits over
summed reference tokens, never a mean of per-utterance rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from asr.text import normalize, tokenize, words

Unit = Literal["char", "word"]


@dataclass(frozen=True)
class EditCounts:
    """Substitutions, deletions, insertions and reference length (in tokens) of one or more pairs."""

    sub: int = 0
    dele: int = 0
    ins: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def hits(self) -> int:
        return self.ref_len - self.sub - self.dele

    @property
    def error_rate(self) -> float:
        """Pooled error rate (CER or WER) as a fraction; ``inf`` if there are errors but no reference."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.ref_len

    def __add__(self, other: "EditCounts") -> "EditCounts":
        return EditCounts(self.sub + other.sub, self.dele + other.dele, self.ins + other.ins, self.ref_len + other.ref_len)


def units(text: str, unit: Unit = "char", to_simplified: bool = False) -> list[str]:
    """Normalise ``text`` and split it into scoring tokens."""
    text = normalize(text, to_simplified=to_simplified)
    return tokenize(text) if unit == "char" else words(text)


def align_tokens(ref: list[str], hyp: list[str]) -> EditCounts:
    """Edit counts of two token lists (unit-cost alignment by jiwer)."""
    if not ref:
        return EditCounts(ins=len(hyp))
    if not hyp:
        return EditCounts(dele=len(ref), ref_len=len(ref))
    out = _process(ref, hyp)
    return EditCounts(out.substitutions, out.deletions, out.insertions, len(ref))


def alignment(ref: list[str], hyp: list[str]) -> list[tuple[str, str | None, str | None]]:
    """The aligned pairs ``(op, ref_token, hyp_token)`` with op in ``= S D I``."""
    if not ref or not hyp:
        return [("D", r, None) for r in ref] + [("I", None, h) for h in hyp]
    out = _process(ref, hyp)
    pairs: list[tuple[str, str | None, str | None]] = []
    for chunk in out.alignments[0]:
        r = ref[chunk.ref_start_idx : chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            pairs += [("=", a, b) for a, b in zip(r, h)]
        elif chunk.type == "substitute":
            pairs += [("S", a, b) for a, b in zip(r, h)]
        elif chunk.type == "delete":
            pairs += [("D", a, None) for a in r]
        else:
            pairs += [("I", None, b) for b in h]
    return pairs


def score_pair(ref: str, hyp: str, unit: Unit = "char", to_simplified: bool = False) -> EditCounts:
    """Edit counts of one reference/hypothesis pair after normalisation."""
    return align_tokens(units(ref, unit, to_simplified), units(hyp, unit, to_simplified))


def pooled(counts: Iterable[EditCounts]) -> EditCounts:
    """Sum of edit counts: the pooled corpus or group figure."""
    total = EditCounts()
    for c in counts:
        total = total + c
    return total


def _process(ref: list[str], hyp: list[str]):
    import jiwer

    identity = jiwer.ReduceToListOfListOfWords()
    # Tokens never contain spaces (tokenize/words split on them), so joining is lossless.
    return jiwer.process_words(" ".join(ref), " ".join(hyp), reference_transform=identity, hypothesis_transform=identity)
