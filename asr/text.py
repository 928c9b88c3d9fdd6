"""Text normalisation and tokenisation shared by training, decoding and scoring.

Normalisation (recorded as :data:`NORMALIZATION` in every score output):

1. Unicode NFKC, which also folds full-width forms to half-width;
2. tags such as ``<noise>``, ``[laughter]`` or ``(um)`` removed;
3. punctuation and symbols (Unicode categories P* and S*) removed;
4. Latin letters lower-cased; whitespace collapsed;
5. optionally, Traditional characters converted to Simplified (``hanziconv``),
   for Cantonese references written in Traditional script.

Tokenisation for CER: each Han character is one token; a run of Latin letters and
digits (``GPS``, ``4s``) is one token, so a Latin word is kept whole.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZATION = (
    "NFKC (full-width to half-width); tags <...> [...] (...) removed; "
    "punctuation and symbols removed; Latin lower-cased; whitespace collapsed"
)
NORMALIZATION_T2S = NORMALIZATION + "; Traditional to Simplified (hanziconv)"

_TAG = re.compile(r"<[^<>]*>|\[[^\[\]]*\]|\([^()]*\)")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[a-z0-9'\u00c0-\u024f]+|\S", re.IGNORECASE)


def normalize(text: str, to_simplified: bool = False) -> str:
    """Apply the documented normalisation; see the module docstring."""
    text = unicodedata.normalize("NFKC", text)
    text = _TAG.sub(" ", text)
    text = "".join(" " if unicodedata.category(c)[0] in "PS" and c != "'" else c for c in text)
    text = text.replace("'", "")
    text = _SPACE.sub(" ", text).strip().lower()
    if to_simplified:
        from hanziconv import HanziConv

        text = HanziConv.toSimplified(text)
    return text


def is_han(char: str) -> bool:
    """True for CJK unified ideographs (and their extensions and compatibility forms)."""
    return "CJK" in unicodedata.name(char, "")


def tokenize(text: str) -> list[str]:
    """Split into CER tokens: one per Han character, one per Latin/digit word.

    >>> tokenize("导航到 GPS 点 4s店")
    ['导', '航', '到', 'gps', '点', '4s', '店']
    """
    return [m.group(0).lower() for m in _TOKEN.finditer(text)]


def words(text: str) -> list[str]:
    """Split space-delimited text into WER tokens."""
    return text.split()
