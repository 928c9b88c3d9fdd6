"""`asr prepare hf` on tiny Hugging Face datasets: saved with `datasets` itself, and audiofolders written by hand."""

from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.corpus.hf import prepare_hf
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from conftest import write_tone

datasets = pytest.importorskip("datasets")
from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features, Value  # noqa: E402  (optional)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _saved(root: Path) -> Path:
    """A DatasetDict (train, test) with an Audio column: save_to_disk embeds the files' bytes."""
    a = write_tone(root / "src" / "a.wav", seconds=0.5)
    b = write_tone(root / "src" / "b.wav", seconds=0.6, rate=8000, channels=2)
    c = write_tone(root / "src" / "c.wav", seconds=0.4)
    train = Dataset.from_dict({
        "audio": [str(a), str(b)], "sentence": ["打开空调", "你好"], "client_id": ["s1", "s2"],
        "gender": [0, 1], "age": ["twenties", "34"], "accents": [["北京", "山东", "北京"], []],
        "accent_label": ["Wu", None], "score": [1.5, float("nan")], "up_votes": [2, 0],
    }).cast_column("audio", Audio()).cast_column("gender", ClassLabel(names=["female", "male"]))
    test = Dataset.from_dict({
        "audio": [str(c)], "sentence": ["导航回家"], "client_id": ["s3"], "gender": [1], "age": [""],
        "accents": [["香港"]], "accent_label": ["Yue"], "score": [0.5], "up_votes": [1],
    }).cast_column("audio", Audio()).cast_column("gender", ClassLabel(names=["female", "male"]))
    DatasetDict({"train": train, "test": test}).save_to_disk(str(root / "saved"))
    for wav in (a, b, c):
        wav.rename(wav.with_suffix(".moved"))  # the manifest must point at the written-out copies
    return root / "saved"


def test_saved_dataset_with_embedded_audio(tmp_path, offline):
    saved = _saved(tmp_path)
    written = prepare_hf(saved, tmp_path / "out", columns={"dialect": "accent_label"})
    assert list(written) == ["train", "test"]
    train = {u.id: u for u in read_manifest(written["train"])}
    a, b = train["a"], train["b"]  # ids: the stems of the embedded files' names
    assert (a.audio, a.duration, a.sample_rate, a.start) == ("audio/train/a.wav", 0.5, 16000, 0.0)
    assert (b.audio, b.duration, b.sample_rate) == ("audio/train/b.wav", 0.6, 8000)
    assert (a.text, a.speaker, b.speaker) == ("打开空调", "s1", "s2")
    # ClassLabel names; Common Voice's decade label and an age in years as bands; a list column as accents
    assert (a.gender, a.age_band, a.accents, a.dialect) == ("female", "20-29", ["北京", "山东"], "wu")
    assert (b.gender, b.age_band, b.accents, b.dialect) == ("male", "30-39", None, None)
    assert a.extra == {"score": 1.5, "up_votes": 2} and b.extra == {"up_votes": 0}  # NaN is no value
    (c,) = read_manifest(written["test"])
    assert (c.id, c.audio, c.gender, c.age_band, c.accents, c.dialect) == (
        "c", "audio/test/c.wav", "male", None, ["香港"], "yue")
    # 16-bit WAV, channels kept, the samples those of the original file
    info = sf.info(str(tmp_path / "out" / "audio" / "train" / "b.wav"))
    assert (info.subtype, info.channels, info.samplerate, info.frames) == ("PCM_16", 2, 8000, 4800)
    original, _ = sf.read(str(tmp_path / "src" / "b.moved"), dtype="float32")
    copy, _ = sf.read(str(tmp_path / "out" / "audio" / "train" / "b.wav"), dtype="float32")
    assert np.abs(copy - original).max() <= 1 / 32768
    assert main(["manifest", "validate", str(written["train"]), str(written["test"])]) == 0


def test_single_dataset_of_paths_and_split_names(tmp_path, offline):
    a = write_tone(tmp_path / "wav" / "x1.wav", seconds=0.3)
    Dataset.from_dict({"path": [str(a)], "text": ["你好"], "speaker": ["p"], "id": ["utt-1"]}).save_to_disk(
        str(tmp_path / "saved"))
    written = prepare_hf(tmp_path / "saved", tmp_path / "out", audio_column="path", id_column="id", splits=["dev"])
    (u,) = read_manifest(written["dev"])
    assert (u.id, u.audio, u.speaker, u.text, u.extra) == ("utt-1", "../wav/x1.wav", "p", "你好", {})
    assert not (tmp_path / "out" / "audio").exists()  # plain paths are used where they are
    assert list(prepare_hf(tmp_path / "saved", tmp_path / "out2", audio_column="path")) == ["train"]
    with pytest.raises(AsrError, match=r"saved: has no splits; --split names the one split to import it as, "
                                       r"got a,b"):
        prepare_hf(tmp_path / "saved", tmp_path / "out3", audio_column="path", splits=["a", "b"])


