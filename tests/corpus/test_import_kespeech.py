"""`asr prepare kespeech` on a tiny copy of KeSpeech's layout built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.kespeech import prepare_kespeech, read_city_dialects, recording_phase
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from conftest import write_tone


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _part(root: Path, part: str, phase: str, rows: list[tuple[str, str, str, str]]) -> None:
    """rows: (utterance, speaker, subdialect, text); audio at Audio/<spk>/<phase>/<utt>.wav."""
    d = root / "Tasks" / "ASR" / part
    for utt, spk, _, _ in rows:
        write_tone(root / "Audio" / spk / phase / f"{utt}.wav", seconds=0.25)
    _write(d / "wav.scp", "".join(f"{u} Audio/{s}/{phase}/{u}.wav\n" for u, s, _, _ in rows))
    _write(d / "text", "".join(f"{u} {t}\n" for u, _, _, t in rows))
    _write(d / "utt2spk", "".join(f"{u} {s}\n" for u, s, _, _ in rows))
    _write(d / "utt2subdialect", "".join(f"{u} {sd}\n" for u, _, sd, _ in rows))


@pytest.fixture
def kespeech(tmp_path) -> Path:
    root = tmp_path / "KeSpeech"
    _part(root, "train_phase1", "phase1", [
        ("1000001_a1", "1000001", "Lan-Yin", "今天天气怎么样"),
        ("1000002_b1", "1000002", "Jiang-Huai", "<SPOKEN_NOISE>打开导航"),
    ])
    _part(root, "dev_phase2", "phase2", [("1000001_a2", "1000001", "Mandarin", "今天天气怎么样")])
    _part(root, "test", "phase1", [
        ("1000003_c1", "1000003", "Ji-Lu", "播放音乐"),
        ("1000004_d1", "1000004", "Jiao-Liao", "关闭空调"),
    ])
    _write(root / "Metadata" / "spk2gender", "1000001 Female\n1000002 Male\n1000003 Male\n1000004 Female\n")
    _write(root / "Metadata" / "spk2age", "1000001 23\n1000002 41\n1000003 35\n1000004 67\n")
    _write(root / "Metadata" / "spk2city", "1000001 Lanzhou\n1000002 Hefei\n1000003 Jinan\n1000004 Dalian\n")
    _write(root / "Metadata" / "city2subdialect", "Lanzhou Lan-Yin\nhefei Jiang-Huai\nJinan Ji-Lu\nDalian Jiao-Liao\n")
    _write(root / "Metadata" / "phase1.utt2style", "1000001_a1 Dialect\n1000002_b1 Dialect\n")
    _write(root / "Metadata" / "phase2.utt2env", "1000001_a2 Quiet room\n")
    return root


def test_parts_become_manifests_with_speaker_metadata(kespeech, tmp_path):
    written = prepare_kespeech(kespeech, tmp_path / "out")
    assert list(written) == ["train_phase1", "dev_phase2", "test"]
    train = {u.id: u for u in read_manifest(written["train_phase1"])}
    a1, b1 = train["1000001_a1"], train["1000002_b1"]
    assert a1.audio == "../KeSpeech/Audio/1000001/phase1/1000001_a1.wav"  # relative to the manifest
    assert (a1.duration, a1.sample_rate, a1.speaker) == (0.25, 16000, "1000001")
    assert (a1.dialect, a1.gender, a1.age_band, a1.city, a1.region) == ("lan_yin", "female", "20-29", "Lanzhou", None)
    assert (a1.home_dialect, a1.reading_style, a1.phase, a1.condition, a1.extra) == ("lan_yin", "dialect", 1, None, {})
    assert (b1.dialect, b1.gender, b1.age_band, b1.city) == ("jiang_huai", "male", "40-49", "Hefei")
    assert (b1.home_dialect, b1.reading_style) == ("jiang_huai", "dialect")  # cities match case-insensitively
    assert b1.text == "<SPOKEN_NOISE>打开导航"
    # The Lanzhou speaker reads Mandarin in phase 2: a Mandarin utterance by a Lan-Yin speaker.
    [dev] = read_manifest(written["dev_phase2"])
    assert (dev.dialect, dev.home_dialect, dev.reading_style, dev.phase) == ("mandarin", "lan_yin", "mandarin", 2)
    assert (dev.condition, dev.gender, dev.extra) == ("Quiet room", "female", {})
    test = {u.id: u for u in read_manifest(written["test"])}
    assert [(test[u].dialect, test[u].home_dialect, test[u].reading_style) for u in sorted(test)] == [
        ("ji_lu", "ji_lu", "dialect"), ("jiao_liao", "jiao_liao", "dialect")]
    assert test["1000004_d1"].age_band == "60+" and test["1000004_d1"].phase == 1


def test_selected_parts_only_and_without_metadata(kespeech, tmp_path):
    import shutil

    shutil.rmtree(kespeech / "Metadata")
    written = prepare_kespeech(kespeech, tmp_path / "out", parts=["test"])
    assert list(written) == ["test"] and not (tmp_path / "out" / "train_phase1.jsonl").exists()
    u = read_manifest(written["test"])[0]
    assert (u.dialect, u.gender, u.age_band, u.city, u.condition) == ("ji_lu", None, None, None, None)
    # Without city2subdialect, a speaker's home subdialect is that of their dialect readings.
    assert (u.home_dialect, u.reading_style, u.phase) == ("ji_lu", "dialect", 1)


def test_home_subdialect_of_a_city_missing_from_the_table(kespeech, tmp_path):
    """Not in city2subdialect: the subdialect the speaker reads in, if any, else none."""
    _write(kespeech / "Metadata" / "city2subdialect", "Jinan Ji-Lu\nDalian Jiao-Liao\n")
    written = prepare_kespeech(kespeech, tmp_path / "out", parts=["train_phase1", "dev_phase2"])
    [dev] = read_manifest(written["dev_phase2"])  # 1000001 reads Lan-Yin in train_phase1
    assert (dev.dialect, dev.home_dialect) == ("mandarin", "lan_yin")
    written = prepare_kespeech(kespeech, tmp_path / "out2", parts=["dev_phase2"])
    [dev] = read_manifest(written["dev_phase2"])  # only a Mandarin reading imported: unknown
    assert (dev.dialect, dev.home_dialect, dev.reading_style) == ("mandarin", None, "mandarin")


@pytest.mark.parametrize("table, message", [
    ("Lanzhou\n", r"city2subdialect:1: malformed line 'Lanzhou': expected '<city> <subdialect>'"),
    ("Lanzhou Lan-Yin\nHefei Jiang-Huai\nlanzhou Zhongyuan\n",
     r"city2subdialect:3: city 'lanzhou' is lan_yin on line 1 and zhongyuan here"),
])
def test_bad_city_table_is_named(kespeech, tmp_path, table, message):
    _write(kespeech / "Metadata" / "city2subdialect", table)
    with pytest.raises(AsrError, match=message):
        prepare_kespeech(kespeech, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_phase_of_audio_outside_phase_directories(kespeech, tmp_path):
    """Audio/<speaker>/<utterance>.wav in the test part: the phase table that lists it."""
    import shutil

    test = kespeech / "Tasks" / "ASR" / "test"
    for spk, utt in (("1000003", "1000003_c1"), ("1000004", "1000004_d1")):
        shutil.move(kespeech / "Audio" / spk / "phase1" / f"{utt}.wav", kespeech / "Audio" / spk / f"{utt}.wav")
    _write(test / "wav.scp", "1000003_c1 Audio/1000003/1000003_c1.wav\n1000004_d1 Audio/1000004/1000004_d1.wav\n")
    _write(kespeech / "Metadata" / "phase1.utt2style", "1000003_c1 Dialect\n")
    _write(kespeech / "Metadata" / "phase2.utt2env", "1000004_d1 noisy\n")
    utts = read_manifest(prepare_kespeech(kespeech, tmp_path / "out", parts=["test"])["test"])
    assert [(u.id, u.phase, u.condition) for u in utts] == [("1000003_c1", 1, None), ("1000004_d1", 2, "noisy")]


def test_phase_from_the_audio_directory_else_the_part():
    assert recording_phase(Path("/c/Audio/1/phase2/u.wav"), "test") == 2
    assert recording_phase(Path("/c/elsewhere/u.wav"), "dev_phase1") == 1
    assert recording_phase(Path("/c/elsewhere/u.wav"), "test") is None


def test_city_table_with_spaces_in_names(tmp_path):
    _write(tmp_path / "city2subdialect", "Ma anshan  Jiang-Huai\nXi'an Zhongyuan\n")
    assert read_city_dialects(tmp_path / "city2subdialect") == {"ma anshan": "jiang_huai", "xi'an": "zhongyuan"}


def test_unknown_part_is_named(kespeech, tmp_path, capsys):
    assert main(["prepare", "kespeech", "--corpus-dir", str(kespeech), "--output-dir", str(tmp_path / "o"),
                 "--parts", "train_phase9"]) == 1
    err = capsys.readouterr().err
    assert "train_phase9: no such KeSpeech part" in err and "present: dev_phase2, test, train_phase1" in err


def test_missing_audio_in_one_part_writes_no_part(kespeech, tmp_path):
    (kespeech / "Audio" / "1000004" / "phase1" / "1000004_d1.wav").unlink()
    with pytest.raises(AsrError, match=r"utterance 1000004_d1: .*1000004_d1\.wav: no such audio file"):
        prepare_kespeech(kespeech, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malformed_subdialect_line_is_named(kespeech, tmp_path):
    _write(kespeech / "Tasks" / "ASR" / "test" / "utt2subdialect", "1000003_c1 Ji-Lu\n1000004_d1\n")
    with pytest.raises(AsrError, match=r"test/utt2subdialect:2: malformed line '1000004_d1'"):
        prepare_kespeech(kespeech, tmp_path / "out")


def test_not_a_kespeech_root(tmp_path):
    with pytest.raises(AsrError, match=r"Tasks/ASR: no such directory"):
        prepare_kespeech(tmp_path, tmp_path / "out")


def _table(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)


def test_every_field_of_the_fake_corpus_matches_its_files(tmp_path):
    """make_kespeech's files, read here by hand, against every manifest field."""
    from asr.corpus.fakes import make_kespeech

    root = make_kespeech(tmp_path / "KeSpeech", speakers=4, utterances=3)
    written = prepare_kespeech(root, tmp_path / "out")
    meta = {name: _table(root / "Metadata" / name) for name in
            ("spk2city", "spk2gender", "spk2age", "city2subdialect", "phase1.utt2style", "phase2.utt2env")}
    snake = {"Jiang-Huai": "jiang_huai", "Lan-Yin": "lan_yin", "Ji-Lu": "ji_lu", "Jiao-Liao": "jiao_liao"}
    mandarin_by_dialect_speakers = total = 0
    for part, path in written.items():
        said = _table(root / "Tasks" / "ASR" / part / "utt2subdialect")
        for u in read_manifest(path):
            city = meta["spk2city"][u.speaker]
            home = meta["city2subdialect"][city]
            phase = 2 if "/phase2/" in u.audio else 1
            assert u.dialect == snake.get(said[u.id], said[u.id].lower())
            assert (u.city, u.home_dialect, u.phase) == (city, snake.get(home, home.lower()), phase)
            assert u.reading_style == (meta["phase1.utt2style"][u.id].lower() if phase == 1 else "mandarin")
            assert u.condition == meta["phase2.utt2env"].get(u.id)
            assert u.gender == meta["spk2gender"][u.speaker].lower() and u.region is None
            mandarin_by_dialect_speakers += u.reading_style == "mandarin" and home != "Beijing"
            total += 1
    # 40 Mandarin readings of 60 utterances, 36 of them by speakers of another subdialect than Beijing's.
    assert (mandarin_by_dialect_speakers, total) == (36, 60)
