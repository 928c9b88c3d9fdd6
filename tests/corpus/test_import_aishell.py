"""`asr prepare aishell` on a tiny copy of AISHELL-1's layout built here."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.aishell import prepare_aishell
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from conftest import write_tone

SPEAKERS = {"train": ["S0002", "S0003"], "dev": ["S0724"], "test": ["S0764"]}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def aishell(tmp_path) -> Path:
    root = tmp_path / "aishell"
    lines = []
    for split, speakers in SPEAKERS.items():
        for spk in speakers:
            for n in (121, 122):
                utt = f"BAC009{spk}W0{n}"
                write_tone(root / "data_aishell" / "wav" / split / spk / f"{utt}.wav", seconds=0.2)
                lines.append(f"{utt} 而 对 楼市 成交 抑制 作用 最 大 的 限 购\n")
    # One audio file without a transcript line, as in the real corpus.
    write_tone(root / "data_aishell" / "wav" / "train" / "S0002" / "BAC009S0002W0999.wav", seconds=0.2)
    _write(root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt", "".join(lines))
    _write(root / "resource_aishell" / "speaker.info", "0002 F\n0003 M\n0724 F\n0764 M\n")
    return root


def test_splits_become_manifests(aishell, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        written = prepare_aishell(aishell, tmp_path / "out")
    assert list(written) == ["train", "dev", "test"]
    train = read_manifest(written["train"])
    assert [u.id for u in train] == ["BAC009S0002W0121", "BAC009S0002W0122", "BAC009S0003W0121", "BAC009S0003W0122"]
    u = train[0]
    assert u.text == "而对楼市成交抑制作用最大的限购"
    assert (u.speaker, u.gender, u.dialect, u.duration, u.sample_rate) == ("S0002", "female", "mandarin", 0.2, 16000)
    assert train[2].gender == "male"
    assert u.audio == "../aishell/data_aishell/wav/train/S0002/BAC009S0002W0121.wav"  # relative to the manifest
    assert {x.speaker for x in read_manifest(written["test"])} == {"S0764"}
    assert any("skipped 1 of 5 audio files with no transcript line" in r.getMessage() for r in caplog.records)


def test_audio_inside_output_dir_is_relative(aishell):
    written = prepare_aishell(aishell, aishell)
    u = read_manifest(written["dev"])[0]
    assert u.audio == "data_aishell/wav/dev/S0724/BAC009S0724W0121.wav"


def test_without_speaker_info_gender_is_unknown(aishell, tmp_path):
    (aishell / "resource_aishell" / "speaker.info").unlink()
    u = read_manifest(prepare_aishell(aishell, tmp_path / "out")["dev"])[0]
    assert u.gender is None and u.dialect == "mandarin"


def test_malformed_transcript_line_is_named(aishell, tmp_path, capsys):
    path = aishell / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
    with open(path, "a", encoding="utf-8") as f:
        f.write("BAC009S0002W0999\n")
    assert main(["prepare", "aishell", "--corpus-dir", str(aishell), "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == (f"asr prepare: error: {path}:9: malformed line 'BAC009S0002W0999': "
                   f"expected '<utterance> <word> <word> ...'\n")
    assert not (tmp_path / "out").exists()


def test_malformed_speaker_info_is_named(aishell, tmp_path):
    _write(aishell / "resource_aishell" / "speaker.info", "0002 F\n0003 X\n")
    with pytest.raises(AsrError, match=r"speaker.info:2: malformed line '0003 X': expected '<speaker> <F\|M>'"):
        prepare_aishell(aishell, tmp_path / "out")


def test_corrupt_audio_is_named(aishell, tmp_path):
    (aishell / "data_aishell" / "wav" / "dev" / "S0724" / "BAC009S0724W0122.wav").write_bytes(b"\0" * 100)
    with pytest.raises(AsrError, match=r"utterance BAC009S0724W0122: .*not a readable audio file"):
        prepare_aishell(aishell, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_packed_archives_get_a_hint(aishell, tmp_path):
    import shutil

    test_dir = aishell / "data_aishell" / "wav" / "test"
    shutil.rmtree(test_dir)
    test_dir.mkdir()
    (aishell / "data_aishell" / "wav" / "S0764.tar.gz").write_bytes(b"")
    with pytest.raises(AsrError, match=r"wav/test: no <speaker>/\*\.wav files; unpack the per-speaker archives"):
        prepare_aishell(aishell, tmp_path / "out")


def test_archives_as_distributed_are_refused_with_the_unpack_command(aishell, tmp_path):
    import shutil

    wav_root = aishell / "data_aishell" / "wav"
    for split in ("train", "dev", "test"):
        shutil.rmtree(wav_root / split)
    for speaker in ("S0002", "S0724"):
        (wav_root / f"{speaker}.tar.gz").write_bytes(b"")
    message = (rf"^{re.escape(str(wav_root))}: holds 2 per-speaker archives \(S0002\.tar\.gz, \.\.\.\) and no "
               rf"train/dev/test directories; unpack them first: cd .* && for f in \*\.tar\.gz; do tar -xzf")
    with pytest.raises(AsrError, match=message):
        prepare_aishell(aishell, tmp_path / "out")


def test_data_aishell_itself_is_accepted_as_the_corpus_dir(aishell, tmp_path):
    paths = prepare_aishell(aishell / "data_aishell", tmp_path / "out")
    assert sorted(paths) == ["dev", "test", "train"]


def test_help_shows_the_layout_read(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "aishell", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "<corpus_dir>/data_aishell/wav/{train,dev,test}/S0002/BAC009S0002W0122.wav" in out
    assert "resource_aishell/speaker.info" in out and "--corpus-dir CORPUS_DIR" in out
