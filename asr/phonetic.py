"""Pinyin: syllables of Han characters, and the units of the intermediate CTC loss.

**Syllables.** :func:`syllables` reads each Han character's syllable with ``pypinyin``
(polyphonic characters read in context, so 行 is ``hang2`` in 银行 and ``xing2`` in 行走) and
:func:`split_syllable` splits it into components:

- initial: ``Style.INITIALS`` with ``strict=False``, so ``zh ch sh z c s n l`` and the
  glides ``y w`` appear as spoken; a syllable without initial (儿 er, 啊 a) has
  :data:`ZERO_INITIAL`;
- final: ``Style.FINALS`` with ``strict=True`` (the standard finals: 银 ``in``,
  英 ``ing``, 我 ``uo``, 绿 ``v``);
- tone: the digit of ``Style.TONE3``, ``"5"`` for the neutral tone.

The audit counts confusions of these components (:mod:`asr.audit.pinyin_confusions`).

**Pinyin units** (``intermediate_ctc.units: pinyin``). A character vocabulary is sparse: in
the embedded corpus each of ~720 characters is seen about 50 times, and half of them share
their syllable with another character, so a CTC model trained on characters alone spends its
first epochs learning nothing but character frequencies. Pinyin units are dense (about 200 of
them, each seen hundreds of times) and purely acoustic, so an auxiliary CTC loss on them,
computed from an intermediate encoder layer, teaches the lower layers the sounds quickly while
the upper layers learn to map sounds in context to characters (hierarchical CTC, as in
Sanabria and Metze 2018, and Lee and Watanabe's intermediate CTC 2021).

Each Han character gives its initial (``zh``, ``x``, the glides ``y`` and ``w``; none for
a zero-initial syllable) and its final with the tone digit (``ang1``, ``i3``, ``e5``),
read with :func:`syllables`. A Latin word (``gps``) is one unit, itself; a Han character
without a reading is ``<unk>``.

The units are Mandarin readings whatever the speaker's dialect: for a Cantonese
recording they describe what a Mandarin speaker would say, not what was said. They
only shape the lower layers during training; the model still outputs characters.

>>> pinyin_units("导航到 GPS")
['d', 'ao3', 'h', 'ang2', 'd', 'ao4', 'gps']
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from asr.text import is_han, normalize, tokenize

if TYPE_CHECKING:  # asr.models loads torch; the audit imports this module for syllables only
    from asr.models.tokens import Vocabulary

UNITS = ("pinyin",)


#: The initial shown for a syllable without one (儿 er, 啊 a, 欧 ou).
ZERO_INITIAL = "∅"
#: The tone digit of the neutral tone.
NEUTRAL_TONE = "5"

Syllable = tuple[str, str, str]  # (initial, final, tone digit)


@lru_cache(maxsize=4096)
def split_syllable(marked: str) -> Syllable | None:
    """Initial, final and tone of one tone-marked pinyin syllable (``Style.TONE``).

    >>> split_syllable("zhī"), split_syllable("yíng"), split_syllable("ma")
    (('zh', 'i', '1'), ('y', 'ing', '2'), ('m', 'a', '5'))
    """
    from pypinyin import Style
    from pypinyin.style import convert

    if not marked or not marked.isalpha() or any(is_han(c) for c in marked):
        return None  # no reading: pypinyin returned the character itself
    initial = convert(marked, Style.INITIALS, strict=False) or ZERO_INITIAL
    final = convert(marked, Style.FINALS, strict=True)
    tone3 = convert(marked, Style.TONE3, strict=True)
    tone = tone3[-1] if tone3 and tone3[-1].isdigit() else NEUTRAL_TONE
    if not final:
        return None
    return initial, final, tone


#: Han characters looked at on each side of a polyphonic character to resolve its reading.
CONTEXT = 3
_MAX_PHRASE = 2 * CONTEXT + 1


def syllables(tokens: list[str], positions: list[int] | None = None) -> list[Syllable | None]:
    """The syllable of each token (or only of ``positions``); ``None`` for non-Han tokens.

    Readings come from ``pypinyin``'s dictionaries, as ``lazy_pinyin`` would give them:
    a character's first (most common) reading, unless it is polyphonic and a phrase
    of ``pypinyin``'s phrase dictionary covers it, found by forward maximum matching
    (the rule of ``pypinyin``'s own segmenter) over a window of up to :data:`CONTEXT`
    Han characters on each side within its run of Han tokens. So 行 is ``hang2`` in
    银行 and ``xing2`` in 行走 (this agrees with ``lazy_pinyin`` on whole sentences for
    over 99.9% of characters). Reading only the substituted characters this way is
    several times faster than ``lazy_pinyin`` on whole sentences.
    """
    out: list[Syllable | None] = [None] * len(tokens)
    for p in range(len(tokens)) if positions is None else positions:
        if not is_single_han(tokens[p]):
            continue
        out[p] = _read_char(tokens[p])
        if out[p] is None or not _polyphonic(tokens[p]):
            continue
        lo = p
        while lo > p - CONTEXT and lo > 0 and is_single_han(tokens[lo - 1]):
            lo -= 1
        hi = p + 1
        while hi < p + 1 + CONTEXT and hi < len(tokens) and is_single_han(tokens[hi]):
            hi += 1
        out[p] = _read_in_context("".join(tokens[lo:hi]), p - lo) or out[p]
    return out


@lru_cache(maxsize=65536)
def _readings(char: str) -> tuple[str, ...]:
    from pypinyin.constants import PINYIN_DICT

    return tuple(r for r in PINYIN_DICT.get(ord(char), "").split(",") if r)


def _polyphonic(char: str) -> bool:
    return len(_readings(char)) > 1


@lru_cache(maxsize=65536)
def _read_char(char: str) -> Syllable | None:
    readings = _readings(char)
    return split_syllable(readings[0]) if readings else None


@lru_cache(maxsize=262144)
def _read_in_context(window: str, index: int) -> Syllable | None:
    """The reading of ``window[index]`` from the phrase that covers it, if any."""
    from pypinyin.constants import PHRASES_DICT

    i = 0
    while i <= index:
        for length in range(min(_MAX_PHRASE, len(window) - i), 1, -1):
            phrase = PHRASES_DICT.get(window[i : i + length])
            if phrase is not None:
                if i + length > index:
                    return split_syllable(phrase[index - i][0]) if len(phrase) == length else None
                i += length
                break
        else:
            i += 1
    return None


@lru_cache(maxsize=65536)
def is_single_han(token: str) -> bool:
    """Whether ``token`` is one Han character."""
    return len(token) == 1 and is_han(token)


# ----------------------------------------------------------------------------- pinyin units


def pinyin_units(text: str) -> list[str]:
    """Normalise and tokenise ``text``, then spell each token in pinyin units (see the module docstring)."""
    from asr.models.tokens import UNK  # asr.models loads torch, which the audit must not

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


def build_unit_vocabulary(texts: Iterable[str], min_count: int = 1) -> "Vocabulary":
    """A :class:`~asr.models.tokens.Vocabulary` of the pinyin units of ``texts`` (``<blank>``, ``<unk>`` first)."""
    from asr.models.tokens import SPECIALS, Vocabulary  # asr.models loads torch (see pinyin_units)

    counts = Counter(unit for text in texts for unit in pinyin_units(text))
    kept = sorted(unit for unit, n in counts.items() if n >= min_count and unit not in SPECIALS)
    return Vocabulary([*SPECIALS, *kept])


def encode_units(vocabulary: "Vocabulary", text: str) -> list[int]:
    """The unit ids of ``text`` (units outside ``vocabulary`` become ``<unk>``)."""
    return [vocabulary.token_id(unit) for unit in pinyin_units(text)]
