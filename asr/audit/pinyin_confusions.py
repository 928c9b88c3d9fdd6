"""Pinyin initial, final and tone confusions of substituted Han characters.

An accent's systematic errors show up as sound confusions rather than character
confusions: a Wu speaker's 知 (zhi1) heard as 资 (zi1) is the initial confusion
``zh -> z``; 您 (nin2) heard as 林 (lin2) is ``n -> l``; 英 (ying1) heard as 银 (yin2)
is the final confusion ``ing -> in`` and the tone confusion ``1 -> 2``.

Syllables are read by :func:`asr.phonetic.syllables` (``pypinyin``, polyphonic characters
read in context) and split into initial, final and tone (:func:`asr.phonetic.split_syllable`).
Only the components that differ between the reference and the hypothesis character
are counted, so one substitution can add an initial, a final and a tone confusion,
and a homophone substitution (same syllable and tone) adds none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from asr.phonetic import is_single_han, syllables

COMPONENTS = ("initial", "final", "tone")


@dataclass
class PinyinTally:
    """Running counts of one group's pinyin confusions."""

    initial: Counter = field(default_factory=Counter)
    final: Counter = field(default_factory=Counter)
    tone: Counter = field(default_factory=Counter)
    han_substitutions: int = 0  # substitutions of a Han character by a Han character, both with a reading
    homophones: int = 0  # ... of which the syllable and tone are identical

    def add_pairs(self, ref_tokens: list[str], hyp_tokens: list[str], pairs: list[tuple[str, int, int]]) -> None:
        """Count the substituted pairs ``("S", ref_index, hyp_index)`` of one alignment."""
        subs = [(i, j) for op, i, j in pairs if op == "S" and is_single_han(ref_tokens[i]) and is_single_han(hyp_tokens[j])]
        if not subs:
            return
        ref_syl = syllables(ref_tokens, [i for i, _ in subs])
        hyp_syl = syllables(hyp_tokens, [j for _, j in subs])
        for i, j in subs:
            r, h = ref_syl[i], hyp_syl[j]
            if r is None or h is None:
                continue
            self.han_substitutions += 1
            if r == h:
                self.homophones += 1
            for name, a, b in zip(COMPONENTS, r, h):
                if a != b:
                    getattr(self, name)[(a, b)] += 1

    def to_json(self, top_k: int, ref_chars: float) -> dict:
        """Top ``top_k`` confusions per component and their rates per 100 reference tokens.

        ``ref_chars`` is the (possibly scaled) number of reference tokens the counts
        stand for; rates are ``None`` when it is zero.
        """
        out: dict = {}
        for name in COMPONENTS:
            counter: Counter = getattr(self, name)
            out[name] = [{"ref": a, "hyp": b, "count": int(n)} for (a, b), n in top_items(counter, top_k)]
        out["rate_per_100_ref_chars"] = {
            name: (round(100.0 * sum(getattr(self, name).values()) / ref_chars, 4) if ref_chars > 0 else None)
            for name in COMPONENTS
        }
        out["han_substitutions"] = self.han_substitutions
        out["homophones"] = self.homophones
        return out


def top_items(counter: Counter, k: int) -> list:
    """The ``k`` most frequent items, ties broken by the items themselves (deterministic)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
