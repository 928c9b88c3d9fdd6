import pytest

from asr.text import NORMALIZATION, NORMALIZATION_T2S, is_han, normalize, tokenize, words


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("导航到人民广场。", "导航到人民广场"),
        ("ＧＰＳ信号，很弱！", "gps信号 很弱"),  # full-width to half-width, punctuation removed
        ("打开空调<noise>[laughter] (um)谢谢", "打开空调 谢谢"),
        ("  Hello   World  ", "hello world"),
        ("don't", "dont"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_traditional_to_simplified_only_when_asked():
    assert normalize("導航到廣場") == "導航到廣場"
    assert normalize("導航到廣場", to_simplified=True) == "导航到广场"
    assert "Traditional to Simplified" in NORMALIZATION_T2S and "Traditional" not in NORMALIZATION


def test_tokenize_keeps_latin_words_whole():
    assert tokenize("导航到 GPS 点 4s店") == ["导", "航", "到", "gps", "点", "4s", "店"]
    assert tokenize("") == []
    assert words("a bc  d") == ["a", "bc", "d"]


def test_is_han():
    assert is_han("汉") and not is_han("a") and not is_han("，")
