from asr.phonetic import build_unit_vocabulary, encode_units, pinyin_units, split_syllable, syllables


def test_han_characters_become_initials_and_toned_finals():
    # 知 zhi1, 英 ying1 (glide y kept as the initial), 我 wo3 (standard final uo), 儿 er2 (no initial),
    # 吗 ma5 (neutral tone)
    assert pinyin_units("知英我儿吗") == ["zh", "i1", "y", "ing1", "w", "uo3", "er2", "m", "a5"]


def test_polyphonic_characters_are_read_in_context():
    assert pinyin_units("银行") == ["y", "in2", "h", "ang2"]
    assert pinyin_units("行走") == ["x", "ing2", "z", "ou3"]


def test_latin_words_stay_whole_and_text_is_normalised_first():
    assert pinyin_units("打开ＧＰＳ，导航！") == ["d", "a3", "k", "ai1", "gps", "d", "ao3", "h", "ang2"]


def test_vocabulary_and_encoding():
    vocab = build_unit_vocabulary(["你好", "好的"])
    assert vocab.tokens == ("<blank>", "<unk>", "ao3", "d", "e5", "h", "i3", "n")
    assert encode_units(vocab, "你好吗") == [7, 6, 5, 2, 1, 1]  # m and a5 are not in it: <unk>


def test_syllables_read_polyphones_in_context():
    assert syllables(list("银行")) == [("y", "in", "2"), ("h", "ang", "2")]
    assert syllables(list("行走"))[0] == ("x", "ing", "2")
    assert syllables(["gps", "儿"]) == [None, ("∅", "er", "2")]
    assert split_syllable("ma") == ("m", "a", "5")
