"""Text normalisation and tokenisation shared by training, decoding and scoring.

Both sides of every comparison go through the same :class:`Normalization`, so a recognizer is
not charged for a writing convention. Its steps, in order, each of which can be turned off:

1. ``nfkc``: Unicode NFKC, which also folds full-width forms to half-width;
2. ``tags``: tags such as ``<noise>``, ``[laughter]`` or ``(um)`` removed;
3. ``numerals``: Arabic numerals written as Chinese ones, as they are read (``cn2an``):
   ``3号楼`` -> ``三号楼``, ``28度`` -> ``二十八度``, ``3.5`` -> ``三点五``, ``50%`` -> ``百分之五十``,
   years digit by digit (``1998年`` -> ``一九九八年``), and runs of 7 or more digits or with a
   leading zero (phone numbers, codes) digit by digit (``13812345678`` -> ``一三八一二三四五六七八``);
4. ``t2s``: Traditional characters converted to Simplified (OpenCC's ``t2s``);
5. ``punctuation``: punctuation and symbols (Unicode categories P* and S*) removed;
6. ``lowercase``: Latin letters lower-cased; whitespace is always collapsed.

The description of the steps used (:meth:`Normalization.describe`, e.g. :data:`NORMALIZATION`
for the default) is recorded in every score output and read back by
:meth:`Normalization.from_description`.

Tokenisation for CER: each Han character is one token; a run of Latin letters and
digits (``GPS``, ``4s``) is one token, so a Latin word is kept whole.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from asr.errors import AsrError

#: The steps, in the order they run, and how :meth:`Normalization.describe` names them.
STEPS = {
    "nfkc": "NFKC (full-width to half-width)",
    "tags": "tags <...> [...] (...) removed",
    "numerals": "Arabic numerals to Chinese (cn2an; years and long digit runs digit by digit)",
    "t2s": "Traditional to Simplified (OpenCC t2s)",
    "punctuation": "punctuation and symbols removed",
    "lowercase": "Latin lower-cased",
}
_ALWAYS = "whitespace collapsed"
#: Digit runs read digit by digit: 7 or more digits (phone numbers), or a leading zero.
_DIGIT_RUN = re.compile(r"(?<![\d.])(0\d+|\d{7,})(?![\d.])")
_DIGITS = "零一二三四五六七八九"
_HAS_DIGIT = re.compile(r"\d")
_TAG = re.compile(r"<[^<>]*>|\[[^\[\]]*\]|\([^()]*\)")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[a-z0-9'\u00c0-\u024f]+|\S", re.IGNORECASE)


@dataclass(frozen=True)
class Normalization:
    """Which normalisation steps run (see the module docstring); every step is on by default."""

    nfkc: bool = True
    tags: bool = True
    numerals: bool = True
    t2s: bool = True
    punctuation: bool = True
    lowercase: bool = True

    def describe(self) -> str:
        """The steps that run, as recorded in results and reports."""
        return "; ".join([STEPS[name] for name in STEPS if getattr(self, name)] + [_ALWAYS])

    @classmethod
    def from_description(cls, text: str) -> "Normalization":
        """The normalisation a recorded description names (older descriptions included).

        >>> Normalization.from_description(Normalization(numerals=False).describe()).numerals
        False
        """
        legacy = {"numerals": "Arabic numerals", "t2s": "Traditional to Simplified"}
        return cls(**{name: (legacy.get(name) or STEPS[name].split(" (")[0]) in text for name in STEPS})

    @classmethod
    def without(cls, steps: str | None) -> "Normalization":
        """The default with the comma-separated ``steps`` turned off (``--no-normalize numerals,t2s``)."""
        names = [s.strip() for s in (steps or "").split(",") if s.strip()]
        unknown = [n for n in names if n not in STEPS]
        if unknown:
            raise AsrError(f"unknown normalisation step {unknown[0]!r} (expected some of: {', '.join(STEPS)})")
        return cls(**{n: False for n in names})

    def __call__(self, text: str) -> str:
        return normalize(text, self)


DEFAULT = Normalization()
#: The default normalisation's description.
NORMALIZATION = DEFAULT.describe()


def normalize(text: str, normalization: Normalization = DEFAULT) -> str:
    """Apply ``normalization``'s steps to ``text``; see the module docstring."""
    n = normalization
    if n.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if n.tags:
        text = _TAG.sub(" ", text)
    if n.numerals and _HAS_DIGIT.search(text):
        text = arabic_to_chinese(text)
    if n.t2s:
        text = _opencc_t2s().convert(text)
    if n.punctuation:
        text = text.translate(_punctuation_table()).replace("'", "")
    text = _SPACE.sub(" ", text).strip()
    return text.lower() if n.lowercase else text


def arabic_to_chinese(text: str) -> str:
    """Arabic numerals written as Chinese ones, as they are read (step 3 of the module docstring)."""
    import cn2an  # only texts with digits need it

    text = _DIGIT_RUN.sub(lambda m: "".join(_DIGITS[int(d)] for d in m.group(0)), text)
    try:
        return cn2an.transform(text, "an2cn")
    except (ValueError, KeyError, IndexError):  # cn2an refuses some mixed forms: keep the digits spelled
        return re.sub(r"\d", lambda m: _DIGITS[int(m.group(0))], text)


@functools.lru_cache(maxsize=1)
def _opencc_t2s():
    import opencc

    return opencc.OpenCC("t2s")


class _PunctuationTable(dict):
    """``str.translate`` table: punctuation and symbol code points (but the apostrophe) to a space,
    every other one to itself; each code point's category is looked up once, when first seen."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = " " if unicodedata.category(char)[0] in "PS" and char != "'" else char
        return self[code]


@functools.lru_cache(maxsize=1)
def _punctuation_table() -> _PunctuationTable:
    return _PunctuationTable()


def is_han(char: str) -> bool:
    """True for CJK unified ideographs (and their extensions and compatibility forms)."""
    return "CJK" in unicodedata.name(char, "")


def tokenize(text: str) -> list[str]:
    """Split into CER tokens: one per Han character, one per Latin/digit word.

    >>> tokenize("导航到 GPS 点 4s店")
    ['导', '航', '到', 'gps', '点', '4s', '店']
    """
    tokens = _TOKEN.findall(text)
    return tokens if text.lower() == text else [t.lower() for t in tokens]


def words(text: str) -> list[str]:
    """Split space-delimited text into WER tokens."""
    return text.split()
