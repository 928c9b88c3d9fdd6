"""Bad input, everywhere: one clear error line, a non-zero exit, no traceback, nothing half-written.

Every ``asr`` subcommand is run in-process (:func:`asr.cli.main`) on a missing, empty,
non-audio, truncated or 4 kHz audio file; on malformed manifest lines, transcripts and
results lines; on config files with an unknown key; on a missing or broken model
directory; and interrupted while writing. Each case checks what the user sees: the exit
status, the exact number of stderr lines (warnings logged through :mod:`logging` count,
as they reach the terminal too), that the error line starts ``asr <command>: error:``
and names the file or utterance and what was expected, and that no traceback escapes.
An uncaught exception counts as a traceback (the console script would print one).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from asr.cli import EXIT_INTERRUPTED, main
from asr.manifest.records import Utterance, write_manifest
from conftest import write_tone

RATE = 16000


# ----------------------------------------------------------------------------- harness


@dataclass
class Outcome:
    code: object
    out: str
    lines: list[str]  # stderr lines, then WARNING+ log records
    uncaught: str | None

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"exit {self.code}\nstderr:\n" + "\n".join(self.lines) + (f"\n{self.uncaught}" if self.uncaught else "")


@pytest.fixture
def asr(capsys, caplog):
    """``asr(*argv) -> Outcome``: the CLI in-process, with what a terminal would show."""
    caplog.set_level(logging.WARNING)

    def run(*argv) -> Outcome:
        capsys.readouterr()
        caplog.clear()
        uncaught = None
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code
        except BaseException as e:  # noqa: BLE001 - the console script would print this traceback
            code, uncaught = "uncaught", "".join(traceback.format_exception(e))
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        lines += [f"{r.levelname}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
        return Outcome(code, out, lines, uncaught)

    return run


def check_error(outcome: Outcome, command: str, *fragments: str, lines: int = 1) -> str:
    """Assert a clean failure: exit 1, ``lines`` stderr lines, the last ``asr COMMAND: error: ...``.

    Every fragment must appear in the first line (the error itself). Returns that line.
    """
    assert outcome.uncaught is None, f"uncaught exception, the user sees a traceback:\n{outcome}"
    assert outcome.code == 1, str(outcome)
    assert not any("Traceback" in line for line in outcome.lines), str(outcome)
    assert len(outcome.lines) == lines, str(outcome)
    assert outcome.lines[-1].startswith(f"asr {command}: error: "), str(outcome)
    first = outcome.lines[0]
    for fragment in fragments:
        assert fragment in first, f"{fragment!r} not in the error line\n{outcome}"
    return first


def listing(directory: Path) -> set[str]:
    """Every file below ``directory`` (relative paths), or the empty set if it does not exist."""
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()} if directory.exists() else set()


# ----------------------------------------------------------------------------- inputs


def utt(uid: str, audio: str, seconds: float = 0.5, rate: int = RATE, **kw) -> Utterance:
    fields = dict(text="打开空调", speaker="s1", dialect="mandarin")
    fields.update(kw)
    return Utterance(id=uid, audio=audio, duration=seconds, sample_rate=rate, **fields)


#: Kind of bad audio file -> what the error line must say about it.
BAD_AUDIO = {
    "missing": "no such audio file",
    "empty": "empty file (expected audio)",
    "text": "not a readable audio file (expected wav/flac/ogg/mp3)",
    "truncated": "not a readable audio file (expected wav/flac/ogg/mp3)",
    "rate4k": "unsupported sample rate 4000 Hz (expected at least 8000 Hz)",
}


def make_bad_audio(directory: Path, kind: str) -> Path:
    """The path of a bad audio file of ``kind`` (see :data:`BAD_AUDIO`), ``bad.wav``; "missing" is not created."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bad.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is a transcript, not audio\n", encoding="utf-8")
    elif kind == "truncated":  # cut inside the header, before the data chunk
        write_tone(directory / "whole.wav")
        path.write_bytes((directory / "whole.wav").read_bytes()[:30])
        (directory / "whole.wav").unlink()
    elif kind == "rate4k":
        write_tone(path, seconds=0.5, rate=4000)
    return path


@pytest.fixture
def good_wav(tmp_path) -> Path:
    return write_tone(tmp_path / "audio" / "good.wav", seconds=0.5)