def test_decoded_arrays_are_written_out(tmp_path):
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    Dataset.from_dict({"audio": [{"array": samples.tolist(), "sampling_rate": 16000}], "text": ["一"],
                       "speaker": ["q"]}).save_to_disk(str(tmp_path / "saved"))
    (u,) = read_manifest(prepare_hf(tmp_path / "saved", tmp_path / "out")["train"])
    assert (u.id, u.audio, u.duration, u.sample_rate) == ("train-000000", "audio/train/train-000000.wav", 0.25, 16000)
    copy, _ = sf.read(str(tmp_path / "out" / u.audio), dtype="float32")
    assert np.abs(copy - samples).max() <= 1 / 32768


def _audiofolder(root: Path) -> Path:
    """Split directories, each with its metadata.csv, the audio in a subdirectory."""
    af = root / "af"
    write_tone(af / "train" / "clips" / "t1.wav", seconds=0.4)
    write_tone(af / "train" / "clips" / "t2.wav", seconds=0.5)
    write_tone(af / "test" / "clips" / "e1.wav", seconds=0.3)
    (af / "train" / "metadata.csv").write_text(
        "file_name,transcription,speaker_id,gender,dialect,age,city,note\n"
        "clips/t1.wav,打开空调,spk1,F,Lan-Yin,34,Chengdu,\n"
        "clips/t2.wav,\"导航,回家\",spk2,男,Wu,,Suzhou,noisy\n", encoding="utf-8")
    (af / "test" / "metadata.csv").write_text(
        "file_name,transcription,speaker_id,gender,dialect,age,city,note\n"
        "clips/e1.wav,你好,spk3,female,Mandarin,60+,,\n", encoding="utf-8")
    return af


def test_audiofolder_with_split_directories(tmp_path, offline):
    written = prepare_hf(_audiofolder(tmp_path), tmp_path / "out")
    assert list(written) == ["test", "train"]
    t1, t2 = read_manifest(written["train"])
    assert (t1.id, t1.audio, t1.duration, t1.text, t1.speaker) == (
        "t1", "../af/train/clips/t1.wav", 0.4, "打开空调", "spk1")
    assert (t1.gender, t1.dialect, t1.age_band, t1.city, t1.extra) == ("female", "lan_yin", "30-39", "Chengdu", {})
    assert (t2.text, t2.gender, t2.dialect, t2.age_band, t2.extra) == ("导航,回家", "male", "wu", None, {"note": "noisy"})
    (e1,) = read_manifest(written["test"])
    assert (e1.gender, e1.dialect, e1.age_band, e1.city) == ("female", "mandarin", "60+", None)
    assert main(["manifest", "validate", str(written["train"]), str(written["test"])]) == 0


