import pytest

from asr.errors import AsrError
from asr.models.tokens import BLANK, UNK, Vocabulary, join_tokens


def test_build_is_deterministic_with_specials_first():
    v = Vocabulary.build(["导航到 GPS 点", "到点，好！", "4s店"])
    assert v.tokens[:2] == (BLANK, UNK)
    assert v.blank_id == 0 and v.unk_id == 1
    # scoring's normalisation: Arabic numerals are read (4s店 = 四s店), Latin words lower-cased and whole
    assert v.tokens == (BLANK, UNK, "gps", "s", "到", "四", "好", "导", "店", "点", "航")
    assert Vocabulary.build(["4s店", "到点，好！", "导航到 GPS 点"]) == v
    assert len(v) == 11


def test_latin_words_are_single_tokens_and_unknown_maps_to_unk():
    v = Vocabulary.build(["打开 WiFi 设置"])
    ids = v.encode("打开wifi，蓝牙")
    assert [v.tokens[i] for i in ids] == ["打", "开", "wifi", UNK, UNK]


def test_min_count_drops_rare_tokens():
    v = Vocabulary.build(["好好好", "坏"], min_count=2)
    assert v.tokens == (BLANK, UNK, "好")


def test_decode_joins_han_and_spaces_latin():
    v = Vocabulary.build(["导航到 GPS 点 4s店"])
    text = "导航到 gps 点四 s 店"
    assert v.decode(v.encode(text)) == text and v.decode(v.encode("导航到 GPS 点 4s店")) == text
    assert v.decode([0, v.token_id("到"), 1, 0]) == "到"  # blank and unk dropped
    assert join_tokens(["gps", "4s"]) == "gps 4s"


def test_save_load_roundtrip(tmp_path):
    v = Vocabulary.build(["导航到 GPS 点"])
    v.save(tmp_path / "tokens.txt")
    lines = (tmp_path / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["<blank> 0", "<unk> 1", "gps 2"]
    assert Vocabulary.load(tmp_path / "tokens.txt") == v


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(AsrError, match="tokens file not found"):
        Vocabulary.load(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("<blank> 0\n<unk> 1\n好 3\n", encoding="utf-8")
    with pytest.raises(AsrError, match=r"bad.txt:3: expected 'token 2'"):
        Vocabulary.load(bad)
    bad.write_text("<unk> 0\n<blank> 1\n", encoding="utf-8")
    with pytest.raises(AsrError, match="must start with <blank>"):
        Vocabulary.load(bad)
