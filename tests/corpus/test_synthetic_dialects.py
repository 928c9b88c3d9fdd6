"""Dialect rules on known syllables, eSpeak NG reading every character of the grammar, speakers."""

from __future__ import annotations

import numpy as np
import pytest

from asr.corpus.synthetic import dialects as d
from asr.corpus.synthetic.domain import GRAMMAR
from asr.corpus.synthetic.espeak import VoiceSettings, engine, variant_names
from asr.corpus.synthetic.speakers import ELDERLY_VARIANTS, FEMALE_VARIANTS, MALE_VARIANTS, make_speakers
from asr.errors import AsrError


@pytest.mark.parametrize(
    "syllable, parts",
    [
        ("zhuang4", ("zh", "uang", 4)), ("er2", ("", "er", 2)), ("ning2", ("n", "ing", 2)),
        ("a5", ("", "a", 5)), ("yi1", ("y", "i", 1)),
    ],
)
def test_split_syllable(syllable, parts):
    assert d.split_syllable(syllable) == parts


@pytest.mark.parametrize(
    "rule, before, after",
    [
        (d.flatten_retroflexes, "zhi4", "zi4"),
        (d.flatten_retroflexes, "chang2", "cang2"),
        (d.flatten_retroflexes, "shui3", "sui3"),
        (d.flatten_retroflexes, "ren2", "len2"),
        (d.flatten_retroflexes, "zi4", "zi4"),
        (d.front_velar_nasals, "ning2", "nin2"),
        (d.front_velar_nasals, "sheng1", "shen1"),
        (d.front_velar_nasals, "ying2", "yin2"),
        (d.front_velar_nasals, "zhong1", "zhong1"),
        (d.front_velar_nasals, "liang2", "liang2"),
        (d.merge_n_into_l, "nan2", "lan2"),
        (d.merge_n_into_l, "nv3", "lv3"),
        (d.merge_n_into_l, "an4", "an4"),
        (d.h_to_f_before_u, "hu2", "fu2"),
        (d.h_to_f_before_u, "hui1", "fei1"),
        (d.h_to_f_before_u, "huo3", "huo3"),
        (d.sichuanese_tones, "ma1", "ma1"),
        (d.sichuanese_tones, "ma2", "ma3"),
        (d.sichuanese_tones, "ma3", "ma4"),
        (d.sichuanese_tones, "ma4", "ma2"),
        (d.sichuanese_tones, "de5", "de5"),
    ],
)
def test_rule_on_known_syllable(rule, before, after):
    assert rule(before) == after


def test_group_inputs_for_one_sentence():
    text = "导航到湖南路"  # dao3 hang2 dao4 hu2 nan2 lu4
    assert d.get_dialect("mandarin").tts_input(text) == "dao3 hang2 dao4 hu2 nan2 lu4"
    assert d.get_dialect("southwestern").tts_input(text) == "dao4 hang3 dao2 fu3 lan3 lu2"
    assert d.get_dialect("wu").tts_input("上海人民证券") == "sang4 hai3 len2 min2 zen4 quan4"
    assert d.get_dialect("cantonese").tts_input(text) == text


def test_unknown_group_and_non_chinese_text_are_clear_errors():
    with pytest.raises(AsrError, match=r"unknown dialect group 'hakka' \(Hakka is not available"):
        d.get_dialect("hakka")
    with pytest.raises(AsrError, match=r"no Mandarin reading for 'G' in '打开GPS'"):
        d.to_pinyin("打开GPS")
    with pytest.raises(AsrError, match=r"'zhi' is not a tone-numbered syllable"):
        d.split_syllable("zhi")


def test_espeak_reads_every_grammar_character_in_every_group():
    """No character is spelled out ("(en)" switch) by cmn-latn-pinyin after the rules, or by yue."""
    chars = "".join(sorted(GRAMMAR.characters()))
    eng = engine()
    for name, group in d.DIALECTS.items():
        for start in range(0, len(chars), 100):
            chunk = chars[start : start + 100]
            phonemes = eng.phonemes(group.tts_input(chunk), group.voice)
            assert "(en)" not in phonemes, (name, chunk, phonemes)


def test_espeak_synthesizes_at_22050_hz_and_rejects_unknown_voices():
    eng = engine()
    audio = eng.synthesize("ni3 hao3", VoiceSettings("cmn-latn-pinyin+f2"))
    assert eng.sample_rate == 22050
    assert audio.dtype.name == "int16" and 0.3 < len(audio) / 22050 < 2.0
    with pytest.raises(AsrError, match=r"eSpeak NG has no voice 'xx-nonexistent'"):
        eng.synthesize("ni3", VoiceSettings("xx-nonexistent"))


def test_speaker_variants_exist_in_the_wheel_and_speakers_are_distinct():
    shipped = set(variant_names())
    assert set(FEMALE_VARIANTS) | set(MALE_VARIANTS) | set(ELDERLY_VARIANTS.values()) <= shipped
    speakers = make_speakers("wu", {"train": 6, "dev": 3, "test": 3}, np.random.default_rng(0))
    assert [s.id for s in speakers] == [f"WUU{i:03d}" for i in range(1, 13)]
    assert [s.split for s in speakers] == ["train"] * 6 + ["dev"] * 3 + ["test"] * 3
    assert sum(s.gender == "female" for s in speakers if s.split == "train") == 3
    assert len({(s.variant, s.pitch, s.rate, s.pitch_range) for s in speakers}) == 12
    assert all(s.voice.voice.startswith("cmn-latn-pinyin+") and s.city in d.DIALECTS["wu"].cities for s in speakers)