def bad_audio_manifest(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A manifest of one good and one bad utterance (id ``bad``); returns (manifest, bad audio)."""
    write_tone(tmp_path / "audio" / "good.wav", seconds=0.5)
    bad = make_bad_audio(tmp_path / "audio", kind)
    rate = 4000 if kind == "rate4k" else RATE
    path = tmp_path / "test.jsonl"
    write_manifest(path, [utt("good", "audio/good.wav"), utt("bad", "audio/bad.wav", rate=rate)])
    return path, bad


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("model") / "model")


#: Malformed manifest line -> what the error must say (the line is line 2 of the manifest).
BAD_LINES = {
    "bad_json": ('{"id": "u2", "audio": "a.wav", ', "malformed manifest line"),
    "not_object": ('["u2", "a.wav"]', "expected a JSON object, got list"),
    "missing_fields": ('{"id": "u2", "audio": "audio/good.wav"}', "utterance u2: missing field(s) duration, sample_rate, text, speaker"),
    "wrong_type": ('{"id": "u2", "audio": "audio/good.wav", "duration": "long", "sample_rate": 16000, "text": "打开", '
                   '"speaker": "s1"}', "utterance u2: field 'duration' must be a non-negative number of seconds"),
    "rate_string": ('{"id": "u2", "audio": "audio/good.wav", "duration": 0.5, "sample_rate": "16k", "text": "打开", '
                    '"speaker": "s1"}', "utterance u2: field 'sample_rate' must be a positive integer in Hz"),
    "unknown_field": ('{"id": "u2", "audio": "audio/good.wav", "duration": 0.5, "sample_rate": 16000, "text": "打开", '
                      '"speaker": "s1", "accnet": "x"}', "utterance u2: unknown field 'accnet'"),
}


def malformed_manifest(tmp_path: Path, kind: str, name: str = "test.jsonl") -> Path:
    """A manifest whose line 1 is good and line 2 is malformed as ``kind`` (see :data:`BAD_LINES`)."""
    write_tone(tmp_path / "audio" / "good.wav", seconds=0.5)
    path = tmp_path / name
    write_manifest(path, [utt("u1", "audio/good.wav")])
    with open(path, "a", encoding="utf-8") as f:
        f.write(BAD_LINES[kind][0] + "\n")
    return path


# ----------------------------------------------------------------------------- bad audio files


def test_transcribe_reports_each_bad_file_and_still_transcribes_the_others(asr, tmp_path, good_wav, model_dir):
    bad = {kind: make_bad_audio(tmp_path / kind, kind) for kind in BAD_AUDIO}
    expected = {**BAD_AUDIO, "directory": "is a directory (expected an audio file)"}
    bad["directory"] = tmp_path / "audio"
    r = asr("transcribe", "--model", model_dir, *bad.values(), good_wav)
    check_error(r, "transcribe", lines=len(bad) + 1)
    for line, (kind, path) in zip(r.lines, bad.items()):
        assert line.startswith(f"asr transcribe: error: {path}: {expected[kind]}"), str(r)
    assert r.lines[-1] == f"asr transcribe: error: {len(bad)} of {len(bad) + 1} file(s) failed"
    assert r.out.startswith(f"{good_wav}\t") and len(r.out.splitlines()) == 1


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_validate_names_the_utterance_and_the_audio_problem(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    r = asr("manifest", "validate", manifest)
    check_error(r, "manifest", f"{manifest}:2: utterance bad: {bad}: {BAD_AUDIO[kind]}", lines=3)
    assert r.lines[1:] == [f"{manifest}: 1 problem(s)", "asr manifest: error: 1 of 1 manifest(s) failed validation"]


def test_validate_reports_a_truncated_data_chunk_as_a_duration_mismatch(asr, tmp_path):
    whole = write_tone(tmp_path / "audio" / "whole.wav", seconds=1.0)
    cut = tmp_path / "audio" / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + RATE])  # the header claims 1 s, half a second of data is left
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, [utt("cut", "audio/cut.wav", seconds=1.0)])
    r = asr("manifest", "validate", manifest)
    check_error(r, "manifest", f"{manifest}:1: utterance cut: segment ends at 1.000 s but the audio lasts 0.500 s", lines=3)


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_prepare_kaldi_names_the_utterance_and_writes_nothing(kind, asr, tmp_path):
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    good = write_tone(tmp_path / "audio" / "good.wav")
    bad = make_bad_audio(tmp_path / "audio", kind)
    (data / "wav.scp").write_text(f"bad {bad}\ngood {good}\n")
    (data / "text").write_text("bad 打开空调\ngood 关闭车窗\n")
    (data / "utt2spk").write_text("bad s1\ngood s1\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", f"{data / 'wav.scp'}:1: utterance bad: {bad}: {BAD_AUDIO[kind]}")
    assert listing(out) == set()


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_features_names_the_utterance_and_leaves_no_feature_manifest(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    out = tmp_path / "fbank"
    r = asr("features", "--manifests", manifest, "--output-dir", out, "--no-progress")
    check_error(r, "features", "utterance bad", str(bad), BAD_AUDIO[kind])
    assert not (out / "test.jsonl").exists()


def test_features_in_worker_processes_names_the_utterance(asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, "text")
    out = tmp_path / "fbank"
    r = asr("features", "--manifests", manifest, "--output-dir", out, "--no-progress", "--jobs", 2, "--shard-size", 1)
    check_error(r, "features", "utterance bad", str(bad), BAD_AUDIO["text"])
    assert not (out / "test.jsonl").exists()


@pytest.mark.parametrize("kind", ["missing", "text"])
def test_train_on_audio_names_the_utterance(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    config = write_config(tmp_path, "train", TINY_TRAIN)
    r = asr("train", "--config", config, "--train-manifest", manifest, "--exp-dir", tmp_path / "exp",
            "--no-progress", "--device", "cpu")
    check_error(r, "train", "utterance bad", str(bad), BAD_AUDIO[kind])
    assert not (tmp_path / "exp" / "model" / "config.yaml").exists()


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_decode_names_the_utterance_and_writes_no_results(kind, asr, tmp_path, model_dir):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    out = tmp_path / "decode"
    r = asr("decode", "--model", model_dir, "--manifests", manifest, "--output-dir", out)
    check_error(r, "decode", f"{manifest}: utterance bad: {bad}: {BAD_AUDIO[kind]}")
    assert listing(out) == set()


# ----------------------------------------------------------------------------- malformed manifests


@pytest.mark.parametrize("kind", BAD_LINES)
def test_validate_reports_a_malformed_line_once_with_its_line_number(kind, asr, tmp_path):
    manifest = malformed_manifest(tmp_path, kind)
    r = asr("manifest", "validate", "--no-audio", manifest)
    line = check_error(r, "manifest", f"{manifest}:2: ", BAD_LINES[kind][1], lines=3)
    assert "utterance ?: utterance" not in line, "the utterance is named twice"
    assert r.lines[1:] == [f"{manifest}: 1 problem(s)", "asr manifest: error: 1 of 1 manifest(s) failed validation"]


def test_validate_reports_every_problem_of_every_manifest(asr, tmp_path):
    first = malformed_manifest(tmp_path / "a", "bad_json")
    with open(first, "a", encoding="utf-8") as f:
        f.write(BAD_LINES["wrong_type"][0] + "\n")
    second = malformed_manifest(tmp_path / "b", "missing_fields")
    r = asr("manifest", "validate", "--no-audio", first, second)
    check_error(r, "manifest", f"{first}:2: ", "malformed manifest line", lines=6)
    assert r.lines[1].startswith(f"{first}:3: ") and "'duration'" in r.lines[1]
    assert r.lines[2] == f"{first}: 2 problem(s)"
    assert r.lines[3].startswith(f"{second}:2: ") and "missing field(s)" in r.lines[3]
    assert r.lines[5] == "asr manifest: error: 2 of 2 manifest(s) failed validation"


def manifest_commands(tmp_path: Path, manifest: Path, model_dir: Path) -> dict[str, list]:
    """Every command that reads an utterance manifest -> its argv (command name first)."""
    train_config = tmp_path / "train.yaml"
    train_config.write_text(yaml.safe_dump(TINY_TRAIN))
    return {
        "manifest stats": ["manifest", "stats", manifest],
        "manifest export-kaldi": ["manifest", "export-kaldi", manifest, tmp_path / "kaldi"],
        "manifest merge": ["manifest", "merge", manifest, "--output", tmp_path / "out" / "merged.jsonl"],
        "manifest shard": ["manifest", "shard", manifest, "--output-dir", tmp_path / "out", "--num-shards", 2],
        "features": ["features", "--manifests", manifest, "--output-dir", tmp_path / "out", "--no-progress"],
        "decode": ["decode", "--model", model_dir, "--manifests", manifest, "--output-dir", tmp_path / "out"],
        "lm": ["lm", "--manifest", manifest, "--output", tmp_path / "out" / "lm.json"],
        "train": ["train", "--config", train_config, "--train-manifest", manifest, "--exp-dir", tmp_path / "out",
                  "--no-progress", "--device", "cpu"],
    }


TINY_TRAIN = {
    "model": {"encoder": "conformer", "conformer": {"d_model": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32,
                                                     "conv_kernel": 3, "dropout": 0.0, "subsampling_channels": 4}},
    "inputs": {"source": "audio", "features": {"num_mel_bins": 23}},
    "max_steps": 1, "log_every": 1, "valid_every": 1, "checkpoint_every": 1, "average": {"num": 1},
}
MANIFEST_COMMANDS = ["manifest stats", "manifest export-kaldi", "manifest merge", "manifest shard", "features",
                     "decode", "lm", "train"]


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
@pytest.mark.parametrize("kind", ["bad_json", "missing_fields", "wrong_type"])
def test_a_malformed_manifest_line_is_one_error_naming_file_and_line(command, kind, asr, tmp_path, model_dir):
    manifest = malformed_manifest(tmp_path, kind)
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], f"{manifest}:2: ", BAD_LINES[kind][1])
    assert listing(tmp_path / "out") == set() and not (tmp_path / "kaldi").exists()


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
def test_a_missing_manifest_is_one_error(command, asr, tmp_path, model_dir):
    manifest = tmp_path / "nowhere" / "test.jsonl"
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], f"{manifest}: manifest not found")


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
def test_an_empty_manifest_is_one_error(command, asr, tmp_path, model_dir):
    manifest = tmp_path / "test.jsonl"
    manifest.write_text("")
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], str(manifest), "no utterances")
    assert listing(tmp_path / "out") == set()


@pytest.mark.parametrize("argv,expected", [
    (["stats", "{m}", "--by", "dialekt"], "{m}: no field 'dialekt' in the manifest"),
    (["shard", "{m}", "--output-dir", "{o}", "--num-shards", "0"], "--num-shards"),
    (["merge", "{m}", "{m2}", "--output", "{o}/merged.jsonl"], "duplicate utterance id 'u1'"),
    (["merge", "{m}", "--output", "{m}"], "{m}: the output is also an input"),
    (["export-kaldi", "{m}", "{m}"], "{m}: exists and is not a Kaldi data dir; refusing to replace it"),
])
def test_manifest_actions_refuse_bad_options(argv, expected, asr, tmp_path):
    names = {"m": malformed_manifest(tmp_path, "bad_json"), "o": tmp_path / "out"}
    names["m"].write_text(names["m"].read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    names["m2"] = tmp_path / "copy" / "test.jsonl"
    names["m2"].parent.mkdir()
    names["m2"].write_text(names["m"].read_text(encoding="utf-8").replace("audio/", "../audio/"), encoding="utf-8")
    before = names["m"].read_text(encoding="utf-8")
    r = asr("manifest", *[a.format(**names) for a in argv])
    check_error(r, "manifest", expected.format(**names))
    assert listing(tmp_path / "out") == set() and names["m"].read_text(encoding="utf-8") == before


# ----------------------------------------------------------------------------- malformed transcripts


def kaldi_dir(tmp_path: Path) -> Path:
    """A valid two-utterance Kaldi data dir (test) with a speaker attribute file."""
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    a, b = write_tone(tmp_path / "audio" / "a.wav"), write_tone(tmp_path / "audio" / "b.wav", seconds=0.6)
    (data / "wav.scp").write_text(f"a {a}\nb {b}\n")
    (data / "text").write_text("a 打开空调\nb 关闭车窗\n")
    (data / "utt2spk").write_text("a s1\nb s2\n")
    (data / "spk2gender").write_text("s1 f\ns2 m\n")
    return data


#: Kaldi data dir file -> (its corrupted content, the error line's tail).
BAD_KALDI = {
    "text_without_transcript": ("text", "a 打开空调\nb\n", ":2: malformed line 'b': expected '<utterance> <transcript>'"),
    "utt2spk_one_field": ("utt2spk", "a s1\nb\n", ":2: malformed line 'b': expected '<utterance> <speaker>'"),
    "utt2spk_three_fields": ("utt2spk", "a s1\nb s2 s3\n", ":2: malformed line: expected '<utterance> <speaker>', got 3 fields"),
    "duplicate_key": ("text", "a 打开空调\na 关闭车窗\nb 关闭车窗\n", ":2: duplicate key 'a' (first on line 1)"),
    "wav_scp_pipe": ("wav.scp", "a sox a.flac -t wav - |\nb b.wav\n", ":1: recording a: piped command"),
    "segments_three_fields": ("segments", "a a 0.0\n", ":1: malformed line 'a a 0.0': expected '<utterance> <recording> <start> <end>'"),
    "segments_bad_times": ("segments", "a a zero 0.3\n", ":1: malformed times 'zero' '0.3'"),
    "spk2gender_one_field": ("spk2gender", "s1 f\ns2\n", ":2: malformed line 's2': expected '<id> <value>'"),
    "utt2snr_not_a_number": ("utt2snr", "a 12.5\nb loud\n", ":2: snr 'loud' is not a number"),
    "not_utf8": ("text", "a 打开空调\n".encode("gbk"), ": not UTF-8 text"),
}


@pytest.mark.parametrize("kind", BAD_KALDI)
def test_prepare_kaldi_names_file_and_line_of_a_malformed_transcript(kind, asr, tmp_path):
    data = kaldi_dir(tmp_path)
    name, content, tail = BAD_KALDI[kind]
    if isinstance(content, bytes):
        (data / name).write_bytes(content)
    else:
        (data / name).write_text(content, encoding="utf-8")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", f"{data / name}{tail}")
    assert listing(out) == set()


@pytest.mark.parametrize("name", ["wav.scp", "text", "utt2spk"])
def test_prepare_kaldi_names_a_missing_table(name, asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / name).unlink()
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", tmp_path / "manifests")
    if name == "wav.scp":  # then it is not a data dir at all
        check_error(r, "prepare", f"{data}: no wav.scp here or in any subdirectory (expected a Kaldi data dir)")
    else:
        check_error(r, "prepare", f"{data / name}: no such file (expected a Kaldi {name} file)")


def test_prepare_kaldi_names_an_utterance_missing_from_text(asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / "text").write_text("a 打开空调\n")
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", tmp_path / "manifests")
    check_error(r, "prepare", f"{data / 'wav.scp'}: utterance b has no line in {data / 'text'}")


def test_prepare_kaldi_names_an_empty_transcript_after_normalisation(asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / "text").write_text("a 打开空调\nb ，。！\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", "utterance b: empty transcript")
    assert listing(out) == set()


def test_prepare_of_a_missing_corpus_dir_says_what_was_expected(asr, tmp_path):
    for corpus, expected in (("kaldi", "a Kaldi data dir"), ("kespeech", "the KeSpeech root"),
                             ("aishell", "the AISHELL-1 root"), ("commonvoice", "a Common Voice release")):
        r = asr("prepare", corpus, "--corpus-dir", tmp_path / "nowhere", "--output-dir", tmp_path / "out")
        check_error(r, "prepare", f"{tmp_path / 'nowhere'}: no such directory (expected {expected}")
    assert not (tmp_path / "out").exists()


def test_prepare_kespeech_names_a_subdialect_line_with_one_field(asr, tmp_path):
    from asr.corpus.fakes import make_kespeech

    root = make_kespeech(tmp_path / "KeSpeech", speakers=1, utterances=2)
    table = root / "Tasks" / "ASR" / "test" / "utt2subdialect"
    first = table.read_text().splitlines()[0]
    table.write_text(f"{first}\n{first.split()[0].replace('000', '001')}\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kespeech", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{table}:2: malformed line", "expected '<id> <value>'")
    assert listing(out) == set()


@pytest.mark.parametrize("kind", ["transcript_without_text", "speaker_info_bad_gender"])
def test_prepare_aishell_names_file_and_line(kind, asr, tmp_path):
    from asr.corpus.fakes import make_aishell

    root = make_aishell(tmp_path / "aishell", speakers={"train": 1, "dev": 1, "test": 1}, utterances=1)
    if kind == "transcript_without_text":
        path = root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines + [lines[0].split()[0] + "9"]) + "\n")
        tail = f":{len(lines) + 1}: malformed line"
    else:
        path = root / "resource_aishell" / "speaker.info"
        path.write_text(path.read_text() + "0099 X\n")
        tail = ":4: malformed line '0099 X': expected '<speaker> <F|M>'"
    out = tmp_path / "manifests"
    r = asr("prepare", "aishell", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{path}{tail}")
    assert listing(out) == set()


@pytest.mark.parametrize("kind", ["too_many_fields", "empty_sentence", "no_path_column", "empty_file"])
def test_prepare_commonvoice_names_file_and_row(kind, asr, tmp_path):
    from asr.corpus.fakes import make_commonvoice

    root = make_commonvoice(tmp_path / "cv", locales=("zh-CN",), speakers={"train": 1, "dev": 1, "test": 1},
                            utterances=1)
    tsv = root / "zh-CN" / "dev.tsv"
    header, row = tsv.read_text().splitlines()[:2]
    cells = row.split("\t")
    if kind == "too_many_fields":
        tsv.write_text(f"{header}\n{row}\textra\n")
        tail = ":2: malformed row: 14 tab-separated fields but the header has 13"
    elif kind == "empty_sentence":
        cells[3] = ""
        tsv.write_text(header + "\n" + "\t".join(cells) + "\n")
        tail = ":2: malformed row: empty 'sentence'"
    elif kind == "no_path_column":
        tsv.write_text(header.replace("path", "file") + "\n" + row + "\n")
        tail = ":1: header has no column 'path'"
    else:
        tsv.write_text("")
        tail = ": empty file (expected a header row with client_id, path, sentence)"
    out = tmp_path / "manifests"
    r = asr("prepare", "commonvoice", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{tsv}{tail}")
    assert listing(out) == set()


# ----------------------------------------------------------------------------- config files


def results_file(directory: Path) -> Path:
    """A small valid results file of `asr decode` (two dialects, six speakers)."""
    rows = []
    for i in range(12):
        rows.append({"id": f"u{i}", "ref": "打开空调", "hyp": "打开空调" if i % 3 else "打开空", "sub": 0,
                     "del": 0 if i % 3 else 1, "ins": 0, "ref_len": 4, "unit": "char", "confidence": 0.9,
                     "speaker": f"s{i % 6}", "duration": 1.0, "dialect": "wu" if i % 2 else "mandarin"})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results-test.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def config_argv(kind: str, config: Path, tmp_path: Path, model_dir: Path) -> list:
    """argv running the command that reads a ``kind`` config file, with otherwise valid inputs."""
    manifest = tmp_path / "test.jsonl"
    if not manifest.exists():
        write_manifest(manifest, [utt("u1", str(write_tone(tmp_path / "audio" / "good.wav")))])
    return {
        "corpus": ["prepare", "synthetic", "--config", config, "--output-dir", tmp_path / "out", "--no-progress"],
        "features": ["features", "--config", config, "--manifests", manifest, "--output-dir", tmp_path / "out",
                     "--no-progress"],
        "train": ["train", "--config", config, "--train-manifest", manifest, "--exp-dir", tmp_path / "out",
                  "--no-progress", "--device", "cpu"],
        "decode": ["decode", "--config", config, "--model", model_dir, "--manifests", manifest,
                   "--output-dir", tmp_path / "out"],
        "audit": ["audit", "--config", config, "--results", results_file(tmp_path / "decode"),
                  "--output-dir", tmp_path / "out", "--release", "r1"],
    }[kind]


CONFIG_CLASSES = {"corpus": "CorpusConfig", "features": "FeatureConfig", "train": "TrainConfig",
                  "decode": "DecodeConfig", "audit": "AuditConfig"}
#: A valid config of each kind (the recipe's own where there is one).
RECIPE_CONF = Path(__file__).resolve().parents[1] / "recipes" / "dialect" / "conf"
VALID_CONFIGS = {
    "corpus": yaml.safe_load((RECIPE_CONF / "corpus_tiny.yaml").read_text(encoding="utf-8")),
    "features": yaml.safe_load((RECIPE_CONF / "features.yaml").read_text(encoding="utf-8")),
    "train": TINY_TRAIN,
    "decode": yaml.safe_load((RECIPE_CONF / "decode.yaml").read_text(encoding="utf-8")),
    "audit": yaml.safe_load((RECIPE_CONF / "audit.yaml").read_text(encoding="utf-8")),
}


def write_config(tmp_path: Path, kind: str, data) -> Path:
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_an_unknown_config_key_names_file_key_and_the_known_keys(kind, asr, tmp_path, model_dir):
    config = write_config(tmp_path, kind, {**VALID_CONFIGS[kind], "sead": 1})
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0],
                f"{config}: unknown config key 'sead' for {CONFIG_CLASSES[kind]} (expected one of: ")
    assert listing(tmp_path / "out") == set()


#: A nested unknown key in each config kind that has nested sections -> (data, where the error must point).
NESTED = {
    "corpus": ({"groups": {"mandarin": {"speakers": {"train": 1, "dev": 1, "test": 1}, "train_utterance": 3}}},
               "groups.mandarin", "'train_utterance'"),
    "train": ({**TINY_TRAIN, "model": {"encoder": "conformer", "conformer": {"d_model": 16, "num_layer": 1}}},
              "model: conformer", "'num_layer'"),
    "train_optimizer": ({**TINY_TRAIN, "optimizer": {"learning_rate": 0.1}}, "optimizer", "'learning_rate'"),
}


@pytest.mark.parametrize("case", NESTED)
def test_a_nested_unknown_key_names_its_section(case, asr, tmp_path, model_dir):
    data, section, key = NESTED[case]
    kind = case.split("_")[0]
    config = write_config(tmp_path, kind, data)
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0], str(config), section,
                f"unknown config key {key}")


#: Config kind -> (a bad value, the error line's tail after the file name).
WRONG_VALUES = {
    "corpus": ({"seed": "zero"}, ": seed: expected int, got 'zero'"),
    "features": ({"num_mel_bins": "80"}, ": num_mel_bins: expected int, got '80'"),
    "train": ({**TINY_TRAIN, "schedule": {"kind": "linear"}}, ": schedule: kind: expected one of 'cosine', 'noam', 'constant', got 'linear'"),
    "decode": ({"beam_size": "wide"}, ": beam_size: expected int, got 'wide'"),
    "audit": ({"replicates": 5}, ": replicates must be >= 10, got 5"),
}


def test_a_corpus_config_with_an_unknown_dialect_group_lists_the_known_ones(asr, tmp_path, model_dir):
    config = write_config(tmp_path, "corpus", {"groups": {"klingon": {"speakers": {"train": 1}, "train_utterances": 1}}})
    check_error(asr(*config_argv("corpus", config, tmp_path, model_dir)), "prepare",
                f"{config}: unknown dialect group 'klingon'; expected one of: mandarin, ")
    assert listing(tmp_path / "out") == set()


def test_train_on_stored_features_names_a_plain_manifest(asr, tmp_path, model_dir):
    config = write_config(tmp_path, "train", {**TINY_TRAIN, "inputs": {"source": "stored"}})
    check_error(asr(*config_argv("train", config, tmp_path, model_dir)), "train",
                f"{tmp_path / 'test.jsonl'}: inputs.source is 'stored' but this is not a feature manifest "
                "(run `asr features`, or set inputs.source: audio)")


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_a_config_value_of_the_wrong_type_names_file_and_key(kind, asr, tmp_path, model_dir):
    data, tail = WRONG_VALUES[kind]
    config = write_config(tmp_path, kind, data)
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0], f"{config}{tail}")


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_invalid_yaml_and_a_missing_config_name_the_file(kind, asr, tmp_path, model_dir):
    config = write_config(tmp_path, kind, "seed: [1,\n")
    command = config_argv(kind, config, tmp_path, model_dir)[0]
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command, f"{config}: invalid YAML at line ")
    config = write_config(tmp_path, kind, "- a list\n- not a mapping\n")
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command,
                f"{config}: expected a YAML mapping of config keys, got list")
    config.unlink()
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command, f"{config}: config file not found")


# ----------------------------------------------------------------------------- model directories


def model_argv(command: str, model: Path, tmp_path: Path) -> list:
    wav = write_tone(tmp_path / "audio" / "good.wav")
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, [utt("u1", "audio/good.wav")])
    return {
        "decode": ["decode", "--model", model, "--manifests", manifest, "--output-dir", tmp_path / "out"],
        "transcribe": ["transcribe", "--model", model, wav],
        "export": ["export", "--model", model],
        "audit": ["audit", "--model", model, "--results", results_file(tmp_path / "decode"),
                  "--output-dir", tmp_path / "out", "--release", "r1", "--replicates", 10, "--permutations", 10],
    }[command]


MODEL_COMMANDS = ["decode", "transcribe", "export", "audit"]


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_a_missing_model_dir_is_one_error_naming_it(command, asr, tmp_path):
    model = tmp_path / "exp" / "model"
    r = asr(*model_argv(command, model, tmp_path))
    check_error(r, command, str(model))
    assert "not found" in r.lines[0] or "no model" in r.lines[0]
    assert listing(tmp_path / "out") == set()


#: A way of breaking a model directory -> what the error line must say (after the directory's name).
BROKEN_MODELS = {
    "no_weights": ("model.safetensors", None, ": missing model.safetensors (the model directory is incomplete)"),
    "no_config": ("config.yaml", None, ": missing config.yaml (the save was interrupted or this is not a model directory)"),
    "text_weights": ("model.safetensors", "not weights\n", "/model.safetensors: unreadable weights"),
    "bad_yaml_config": ("config.yaml", "format: [\n", "/config.yaml: invalid YAML"),
    "foreign_config": ("config.yaml", "format: something-else\n", "/config.yaml: expected format"),
    "short_tokens": ("tokens.txt", "<blank> 0\n<unk> 1\n", "/tokens.txt: 2 tokens, but config.yaml says"),
    "bad_summary": ("data_summary.json", "{not json", "/data_summary.json: invalid JSON"),
}


@pytest.mark.parametrize("broken", BROKEN_MODELS)
@pytest.mark.parametrize("command", ["decode", "transcribe", "export"])
def test_a_broken_model_dir_is_one_error_naming_the_file(command, broken, asr, tmp_path, model_dir):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    name, content, tail = BROKEN_MODELS[broken]
    if content is None:
        (model / name).unlink()
    else:
        (model / name).write_text(content, encoding="utf-8")
    r = asr(*model_argv(command, model, tmp_path))
    check_error(r, command, f"{model}{tail}")
    assert listing(tmp_path / "out") == set()
    assert not (model / "model.onnx").exists()


def test_transcribe_without_a_model_says_how_to_make_one(asr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASR_MODEL", raising=False)
    wav = write_tone(tmp_path / "a.wav")
    r = asr("transcribe", wav)
    check_error(r, "transcribe", "no model at recipes/dialect/exp/baseline/model (the default)",
                "bash recipes/dialect/run.sh --stop-stage 3", "--model DIR")


@pytest.mark.parametrize("content,fragment", [(None, "not found"), ("", "not a valid language model file"),
                                              ("{not json", "not a valid language model file"),
                                              ("\\data\\\nngram 1=x\n", "not a valid language model file")])
@pytest.mark.parametrize("command", ["decode", "transcribe"])
def test_a_missing_or_corrupt_lm_file_is_one_error_naming_it(command, content, fragment, asr, tmp_path, model_dir):
    lm = tmp_path / ("lm.arpa" if content and content.startswith("\\data") else "lm.json")
    if content is not None:
        lm.write_text(content, encoding="utf-8")
    argv = model_argv(command, model_dir, tmp_path) + ["--lm", lm, "--beam-size", 2]
    r = asr(*argv)
    check_error(r, command, str(lm), fragment)
    assert listing(tmp_path / "out") == set()


def test_train_init_from_a_missing_checkpoint_dir_is_one_error(asr, tmp_path):
    config = write_config(tmp_path, "train", {**TINY_TRAIN, "model": {"encoder": "wav2vec2"}})
    argv = config_argv("train", config, tmp_path, tmp_path) + ["--init", tmp_path / "nowhere"]
    check_error(asr(*argv), "train", f"{tmp_path / 'nowhere'} is not a directory (expected a local Hugging Face checkpoint)")


# ----------------------------------------------------------------------------- score and audit inputs


def transcripts(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


#: Bad reference file -> (content, the error line after the file name).
BAD_TRANSCRIPTS = {
    "empty": ("", ": transcript file is empty"),
    "trn_then_kaldi": ("打开空调 (u1)\nu2 关闭车窗\n", ":2: expected a trn line 'text (id)'"),
    "duplicate_id": ("u1 打开空调\nu1 关闭车窗\n", ":2: duplicate utterance id 'u1'"),
}


@pytest.mark.parametrize("kind", BAD_TRANSCRIPTS)
def test_score_names_the_reference_file_and_line(kind, asr, tmp_path):
    content, tail = BAD_TRANSCRIPTS[kind]
    ref = transcripts(tmp_path, "ref.txt", content)
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp, "--per-utt", tmp_path / "out" / "utt.jsonl"),
                "score", f"{ref}{tail}")
    assert listing(tmp_path / "out") == set()


def test_score_missing_and_non_utf8_files_are_one_error(asr, tmp_path):
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\n")
    check_error(asr("score", "--ref", tmp_path / "none.txt", "--hyp", hyp), "score",
                f"{tmp_path / 'none.txt'}: transcript file not found")
    ref = tmp_path / "ref.txt"
    ref.write_bytes("u1 打开空调\n".encode("gbk"))
    check_error(asr("score", "--ref", ref, "--hyp", hyp), "score", f"{ref}: not UTF-8 text")


def test_score_names_a_hypothesis_without_reference(asr, tmp_path):
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\nu9 关闭车窗\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp), "score",
                f"{hyp}: 1 hypothesis id(s) not in the references, e.g. 'u9'")


def test_score_names_an_utt2spk_line_without_speaker(asr, tmp_path):
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\nu2 关闭车窗\n")
    utt2spk = transcripts(tmp_path, "utt2spk", "u1 s1\nu2\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp, "--utt2spk", utt2spk), "score", f"{utt2spk}:2: ", "speaker")


#: Bad results file (line 2 of 12 broken, or all of it) -> (a function of the rows, the error line's tail).
BAD_RESULTS = {
    "bad_json": (lambda lines: lines[:1] + ['{"id": "u1", '] + lines[2:], ":2: malformed results line"),
    "not_object": (lambda lines: lines[:1] + ["[1, 2]"] + lines[2:], ":2: expected a JSON object, got list"),
    "sub_not_a_number": (lambda lines: lines[:1] + [lines[1].replace('"sub": 0', '"sub": "zero"')] + lines[2:],
                         ": field 'sub' must be a number, got 'zero'"),
    "no_counts_no_texts": (lambda lines: lines[:1] + [json.dumps({"id": "u1", "speaker": "s1", "dialect": "wu"})]
                           + lines[2:], ": utterance u1: ref and hyp must be strings to score"),
    "no_speaker": (lambda lines: [json.dumps({k: v for k, v in json.loads(line).items() if k != "speaker"})
                                  for line in lines], ": results rows have no 'speaker' field"),
    "duplicate_id": (lambda lines: lines + lines[:1], ": duplicate utterance id 'u0'"),
    "empty": (lambda lines: [], ": results file has no utterances"),
}


@pytest.mark.parametrize("kind", BAD_RESULTS)
def test_audit_names_the_results_file_and_what_is_wrong(kind, asr, tmp_path):
    results = results_file(tmp_path / "decode")
    edit, tail = BAD_RESULTS[kind]
    lines = edit(results.read_text(encoding="utf-8").splitlines())
    results.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    r = asr("audit", "--results", results, "--output-dir", tmp_path / "out", "--release", "r1",
            "--replicates", 10, "--permutations", 10)
    check_error(r, "audit", f"{results}{tail}")
    assert listing(tmp_path / "out") == set()


@pytest.mark.parametrize("argv,fragment", [
    (["--by", "dialekt"], "no field 'dialekt' to group by"),
    (["--by", "accent"], "no utterance has accent"),
    (["--fail-if", "worst_group_cer >> 0.1"], "worst_group_cer >> 0.1"),
    (["--results", "missing.jsonl"], "missing.jsonl: results file not found (expected asr decode's results-*.jsonl)"),
])
def test_audit_bad_options_are_one_error(argv, fragment, asr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = results_file(tmp_path / "decode")
    base = ["audit", "--results", results, "--output-dir", "out", "--release", "r1", "--replicates", 10,
            "--permutations", 10]
    r = asr(*base[:1], *(argv if argv[0] == "--results" else base[1:3]), *base[3:],
            *([] if argv[0] == "--results" else argv))
    check_error(r, "audit", fragment)
    assert listing(tmp_path / "out") == set()


# ----------------------------------------------------------------------------- interrupted writes


def interrupt_argv(command: str, tmp_path: Path, model_dir: Path) -> list:
    """argv of a command that writes under ``tmp_path / 'out'``, with valid inputs."""
    import shutil

    manifest = tmp_path / "test.jsonl"
    wav = write_tone(tmp_path / "audio" / "good.wav")
    write_tone(tmp_path / "audio" / "other.wav", seconds=0.7)
    write_manifest(manifest, [utt("u1", "audio/good.wav"), utt("u2", "audio/other.wav", seconds=0.7, speaker="s2")])
    out = tmp_path / "out"
    if command == "export":
        shutil.copytree(model_dir, out / "model")
    if command == "prepare kaldi":
        data = kaldi_dir(tmp_path)
    train_config = write_config(tmp_path, "train", TINY_TRAIN)
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空\nu2 关闭车窗\n")
    return {
        "manifest merge": ["manifest", "merge", manifest, "--output", out / "merged.jsonl"],
        "manifest shard": ["manifest", "shard", manifest, "--output-dir", out, "--num-shards", 2],
        "manifest export-kaldi": ["manifest", "export-kaldi", manifest, out / "kaldi"],
        "prepare kaldi": ["prepare", "kaldi", "--corpus-dir", data if command == "prepare kaldi" else "",
                          "--output-dir", out],
        "features": ["features", "--manifests", manifest, "--output-dir", out, "--no-progress", "--cmvn-from", "test"],
        "lm": ["lm", "--manifest", manifest, "--output", out / "lm.arpa"],
        "decode": ["decode", "--model", model_dir, "--manifests", manifest, "--output-dir", out],
        "transcribe": ["transcribe", "--model", model_dir, "--output-dir", out, "--format", "json", wav],
        "score": ["score", "--ref", ref, "--hyp", hyp, "--per-utt", out / "utt.jsonl"],
        "audit": ["audit", "--results", results_file(tmp_path / "decode"), "--output-dir", out, "--release", "r1",
                  "--replicates", 10, "--permutations", 10],
        "train": ["train", "--config", train_config, "--train-manifest", manifest, "--exp-dir", out,
                  "--no-progress", "--device", "cpu"],
        "export": ["export", "--model", out / "model"],
    }[command]


INTERRUPTIBLE = ["manifest merge", "manifest shard", "manifest export-kaldi", "prepare kaldi", "features", "lm",
                 "decode", "transcribe", "score", "audit", "train", "export"]


def interrupt_nth_replace(monkeypatch, n: int) -> list:
    """Make the ``n``-th ``os.replace`` (the atomic rename into place) raise KeyboardInterrupt."""
    calls = []
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.parametrize("command", INTERRUPTIBLE)
def test_an_interrupted_command_leaves_nothing_that_looks_complete(command, asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv(command, tmp_path, model_dir)
    before = listing(tmp_path / "out")
    calls = interrupt_nth_replace(monkeypatch, 1)
    r = asr(*argv)
    assert calls, "the command wrote nothing through an atomic rename"
    assert r.uncaught is None and r.code == EXIT_INTERRUPTED, str(r)
    assert r.lines == [f"asr {command.split()[0]}: interrupted"], str(r)
    after = listing(tmp_path / "out")
    if command == "train":  # checkpoints and logs may stay; the model directory must not look complete
        assert "model/config.yaml" not in after
    else:
        assert after == before, f"left behind: {sorted(after - before)}"


def test_decode_interrupted_between_its_two_files_leaves_no_results_without_meta(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("decode", tmp_path, model_dir)
    calls = interrupt_nth_replace(monkeypatch, 2)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and len(calls) == 2, str(r)
    out = tmp_path / "out"
    assert not ((out / "results-test.jsonl").exists() and not (out / "results-test.meta.json").exists()), \
        "a results file without its meta.json looks complete to asr audit (which then assumes the default normalisation)"


def test_audit_interrupted_midway_leaves_no_report_that_looks_complete(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("audit", tmp_path, model_dir)
    calls = interrupt_nth_replace(monkeypatch, 2)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED, str(r)
    left = listing(tmp_path / "out")
    assert not left or not (tmp_path / "out" / "r1" / "fairness.html").exists(), \
        f"interrupted after {calls[0]}, left {sorted(left)}"


def test_merge_interrupted_mid_write_leaves_no_output(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("manifest merge", tmp_path, model_dir)
    real, seen = Utterance.to_json, []

    def to_json(self):
        seen.append(self.id)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Utterance, "to_json", to_json)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and r.lines == ["asr manifest: interrupted"], str(r)
    assert listing(tmp_path / "out") == set()


def test_features_interrupted_mid_split_write_no_feature_manifest(asr, tmp_path, model_dir, monkeypatch):
    import asr.features.store as store

    argv = interrupt_argv("features", tmp_path, model_dir) + ["--shard-size", 1]
    real, calls = store.compute_features, []

    def compute(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "compute_features", compute)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and r.lines == ["asr features: interrupted"], str(r)
    left = listing(tmp_path / "out")
    assert "test.jsonl" not in left and "cmvn.json" not in left
    assert not [f for f in left if f.endswith(".tmp")], sorted(left)


# ----------------------------------------------------------------------------- --debug and the real console


def test_debug_shows_the_traceback_of_a_user_error(asr, tmp_path):
    manifest = malformed_manifest(tmp_path, "bad_json")
    r = asr("--debug", "manifest", "stats", manifest)
    assert r.code == 1 and r.lines[0] == "Traceback (most recent call last):", str(r)
    assert r.lines[-1].startswith(f"asr manifest: error: {manifest}:2: malformed manifest line")


def test_the_console_script_prints_one_line_and_exits_1(tmp_path):
    manifest = malformed_manifest(tmp_path, "wrong_type")
    proc = subprocess.run([sys.executable, "-m", "asr", "manifest", "merge", str(manifest), "--output",
                           str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"asr manifest: error: {manifest}:2: utterance u2: field 'duration' must be a "
                           f"non-negative number of seconds, got 'long'\n")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_closed_stdout_is_no_traceback(tmp_path):
    """``asr score ... | head -1``: the reader goes away; the command must not print a BrokenPipeError traceback."""
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    proc = subprocess.Popen([sys.executable, "-m", "asr", "score", "--ref", str(ref), "--hyp", str(ref)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the interpreter has started: its first write finds no reader
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
