import pytest

from asr.text import NORMALIZATION, Normalization, is_han, normalize, tokenize, words


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


def test_traditional_to_simplified_by_default_and_off_when_asked():
    assert normalize("導航到廣場") == "导航到广场"
    assert normalize("導航到廣場", Normalization(t2s=False)) == "導航到廣場"
    assert "Traditional to Simplified" in NORMALIZATION
    assert "Traditional" not in Normalization.without("t2s").describe()


@pytest.mark.parametrize("raw, expected", [
    ("3号楼", "三号楼"), ("28度", "二十八度"), ("3.5公里", "三点五公里"), ("50%", "百分之五十"),
    ("2024年3月", "二零二四年三月"), ("13812345678", "一三八一二三四五六七八"), ("010", "零一零"),
])
def test_arabic_numerals_are_written_as_they_are_read(raw, expected):
    assert normalize(raw) == expected
    assert any(c.isdigit() for c in normalize(raw, Normalization(numerals=False)))  # the step off: digits stay


def test_descriptions_name_the_steps_and_read_back():
    for steps in ("", "numerals", "t2s,punctuation", "nfkc,tags,numerals,t2s,punctuation,lowercase"):
        norm = Normalization.without(steps)
        assert Normalization.from_description(norm.describe()) == norm
    legacy = ("NFKC (full-width to half-width); tags <...> [...] (...) removed; punctuation and symbols removed; "
              "Latin lower-cased; whitespace collapsed")  # what asr 0.1 recorded
    assert Normalization.from_description(legacy) == Normalization(numerals=False, t2s=False)
    with pytest.raises(Exception, match="unknown normalisation step 'digits'"):
        Normalization.without("digits")


def test_tokenize_keeps_latin_words_whole():
    assert tokenize("导航到 GPS 点 4s店") == ["导", "航", "到", "gps", "点", "4s", "店"]
    assert tokenize("") == []
    assert words("a bc  d") == ["a", "bc", "d"]


def test_is_han():
    assert is_han("汉") and not is_han("a") and not is_han("，")
