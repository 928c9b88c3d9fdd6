"""`asr prepare kaldi` and `export_kaldi` on tiny Kaldi data dirs built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.kaldi import export_kaldi, prepare_kaldi
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from conftest import write_tone


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _data_dir(root: Path) -> Path:
    """Three utterances from two speakers, with metadata files of every kind."""
    d = root / "data" / "train"
    write_tone(root / "data" / "train" / "wav" / "a1.wav", seconds=0.3)
    write_tone(root / "data" / "train" / "wav" / "a2.wav", seconds=0.4)
    write_tone(root / "abs" / "b1.wav", seconds=0.5, rate=8000)
    _write(d / "wav.scp", f"spkA-1 wav/a1.wav\nspkA-2 wav/a2.wav\nspkB-1 {root / 'abs' / 'b1.wav'}\n")
    _write(d / "text", "spkA-1 打开 空调\nspkA-2 导航到 机场\nspkB-1 你好\n")
    _write(d / "utt2spk", "spkA-1 spkA\nspkA-2 spkA\nspkB-1 spkB\n")
    _write(d / "spk2utt", "spkA spkA-1 spkA-2\nspkB spkB-1\n")
    _write(d / "spk2gender", "spkA f\nspkB m\n")
    _write(d / "spk2age", "spkA 34\nspkB 20-29\n")
    _write(d / "spk2city", "spkA Chengdu\nspkB Xi'an\n")
    _write(d / "utt2subdialect", "spkA-1 Lan-Yin\nspkA-2 Lan-Yin\nspkB-1 Mandarin\n")
    _write(d / "utt2snr", "spkA-1 12.5\nspkA-2 7\nspkB-1 30\n")
    _write(d / "utt2style", "spkA-1 read\nspkA-2 spontaneous\nspkB-1 spontaneous\n")
    _write(d / "utt2dur", "spkA-1 0.3\nspkA-2 0.4\nspkB-1 0.5\n")
    return d


def test_data_dir_becomes_a_manifest_with_metadata(tmp_path):
    d = _data_dir(tmp_path)
    written = prepare_kaldi(d, tmp_path / "out")
    assert list(written) == ["train"]
    utts = {u.id: u for u in read_manifest(written["train"])}
    assert sorted(utts) == ["spkA-1", "spkA-2", "spkB-1"]
    a1, b1 = utts["spkA-1"], utts["spkB-1"]
    assert a1.audio == "../data/train/wav/a1.wav"  # relative to the manifest's directory
    assert (a1.duration, a1.sample_rate, a1.start) == (0.3, 16000, 0.0)
    assert (b1.duration, b1.sample_rate) == (0.5, 8000)
    assert a1.text == "打开 空调" and a1.speaker == "spkA"
    assert (a1.gender, a1.age_band, a1.city, a1.dialect, a1.snr_db) == ("female", "30-39", "Chengdu", "lan_yin", 12.5)
    assert (b1.gender, b1.age_band, b1.city, b1.dialect) == ("male", "20-29", "Xi'an", "mandarin")
    assert a1.region is None  # a city is not a region
    assert a1.extra == {"style": "read"}  # utt2dur and spk2utt are bookkeeping, not metadata


def test_bad_phase_is_named(tmp_path):
    d = _data_dir(tmp_path)
    _write(d / "utt2phase", "spkA-1 1\nspkA-2 early\nspkB-1 2\n")
    with pytest.raises(AsrError, match=r"utt2phase:2: phase 'early' is not a phase number \(expected e.g. '1' or 'phase1'\)"):
        prepare_kaldi(d, tmp_path / "out")


def test_segments_cut_utterances_from_recordings(tmp_path):
    d = tmp_path / "seg"
    write_tone(d / "rec1.wav", seconds=1.0)
    _write(d / "wav.scp", "rec1 rec1.wav\n")
    _write(d / "segments", "u1 rec1 0.00 0.40\nu2 rec1 0.50 -1\n")
    _write(d / "text", "u1 一\nu2 二\n")
    _write(d / "utt2spk", "u1 s\nu2 s\n")
    utts = read_manifest(prepare_kaldi(d, tmp_path / "out", split="dev")["dev"])
    assert [(u.id, u.start, u.duration, u.extra) for u in utts] == [
        ("u1", 0.0, 0.4, {"segment": "rec1"}), ("u2", 0.5, 0.5, {"segment": "rec1"})]


def test_round_trip_prepare_export_prepare(tmp_path):
    d = _data_dir(tmp_path)
    write_tone(d / "long.wav", seconds=1.0)
    with open(d / "wav.scp", "a") as f:
        f.write("spkC-rec long.wav\n")
    _write(d / "segments", "spkA-1 spkA-1 0 0.3\nspkA-2 spkA-2 0 -1\nspkB-1 spkB-1 0 0.5\n"
                           "spkC-1 spkC-rec 0.1 0.45\nspkC-2 spkC-rec 0.5 0.9\n")
    with open(d / "text", "a") as f:
        f.write("spkC-1 三\nspkC-2 四\n")
    with open(d / "utt2spk", "a") as f:
        f.write("spkC-1 spkC\nspkC-2 spkC\n")
    (d / "utt2snr").unlink()
    _write(d / "spk2accents", "spkA 出生地：11 北京市|出生地：37 山东省\nspkB 出生地：51 四川省\nspkC 香港\n")
    _write(d / "utt2phase", "spkA-1 phase1\nspkA-2 2\nspkB-1 1\nspkC-1 1\nspkC-2 1\n")
    _write(d / "spk2home_dialect", "spkA Lan-Yin\nspkB Beijing\n")
    _write(d / "spk2region", "spkA mainland_china\nspkB mainland_china\n")
    first = read_manifest(prepare_kaldi(d, tmp_path / "m1", split="train")["train"])
    a1 = first[0]
    assert (a1.accents, a1.phase, a1.home_dialect, a1.region, a1.city) == (
        ["出生地：11 北京市", "出生地：37 山东省"], 1, "lan_yin", "mainland_china", "Chengdu")

    export_kaldi(tmp_path / "m1" / "train.jsonl", tmp_path / "kaldi")
    files = {p.name for p in (tmp_path / "kaldi").iterdir()}
    assert {"wav.scp", "text", "utt2spk", "spk2utt", "segments", "spk2gender", "spk2age", "spk2city", "spk2region",
            "spk2dialect", "utt2style", "spk2accents", "utt2phase", "spk2home_dialect"} <= files
    assert "spkA 出生地：11 北京市|出生地：37 山东省\n" in (tmp_path / "kaldi" / "spk2accents").read_text()
    assert (tmp_path / "kaldi" / "spk2gender").read_text() == "spkA f\nspkB m\n"
    assert all(Path(line.split(maxsplit=1)[1]).is_absolute()
               for line in (tmp_path / "kaldi" / "wav.scp").read_text().splitlines())
    assert "spkC spkC-1 spkC-2\n" in (tmp_path / "kaldi" / "spk2utt").read_text()

    second = read_manifest(prepare_kaldi(tmp_path / "kaldi", tmp_path / "m2", split="train")["train"])
    assert second == first
    # A rerun replaces the exported dir instead of failing.
    export_kaldi(tmp_path / "m1" / "train.jsonl", tmp_path / "kaldi")


def test_export_without_segments_when_each_file_is_one_utterance(tmp_path):
    d = _data_dir(tmp_path)
    export_kaldi(prepare_kaldi(d, tmp_path / "m")["train"], tmp_path / "k")
    assert not (tmp_path / "k" / "segments").exists()
    assert read_manifest(prepare_kaldi(tmp_path / "k", tmp_path / "m2", split="train")["train"]) == \
        read_manifest(tmp_path / "m" / "train.jsonl")


def test_export_refuses_to_replace_a_non_kaldi_dir(tmp_path):
    d = _data_dir(tmp_path)
    manifest = prepare_kaldi(d, tmp_path / "m")["train"]
    _write(tmp_path / "precious" / "notes.txt", "keep me")
    with pytest.raises(AsrError, match="not a Kaldi data dir; refusing"):
        export_kaldi(manifest, tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").exists()


def test_directory_of_data_dirs_gives_one_manifest_each(tmp_path):
    _data_dir(tmp_path)
    dev = tmp_path / "data" / "dev"
    write_tone(dev / "x.wav", seconds=0.2)
    _write(dev / "wav.scp", f"x {dev / 'x.wav'}\n")
    _write(dev / "text", "x 好\n")
    _write(dev / "utt2spk", "x s\n")
    written = prepare_kaldi(tmp_path / "data", tmp_path / "out")
    assert sorted(written) == ["dev", "train"]


def test_piped_wav_scp_entry_is_refused_with_its_line(tmp_path, capsys):
    d = _data_dir(tmp_path)
    _write(d / "wav.scp", "spkA-1 wav/a1.wav\nspkA-2 sox wav/a2.wav -t wav - |\nspkB-1 wav/a1.wav\n")
    assert main(["prepare", "kaldi", "--corpus-dir", str(d), "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{d / 'wav.scp'}:2: recording spkA-2: piped command" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text", "spkA-1 打开\nspkA-2\nspkB-1 你好\n", r"text:2: malformed line 'spkA-2': expected '<utterance> <transcript>'"),
        ("utt2spk", "spkA-1 spkA\nspkA-2\nspkB-1 spkB\n", r"utt2spk:2: malformed line 'spkA-2': expected '<utterance> <speaker>'"),
        ("utt2spk", "spkA-1 spkA x\nspkA-2 spkA\nspkB-1 spkB\n", r"utt2spk:1: malformed line: expected '<utterance> <speaker>', got 3"),
        ("text", "spkA-1 a\nspkA-1 b\nspkB-1 c\n", r"text:2: duplicate key 'spkA-1' \(first on line 1\)"),
        ("segments", "spkA-1 spkA-1 0\n", r"segments:1: malformed line"),
        ("segments", "spkA-1 nope 0 1\n", r"segments:1: utterance spkA-1: recording 'nope' is not in wav.scp"),
        ("utt2snr", "spkA-1 loud\n", r"utt2snr:1: snr 'loud' is not a number"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, name, content, message):
    d = _data_dir(tmp_path)
    _write(d / name, content)
    with pytest.raises(AsrError, match=message):
        prepare_kaldi(d, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_audio_problem_is_reported_and_nothing_written(tmp_path, caplog):
    d = _data_dir(tmp_path)
    (d / "wav" / "a1.wav").unlink()
    (d / "wav" / "a2.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(AsrError) as info:
        prepare_kaldi(d, tmp_path / "out")
    assert "utterance spkA-1:" in str(info.value) and "no such audio file" in str(info.value)
    assert "1 more problem(s)" in str(info.value)
    assert any("utterance spkA-2:" in r.getMessage() and "not a readable audio file" in r.getMessage()
               for r in caplog.records)
    assert not (tmp_path / "out").exists()


def test_utterances_missing_from_a_file_are_named(tmp_path):
    d = _data_dir(tmp_path)
    _write(d / "utt2spk", "spkA-1 spkA\nspkB-1 spkB\nghost spkB\n")
    with pytest.raises(AsrError) as info:
        prepare_kaldi(d, tmp_path / "out")
    assert "utterance spkA-2 has no line in" in str(info.value)
    assert "and 1 more problem(s)" in str(info.value)
