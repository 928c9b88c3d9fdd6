"""`asr prepare commonvoice` on a tiny Common Voice release (zh-CN, zh-HK, zh-TW) built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.commonvoice import prepare_commonvoice
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from conftest import write_tone

# The header of recent releases (v17+); zh-TW below uses an older one without variant/accents.
HEADER = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
          "age", "gender", "accents", "variant", "locale", "segment"]
OLD_HEADER = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"]


def _tsv(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(row.get(c, "") for c in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _clip(locale_dir: Path, name: str, seconds: float = 0.3) -> str:
    write_tone(locale_dir / "clips" / name, seconds=seconds, rate=48000)
    return name


@pytest.fixture
def cv(tmp_path) -> Path:
    root = tmp_path / "cv-corpus-17.0"
    cn, hk, tw = root / "zh-CN", root / "zh-HK", root / "zh-TW"
    _tsv(cn / "train.tsv", HEADER, [
        {"client_id": "c1", "path": _clip(cn, "common_voice_zh-CN_1.mp3"), "sentence_id": "s1",
         "sentence": '他说"你好', "age": "twenties", "gender": "male_masculine",
         "accents": "出生地：11 北京市|出生地：37 山东省| 出生地：11 北京市", "locale": "zh-CN"},
        {"client_id": "c2", "path": _clip(cn, "common_voice_zh-CN_2.mp3"), "sentence": "打开空调",
         "age": "", "gender": "", "locale": "zh-CN"},
    ])
    _tsv(cn / "dev.tsv", HEADER, [{"client_id": "c3", "path": _clip(cn, "common_voice_zh-CN_3.mp3"),
                                   "sentence": "导航回家", "age": "fourties", "gender": "female_feminine"}])
    _tsv(cn / "test.tsv", HEADER, [{"client_id": "c4", "path": _clip(cn, "common_voice_zh-CN_4.mp3"),
                                    "sentence": "播放音乐", "age": "seventies", "gender": "do_not_wish_to_say"}])
    _tsv(hk / "train.tsv", HEADER, [{"client_id": "h1", "path": _clip(hk, "common_voice_zh-HK_1.mp3"),
                                     "sentence": "今日天氣點呀", "age": "thirties", "gender": "female",
                                     "variant": "粵語"}])
    _tsv(hk / "dev.tsv", HEADER, [])
    _tsv(hk / "test.tsv", HEADER, [])
    # An older release's header: no sentence_id, variant, accents; the last row is short.
    (tw / "train.tsv").parent.mkdir(parents=True)
    _clip(tw, "common_voice_zh-TW_1.mp3")
    (tw / "train.tsv").write_text("\t".join(OLD_HEADER) + "\n"
                                  "t1\tcommon_voice_zh-TW_1.mp3\t「你好\t2\t0\tteens\tmale\n", encoding="utf-8")
    _tsv(tw / "dev.tsv", OLD_HEADER, [])
    _tsv(tw / "test.tsv", OLD_HEADER, [])
    return root


def test_locales_merge_into_split_manifests(cv, tmp_path):
    written = prepare_commonvoice(cv, tmp_path / "out")
    assert list(written) == ["train", "dev", "test"]
    train = {u.id: u for u in read_manifest(written["train"])}
    assert sorted(train) == ["common_voice_zh-CN_1", "common_voice_zh-CN_2", "common_voice_zh-HK_1",
                             "common_voice_zh-TW_1"]
    c1 = train["common_voice_zh-CN_1"]
    assert c1.text == '他说"你好'
    assert (c1.speaker, c1.sample_rate, c1.duration) == ("c1", 48000, 0.3)
    assert (c1.locale, c1.dialect, c1.region, c1.gender, c1.age_band) == (
        "zh-CN", "mandarin", "mainland_china", "male", "20-29")
    # Several accents: a list, each once, in the speaker's order; `accent` keeps the answer verbatim.
    assert c1.accents == ["出生地：11 北京市", "出生地：37 山东省"]
    assert c1.accent == "出生地：11 北京市|出生地：37 山东省| 出生地：11 北京市"
    assert c1.extra == {"sentence_id": "s1"} and c1.city is None
    assert c1.audio == "../cv-corpus-17.0/zh-CN/clips/common_voice_zh-CN_1.mp3"  # relative to the manifest
    c2 = train["common_voice_zh-CN_2"]
    assert (c2.gender, c2.age_band, c2.accent, c2.accents) == (None, None, None, None)
    h1 = train["common_voice_zh-HK_1"]
    assert (h1.locale, h1.dialect, h1.region, h1.gender, h1.age_band) == ("zh-HK", "cantonese", "hong_kong", "female", "30-39")
    assert h1.extra == {"variant": "粵語"}
    t1 = train["common_voice_zh-TW_1"]
    assert (t1.text, t1.locale, t1.dialect, t1.region, t1.gender, t1.age_band) == (
        "「你好", "zh-TW", "mandarin", "taiwan", "male", "0-19")
    [dev] = read_manifest(written["dev"])
    assert (dev.gender, dev.age_band) == ("female", "40-49")
    [test] = read_manifest(written["test"])
    assert (test.gender, test.age_band) == (None, "60+")


def test_one_locale_dir_or_selected_locales(cv, tmp_path):
    written = prepare_commonvoice(cv / "zh-HK", tmp_path / "hk", splits=["train"])
    assert [u.dialect for u in read_manifest(written["train"])] == ["cantonese"]
    written = prepare_commonvoice(cv, tmp_path / "tw", locales=["zh-TW"])
    assert [u.id for u in read_manifest(written["train"])] == ["common_voice_zh-TW_1"]


def test_missing_clip_is_named_and_nothing_written(cv, tmp_path, capsys):
    (cv / "zh-CN" / "clips" / "common_voice_zh-CN_2.mp3").unlink()
    assert main(["prepare", "commonvoice", "--corpus-dir", str(cv), "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{cv / 'zh-CN' / 'train.tsv'}:3: utterance common_voice_zh-CN_2:" in err
    assert "common_voice_zh-CN_2.mp3: no such audio file" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "row, message",
    [
        ("c9\tx.mp3\ts\t你好\textra\tfields\tare\tmany\t1\t2\t3\t4\t5\t6\n", r"train.tsv:4: malformed row: 14 tab-separated fields"),
        ("c9\tx.mp3\ts9\t\n", r"train.tsv:4: malformed row: empty 'sentence'"),
    ],
)
def test_malformed_rows_are_named(cv, tmp_path, row, message):
    with open(cv / "zh-CN" / "train.tsv", "a", encoding="utf-8") as f:
        f.write(row)
    with pytest.raises(AsrError, match=message):
        prepare_commonvoice(cv, tmp_path / "out")


def test_header_without_required_column(cv, tmp_path):
    (cv / "zh-HK" / "dev.tsv").write_text("client_id\tsentence\n", encoding="utf-8")
    with pytest.raises(AsrError, match=r"zh-HK/dev.tsv:1: header has no column 'path'"):
        prepare_commonvoice(cv, tmp_path / "out")


def test_no_locale_found(tmp_path):
    with pytest.raises(AsrError, match=r"no <locale>/train.tsv for any of zh-CN, zh-HK, zh-TW"):
        prepare_commonvoice(tmp_path, tmp_path / "out")


def test_locale_of_a_directory_under_another_name(cv, tmp_path):
    import shutil

    # Rows with a locale column need no locale-named directory.
    cn = shutil.copytree(cv / "zh-CN", tmp_path / "my_cv_copy")
    written = prepare_commonvoice(cn, tmp_path / "cn", splits=["train"])
    assert [(u.dialect, u.locale) for u in read_manifest(written["train"])] == [("mandarin", "zh-CN")] * 2
    # Rows without one take --locales, or are refused before anything is written.
    hk = shutil.copytree(cv / "zh-HK", tmp_path / "cantonese_data")
    with pytest.raises(AsrError, match=rf"^{hk / 'train.tsv'}:2: unknown locale None \(expected one of zh-CN, .*"
                                       r"name the directory after its locale or pass --locales\)$"):
        prepare_commonvoice(hk, tmp_path / "hk")
    assert not (tmp_path / "hk").exists()
    written = prepare_commonvoice(hk, tmp_path / "hk", locales=["zh-HK"], splits=["train"])
    assert [u.dialect for u in read_manifest(written["train"])] == ["cantonese"]


def test_every_field_of_the_fake_release_matches_its_tsvs(tmp_path):
    """make_commonvoice's TSVs, read here by hand, against every manifest field."""
    from asr.corpus.fakes import make_commonvoice

    root = make_commonvoice(tmp_path / "cv", locales=("zh-CN", "zh-HK", "zh-TW"))
    written = prepare_commonvoice(root, tmp_path / "out")
    ages = {"teens": "0-19", "twenties": "20-29", "thirties": "30-39", "fourties": "40-49", "": None}
    genders = {"male_masculine": "male", "female_feminine": "female", "": None, "do_not_wish_to_say": None}
    multi = 0
    for split, path in written.items():
        rows = {}
        for locale in ("zh-CN", "zh-HK", "zh-TW"):
            header, *lines = (root / locale / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
            rows.update({r["path"].removesuffix(".mp3"): r for r in (dict(zip(header.split("\t"), line.split("\t")))
                                                                     for line in lines)})
        utts = read_manifest(path)
        assert sorted(u.id for u in utts) == sorted(rows)
        for u in utts:
            row = rows[u.id]
            accents = [a for a in row["accents"].split("|") if a] or None
            assert (u.text, u.speaker, u.locale) == (row["sentence"], row["client_id"], row["locale"])
            assert (u.accents, u.accent) == (accents, row["accents"] or None)
            assert (u.gender, u.age_band) == (genders[row["gender"]], ages[row["age"]])
            assert u.region == {"zh-CN": "mainland_china", "zh-HK": "hong_kong", "zh-TW": "taiwan"}[u.locale]
            assert u.dialect == ("cantonese" if u.locale == "zh-HK" else "mandarin") and u.city is None
            multi += len(accents or []) > 1
    assert multi == 15  # utterances of the 5 speakers (3 utterances each) who gave two accents
