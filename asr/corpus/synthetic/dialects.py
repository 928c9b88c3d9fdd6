"""Dialect groups: how a sentence in Chinese characters becomes eSpeak NG input.

Each :class:`Dialect` names the eSpeak NG voice that reads it and what that voice
reads: tone-numbered pinyin (``mandarin`` and the accented-Mandarin groups, whose
phonological rules rewrite the pinyin before synthesis) or the characters
themselves (``cantonese``, read by eSpeak's ``yue`` dictionary). The manifest's
``text`` is always the characters; only the synthesizer input differs.

Pinyin comes from :mod:`pypinyin` (``Style.TONE3``, ``5`` for the neutral tone,
``v`` for ``ü``, third-tone sandhi on). A syllable is split into initial, final and
tone (:func:`split_syllable`); every rule maps one syllable to one syllable.

Hakka is not offered: eSpeak NG's ``hak`` voice has no character dictionary (it
reads Pha̍k-fa-sṳ romanization only, and spells each Han character out as "Chinese
letter"), and no offline character-to-Hakka lexicon is available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

from asr.errors import AsrError

Syllable = str  # tone-numbered pinyin, e.g. "zhi4"
Rule = Callable[[Syllable], Syllable]

#: Pinyin initials, the two-letter ones first (so ``zh`` wins over ``z``); ``y``/``w`` as written.
INITIALS = tuple("zh ch sh b p m f d t n l g k h j q x r z c s y w".split())


def split_syllable(syllable: Syllable) -> tuple[str, str, int]:
    """``"zhuang4" -> ("zh", "uang", 4)``; a zero-initial syllable has initial ``""``."""
    match = re.fullmatch(r"([a-z]+)([1-5])", syllable)
    if not match:
        raise AsrError(f"pinyin: {syllable!r} is not a tone-numbered syllable (expected e.g. 'zhi4')")
    body, tone = match.group(1), int(match.group(2))
    for initial in INITIALS:
        if body.startswith(initial) and len(body) > len(initial):
            return initial, body[len(initial):], tone
    return "", body, tone


def join_syllable(initial: str, final: str, tone: int) -> Syllable:
    return f"{initial}{final}{tone}"


# -- rules, each Syllable -> Syllable ------------------------------------------------


def merge_n_into_l(syllable: Syllable) -> Syllable:
    """n/l merger: initial ``n`` is read ``l`` (``nan2 -> lan2``, ``nv3 -> lv3``)."""
    initial, final, tone = split_syllable(syllable)
    return join_syllable("l" if initial == "n" else initial, final, tone)


def flatten_retroflexes(syllable: Syllable) -> Syllable:
    """Retroflex initials become dental: ``zh ch sh -> z c s`` and ``r -> l`` (``zhi4 -> zi4``)."""
    initial, final, tone = split_syllable(syllable)
    return join_syllable({"zh": "z", "ch": "c", "sh": "s", "r": "l"}.get(initial, initial), final, tone)


def front_velar_nasals(syllable: Syllable) -> Syllable:
    """Velar nasal codas after ``e``/``i`` become alveolar: ``-eng -> -en``, ``-ing -> -in`` (``ning2 -> nin2``).

    ``-ong``/``-iong`` and ``-ang``/``-iang``/``-uang`` are kept.
    """
    initial, final, tone = split_syllable(syllable)
    if final in ("eng", "ing"):
        final = final[:-1]
    return join_syllable(initial, final, tone)


def h_to_f_before_u(syllable: Syllable) -> Syllable:
    """``h`` before a bare ``u`` is read ``f``: ``hu2 -> fu2`` (湖), ``hui1 -> fei1`` (灰)."""
    initial, final, tone = split_syllable(syllable)
    if initial == "h" and final in ("u", "ui"):
        return join_syllable("f", "u" if final == "u" else "ei", tone)
    return syllable


#: Mandarin tone category -> the Mandarin tone whose contour is nearest the Chengdu
#: reflex of that category (Chengdu: yinping 55, yangping 21, shangsheng 53, qusheng 213,
#: the last often heard as low rising 13). The neutral tone stays neutral.
SICHUANESE_TONES = {1: 1, 2: 3, 3: 4, 4: 2, 5: 5}


def sichuanese_tones(syllable: Syllable) -> Syllable:
    """Tone categories re-realised with Chengdu contours: ``ma1 ma2 ma3 ma4 -> ma1 ma3 ma4 ma2``."""
    initial, final, tone = split_syllable(syllable)
    return join_syllable(initial, final, SICHUANESE_TONES[tone])


def southwestern_rules(syllable: Syllable) -> Syllable:
    """Sichuanese-accented Mandarin (Southwestern Mandarin, Chengdu/Chongqing).

    Applied in order: :func:`sichuanese_tones` (tone categories kept, contours
    remapped), :func:`merge_n_into_l`, :func:`h_to_f_before_u`,
    :func:`front_velar_nasals`.

    Sources: Yuan Jiahua (袁家骅) et al., *Hanyu fangyan gaiyao* (汉语方言概要), 2nd ed.,
    Yuwen, 2001, ch. 2 (Southwestern Mandarin: four tones, the Middle Chinese entering
    tone merged into yangping, n- and l- not distinguished, no -n/-ng contrast after
    e and i); Liang Deman (梁德曼) and Huang Shangjun (黄尚军), *Chengdu fangyan cidian*
    (成都方言词典), Jiangsu Education, 1998 (Chengdu tone values 55, 21, 53, 213; hu-
    syllables read fu-, as in 湖 fu2); and the "for some dialects" replacements in
    eSpeak NG's own ``lang/sit/cmn`` voice file (``replace 2 n l``, ``replace 0 N n``).
    The entering-tone merger is not modelled (pypinyin gives no Middle Chinese tone).
    """
    for rule in (sichuanese_tones, merge_n_into_l, h_to_f_before_u, front_velar_nasals):
        syllable = rule(syllable)
    return syllable


def wu_rules(syllable: Syllable) -> Syllable:
    """Shanghai/Jiangnan-accented Mandarin (Wu substrate; "Shanghai Putonghua").

    Applied in order: :func:`flatten_retroflexes` (``zh ch sh r -> z c s l``),
    :func:`front_velar_nasals` (``-ing -eng -> -in -en``), :func:`merge_n_into_l`.
    Tones are kept: Wu speakers map Mandarin's four tone categories one to one.

    Sources: Qian Nairong (钱乃荣), *Dangdai Wuyu yanjiu* (当代吴语研究), Shanghai
    Education, 1992, and Yuan Jiahua et al. 2001, ch. 3 (Wu has no retroflex series and
    no -n/-ng contrast after front vowels, so both carry over into its speakers'
    Mandarin); the n/l merger is the Jiangnan feature shared with the Jianghuai Mandarin
    of Nanjing (Yuan et al. 2001, ch. 2), not a trait of Shanghainese itself;
    eSpeak NG ``lang/sit/cmn`` "for some dialects" replacements (``ts.h -> tsh``,
    ``ts. -> ts``, ``s. -> s``, ``z. -> l``, ``N -> n``, ``n -> l``).
    """
    for rule in (flatten_retroflexes, front_velar_nasals, merge_n_into_l):
        syllable = rule(syllable)
    return syllable


# -- groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """A dialect group: its eSpeak NG voice, what the voice reads, and typical cities."""

    name: str
    voice: str
    reads: Literal["pinyin", "characters"]
    description: str
    cities: tuple[str, ...]
    rule: Rule | None = None

    def tts_input(self, text: str) -> str:
        """The string eSpeak reads for ``text`` (Chinese characters)."""
        if self.reads == "characters":
            return text
        syllables = to_pinyin(text)
        if self.rule is not None:
            syllables = [self.rule(s) for s in syllables]
        return " ".join(syllables)


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "mandarin", "cmn-latn-pinyin", "pinyin", "Standard Mandarin (Putonghua)",
            ("Beijing", "Tianjin", "Shijiazhuang", "Jinan", "Zhengzhou", "Harbin", "Shenyang", "Changchun", "Dalian"),
        ),
        Dialect(
            "southwestern", "cmn-latn-pinyin", "pinyin", "Sichuanese-accented Mandarin (Southwestern Mandarin)",
            ("Chengdu", "Chongqing", "Zigong", "Mianyang", "Leshan", "Nanchong", "Yibin", "Luzhou"),
            southwestern_rules,
        ),
        Dialect(
            "wu", "cmn-latn-pinyin", "pinyin", "Shanghai/Jiangnan-accented Mandarin (Wu substrate)",
            ("Shanghai", "Suzhou", "Hangzhou", "Ningbo", "Wuxi", "Changzhou", "Shaoxing", "Jiaxing"),
            wu_rules,
        ),
        Dialect(
            "cantonese", "yue", "characters", "Cantonese (Yue), the characters read in Cantonese",
            ("Guangzhou", "Hong Kong", "Foshan", "Macau", "Dongguan", "Zhongshan", "Jiangmen", "Zhaoqing"),
        ),
    )
}


def get_dialect(name: str) -> Dialect:
    """The group called ``name``; an unknown name is an :class:`AsrError` listing the known ones."""
    if name not in DIALECTS:
        hint = " (Hakka is not available: eSpeak NG's hak voice cannot read Chinese characters)" if name == "hakka" else ""
        raise AsrError(f"unknown dialect group {name!r}{hint}; expected one of: {', '.join(DIALECTS)}")
    return DIALECTS[name]


def to_pinyin(text: str) -> list[Syllable]:
    """Chinese characters -> tone-numbered syllables (``"导航" -> ["dao3", "hang2"]``)."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    for char, syllable in zip(text, syllables):
        if not re.fullmatch(r"[a-z]+[1-5]", syllable):
            raise AsrError(f"pinyin: no Mandarin reading for {char!r} in {text!r} (expected Chinese characters only)")
    if len(syllables) != len(text):
        raise AsrError(f"pinyin: {text!r} gave {len(syllables)} syllables for {len(text)} characters")
    return syllables