def test_audiofolder_jsonl_keeps_typed_values(tmp_path):
    af = tmp_path / "af"
    write_tone(af / "a.wav", seconds=0.3)
    write_tone(af / "b.wav", seconds=0.3)
    rows = [{"file_name": "a.wav", "words": "一", "who": "x", "phase": 2, "snr_db": 7, "tags": ["q", 1],
             "accents": "北京|天津", "meta": {"k": None}},
            {"file_name": "b.wav", "words": "二", "who": "y", "phase": "phase1", "snr_db": "3.5", "tags": []}]
    (af / "metadata.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    a, b = read_manifest(prepare_hf(af, tmp_path / "out", text_column="words", speaker_column="who")["train"])
    assert (a.text, a.speaker, a.phase, a.snr_db, a.accents) == ("一", "x", 2, 7, ["北京", "天津"])
    assert a.extra == {"tags": ["q", 1], "meta": {"k": None}}
    assert (b.phase, b.snr_db, b.extra) == (1, 3.5, {"tags": []})


def test_cli_with_column_options(tmp_path, capsys):
    af = _audiofolder(tmp_path)
    out = tmp_path / "out"
    assert main(["prepare", "hf", "--corpus-dir", str(af), "--output-dir", str(out), "--split", "train",
                 "--column", "home_dialect=dialect", "--column", "condition=note"]) == 0
    assert capsys.readouterr().out == f"train: {out / 'train.jsonl'}\n"
    t1, t2 = read_manifest(out / "train.jsonl")
    assert (t1.dialect, t1.home_dialect, t2.home_dialect, t2.condition, t2.extra) == (
        None, "lan_yin", "wu", "noisy", {})
    assert not (out / "test.jsonl").exists()


def test_no_speaker_column_is_refused_unless_speakers_come_from_ids(tmp_path, caplog):
    af = tmp_path / "af"
    write_tone(af / "a.wav", seconds=0.3)
    (af / "metadata.csv").write_text("file_name,text\na.wav,你好\n", encoding="utf-8")
    with pytest.raises(AsrError) as info:
        prepare_hf(af, tmp_path / "out")
    assert str(info.value) == (
        f"{af / 'metadata.csv'}: no speaker column (tried speaker, speaker_id, client_id; columns: file_name, text); "
        f"name it with --speaker-column, or pass --speaker-from id to make each utterance its own speaker")
    with caplog.at_level(logging.WARNING):
        (u,) = read_manifest(prepare_hf(af, tmp_path / "out", speaker_from="id")["train"])
    assert u.speaker == u.id == "a"
    assert "speaker bootstrap treats utterances as independent" in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"text_column": "nope"}, r"metadata.csv: no column 'nope' \(--text-column; columns: file_name, text, speaker\)"),
    ({"columns": {"city": "town"}}, r"no column 'town' \(--column city=town; columns: file_name, text, speaker\)"),
    ({"speaker_from": "row"}, r"--speaker-from 'row': expected 'column' or 'id'"),
])
def test_bad_column_options_are_named(tmp_path, options, message):
    af = tmp_path / "af"
    write_tone(af / "a.wav", seconds=0.3)
    (af / "metadata.csv").write_text("file_name,text,speaker\na.wav,你好,s\n", encoding="utf-8")
    with pytest.raises(AsrError, match=message):
        prepare_hf(af, tmp_path / "out", **options)


def test_cli_rejects_unknown_field(tmp_path, capsys):
    assert main(["prepare", "hf", "--corpus-dir", str(tmp_path), "--column", "mood=x"]) == 1
    assert "--column 'mood=x': unknown field 'mood' (expected one of dialect, home_dialect" in capsys.readouterr().err


def test_duplicate_ids_and_undecodable_audio_write_no_manifest(tmp_path):
    a = write_tone(tmp_path / "src" / "same.wav", seconds=0.3)
    b = write_tone(tmp_path / "other" / "same.wav", seconds=0.3)
    Dataset.from_dict({"audio": [str(a), str(b)], "text": ["一", "二"], "speaker": ["s", "t"]}).cast_column(
        "audio", Audio()).save_to_disk(str(tmp_path / "dup"))
    with pytest.raises(AsrError, match=r"dup \[train\] row 1: duplicate utterance id 'same' \(first at .*dup "
                                       r"\[train\] row 0\) \(name a unique id column with --id-column\)"):
        prepare_hf(tmp_path / "dup", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before any audio is written

    features = Features({"audio": {"bytes": Value("binary"), "path": Value("string")}, "text": Value("string"),
                         "speaker": Value("string")})
    junk = Dataset.from_dict({"audio": [{"bytes": b"not audio at all", "path": "j.wav"}], "text": ["一"],
                              "speaker": ["s"]}, features=features).cast_column("audio", Audio())
    junk.save_to_disk(str(tmp_path / "junk"))
    with pytest.raises(AsrError, match=r"junk \[train\] row 0: utterance j: embedded audio does not decode"):
        prepare_hf(tmp_path / "junk", tmp_path / "out")
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_empty_dataset_is_refused(tmp_path):
    Dataset.from_dict({"audio": [], "text": [], "speaker": []}, features=Features(
        {"audio": Value("string"), "text": Value("string"), "speaker": Value("string")})).save_to_disk(
        str(tmp_path / "empty"))
    with pytest.raises(AsrError, match=r"empty: datasets.load_from_disk cannot read it \(IndexError: .*\); "
                                       r"expected a dataset saved with save_to_disk"):
        prepare_hf(tmp_path / "empty", tmp_path / "out")  # datasets fails on a dataset with no shards


def test_neither_layout_is_named(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(AsrError, match=r"x: neither a saved dataset \(dataset_dict.json or state.json, from "
                                       r"save_to_disk\) nor an audiofolder"):
        prepare_hf(tmp_path / "x", tmp_path / "out")


def test_missing_datasets_says_how_to_install(tmp_path, monkeypatch):
    saved = _saved(tmp_path)
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(AsrError, match=r"^datasets is not installed .*: pip install 'zh-dialect-asr\[interop\]'$"):
        prepare_hf(saved, tmp_path / "out")
