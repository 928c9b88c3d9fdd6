"""`asr prepare kespeech` on a tiny copy of KeSpeech's layout built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.kespeech import prepare_kespeech
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
    _write(root / "Metadata" / "phase1.utt2style", "1000001_a1 Dialect\n1000002_b1 Dialect\n")
    return root


def test_parts_become_manifests_with_speaker_metadata(kespeech, tmp_path):
    written = prepare_kespeech(kespeech, tmp_path / "out")
    assert list(written) == ["train_phase1", "dev_phase2", "test"]
    train = {u.id: u for u in read_manifest(written["train_phase1"])}
    a1, b1 = train["1000001_a1"], train["1000002_b1"]
    assert Path(a1.audio) == (kespeech / "Audio" / "1000001" / "phase1" / "1000001_a1.wav").absolute()
    assert (a1.duration, a1.sample_rate, a1.speaker) == (0.25, 16000, "1000001")
    assert (a1.dialect, a1.gender, a1.age_band, a1.region) == ("lan_yin", "female", "20-29", "Lanzhou")
    assert a1.extra == {"style": "Dialect"}
    assert (b1.dialect, b1.gender, b1.age_band, b1.region) == ("jiang_huai", "male", "40-49", "Hefei")
    assert b1.text == "<SPOKEN_NOISE>打开导航"
    [dev] = read_manifest(written["dev_phase2"])
    assert (dev.dialect, dev.gender, dev.extra) == ("mandarin", "female", {})
    test = {u.id: u for u in read_manifest(written["test"])}
    assert [test[u].dialect for u in sorted(test)] == ["ji_lu", "jiao_liao"]
    assert test["1000004_d1"].age_band == "60+"


def test_selected_parts_only_and_without_metadata(kespeech, tmp_path):
    import shutil

    shutil.rmtree(kespeech / "Metadata")
    written = prepare_kespeech(kespeech, tmp_path / "out", parts=["test"])
    assert list(written) == ["test"] and not (tmp_path / "out" / "train_phase1.jsonl").exists()
    u = read_manifest(written["test"])[0]
    assert (u.dialect, u.gender, u.age_band, u.region) == ("ji_lu", None, None, None)


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
