"""Valid and bad inputs for the CLI tests: audio files, manifests, Kaldi data dirs, configs, results."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from asr.manifest.records import Utterance, write_manifest
from conftest import write_tone

RATE = 16000


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


def bad_audio_manifest(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A manifest of one good and one bad utterance (id ``bad``); returns (manifest, bad audio)."""
    write_tone(tmp_path / "audio" / "good.wav", seconds=0.5)
    bad = make_bad_audio(tmp_path / "audio", kind)
    rate = 4000 if kind == "rate4k" else RATE
    path = tmp_path / "test.jsonl"
    write_manifest(path, [utt("good", "audio/good.wav"), utt("bad", "audio/bad.wav", rate=rate)])
    return path, bad


#: Malformed manifest line -> what the error must say (the line is line 2 of the manifest).
BAD_LINES = {
    "bad_json": ('{"id": "u2", "audio": "a.wav", ', "malformed manifest line"),
    "not_object": ('["u2", "a.wav"]', "expected a JSON object, got list"),
    "missing_fields": ('{"id": "u2", "audio": "audio/good.wav"}', "utterance u2: missing field(s) duration, sample_rate, text, speaker"),
    "wrong_type": ('{"id": "u2", "audio": "audio/good.wav", "duration": "long", "sample_rate": 16000, "text": "打开", '
                   '"speaker": "s1"}', "utterance u2: field 'duration' must be a finite, non-negative number of seconds"),
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


TINY_TRAIN = {
    "model": {"encoder": "conformer", "conformer": {"d_model": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32,
                                                     "conv_kernel": 3, "dropout": 0.0, "subsampling_channels": 4}},
    "inputs": {"source": "audio", "features": {"num_mel_bins": 23}},
    "max_steps": 1, "log_every": 1, "valid_every": 1, "checkpoint_every": 1, "average": {"num": 1},
}


def write_config(tmp_path: Path, kind: str, data) -> Path:
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data, encoding="utf-8")
    return path


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


def transcripts(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
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
