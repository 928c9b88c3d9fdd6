"""Pinyin units: the targets of the intermediate CTC loss (``intermediate_ctc.units: pinyin``).

A character vocabulary is sparse: in the embedded corpus each of ~720 characters is
seen about 50 times, and half of them share their syllable with another character, so
a CTC model trained on characters alone spends its first epochs learning nothing but
character frequencies. Pinyin units are dense (about 200 of them, each seen hundreds
of times) and purely acoustic, so an auxiliary CTC loss on them, computed from an
intermediate encoder layer, teaches the lower layers the sounds quickly while the upper
layers learn to map sounds in context to characters (hierarchical CTC, as in
Sanabria and Metze 2018, and Lee and Watanabe's intermediate CTC 2021).

Each Han character gives its initial (``zh``, ``x``, the glides ``y`` and ``w``; none for
a zero-initial syllable) and its final with the tone digit (``ang1``, ``i3``, ``e5``),
read with :func:`asr.audit.pinyin_confusions.syllables` (``pypinyin``, polyphonic
characters read in context). A Latin word (``gps``) is one unit, itself; a Han
character without a reading is ``<unk>``.

The units are Mandarin readings whatever the speaker's dialect: for a Cantonese
recording they describe what a Mandarin speaker would say, not what was said. They
only shape the lower layers during training; the model still outputs characters.

>>> pinyin_units("导航到 GPS")
['d', 'ao3', 'h', 'ang2', 'd', 'ao4', 'gps']
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from asr.models.tokens import SPECIALS, UNK, Vocabulary
from asr.text import normalize, tokenize

UNITS = ("pinyin",)


def pinyin_units(text: str) -> list[str]:
    """Normalise and tokenise ``text``, then spell each token in pinyin units (see the module docstring)."""
    from asr.audit.pinyin_confusions import ZERO_INITIAL, is_single_han, syllables

    tokens = tokenize(normalize(text))
    units: list[str] = []
    for token, syllable in zip(tokens, syllables(tokens)):
        if syllable is None:
            units.append(UNK if is_single_han(token) else token)
            continue
        initial, final, tone = syllable
        if initial != ZERO_INITIAL:
            units.append(initial)
        units.append(final + tone)
    return units


def build_unit_vocabulary(texts: Iterable[str], min_count: int = 1) -> Vocabulary:
    """A :class:`~asr.models.tokens.Vocabulary` of the pinyin units of ``texts`` (``<blank>``, ``<unk>`` first)."""
    counts = Counter(unit for text in texts for unit in pinyin_units(text))
    kept = sorted(unit for unit, n in counts.items() if n >= min_count and unit not in SPECIALS)
    return Vocabulary([*SPECIALS, *kept])


def encode_units(vocabulary: Vocabulary, text: str) -> list[int]:
    """The unit ids of ``text`` (units outside ``vocabulary`` become ``<unk>``)."""
    return [vocabulary.token_id(unit) for unit in pinyin_units(text)]
